//! Docker's disk use: images, containers, volumes, build cache, what is reclaimable
//! (`docker system df`), and the free space of the Docker root.

use bollard::models::{ContainerSummaryStateEnum, SystemDataUsageResponse};
use serde::Serialize;

use super::human_bytes;
use crate::docker::{Endpoint, Engine};
use crate::fs::FsUsage;
use crate::checks::{grade, step, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Size of one kind of object.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Category {
    /// Objects.
    pub count: u64,
    /// Objects in use (by a container, or running).
    pub active: u64,
    /// Bytes.
    pub size_bytes: u64,
    /// Bytes a prune would free.
    pub reclaimable_bytes: u64,
}

/// `docker system df`, plus the filesystem of the Docker root.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DiskUsage {
    /// Images.
    pub images: Category,
    /// Containers' writable layers.
    pub containers: Category,
    /// Local volumes.
    pub volumes: Category,
    /// Build cache.
    pub build_cache: Category,
    /// The engine's data folder (`DockerRootDir`).
    pub root_dir: Option<String>,
    /// Its filesystem, when it is on this machine.
    pub root_fs: Option<FsUsage>,
    /// Why its filesystem was not measured, when it was not.
    pub root_unmeasured: Option<RootUnmeasured>,
}

/// Why the free space of the Docker root was not measured.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RootUnmeasured {
    /// The engine is reached over TCP: its root is on another machine.
    Remote,
    /// `docker info` failed, so the root folder is unknown.
    InfoFailed {
        /// The engine's error.
        error: String,
    },
    /// `docker info` named no root folder.
    NoRootDir,
    /// The folder cannot be measured from here (missing, unreadable).
    Unreadable {
        /// Why.
        error: String,
    },
}

fn size(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// Sums a `/system/df` answer as `docker system df` does.
#[must_use]
pub fn summarise(df: &SystemDataUsageResponse) -> DiskUsage {
    let mut u = DiskUsage::default();
    let images = df.images.as_deref().unwrap_or_default();
    let used_by_containers: u64 =
        images.iter().filter(|i| i.containers > 0 && i.shared_size >= 0).map(|i| size(i.size - i.shared_size)).sum();
    u.images = Category {
        count: images.len() as u64,
        active: images.iter().filter(|i| i.containers > 0).count() as u64,
        size_bytes: df.layers_size.map_or_else(|| images.iter().map(|i| size(i.size)).sum(), size),
        reclaimable_bytes: 0,
    };
    u.images.reclaimable_bytes = u.images.size_bytes.saturating_sub(used_by_containers);
    for c in df.containers.as_deref().unwrap_or_default() {
        let running = matches!(c.state, Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::PAUSED | ContainerSummaryStateEnum::RESTARTING));
        let s = size(c.size_rw.unwrap_or(0));
        u.containers.count += 1;
        u.containers.size_bytes += s;
        if running {
            u.containers.active += 1;
        } else {
            u.containers.reclaimable_bytes += s;
        }
    }
    for v in df.volumes.as_deref().unwrap_or_default() {
        let (s, refs) = v.usage_data.as_ref().map_or((0, 0), |d| (size(d.size), d.ref_count));
        u.volumes.count += 1;
        u.volumes.size_bytes += s;
        if refs > 0 {
            u.volumes.active += 1;
        } else {
            u.volumes.reclaimable_bytes += s;
        }
    }
    for b in df.build_cache.as_deref().unwrap_or_default() {
        if b.shared.unwrap_or(false) {
            continue;
        }
        let s = size(b.size.unwrap_or(0));
        u.build_cache.count += 1;
        u.build_cache.size_bytes += s;
        if b.in_use.unwrap_or(false) {
            u.build_cache.active += 1;
        } else {
            u.build_cache.reclaimable_bytes += s;
        }
    }
    u
}

/// Cleaning steps of the guide (Démarrage P3); the prune deletes data.
pub const CLEAN: &[Step] = &[
    step!("See what Docker uses", "Voir ce que Docker occupe", guide = "Démarrage P3", cmd = "docker system df && df -h"),
    step!("Remove dangling images", "Supprimer les images orphelines", guide = "Démarrage P3", cmd = "docker image prune", destructive = true),
    step!("Remove ALL unused images, containers and volumes (volumes hold data: read twice)", "Supprimer TOUS les images, conteneurs et volumes inutilisés (les volumes contiennent des données : relire deux fois)", guide = "Démarrage P3", cmd = "docker system prune -a --volumes", destructive = true),
    step!("Trim the system journal", "Réduire le journal système", guide = "Démarrage P3", cmd = "sudo journalctl --vacuum-time=3d", destructive = true),
    step!("Extend the disk if cleaning is not enough", "Étendre le disque si le nettoyage ne suffit pas", guide = "Démarrage P3"),
];

/// `/system/df`, waiting (up to 10 s, within the check's own deadline) while the engine runs
/// another one: it serves one at a time and answers the others "a disk usage operation is
/// already running", which is a concurrent run (a scrape beside a timer), not a fault.
async fn system_df(e: &Engine) -> Result<SystemDataUsageResponse, bollard::errors::Error> {
    let mut waited = 0;
    loop {
        match e.docker.df(None).await {
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) if message.contains("already running") && waited < 100 => {
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Gathers `docker system df` and the free space of the Docker root (when the engine is local).
///
/// # Errors
/// The `/system/df` request failed.
pub async fn gather(e: &Engine) -> Result<DiskUsage, crate::docker::DaemonError> {
    let df = system_df(e).await.map_err(|err| e.explain(&err))?;
    let mut usage = summarise(&df);
    let info = match e.docker.info().await {
        Ok(info) => info,
        Err(err) => {
            usage.root_unmeasured = Some(RootUnmeasured::InfoFailed { error: e.explain(&err).describe(e.lang) });
            return Ok(usage);
        }
    };
    usage.root_dir = info.docker_root_dir.filter(|d| !d.is_empty());
    usage.root_unmeasured = match (&usage.root_dir, &e.endpoint) {
        (None, _) => Some(RootUnmeasured::NoRootDir),
        (Some(_), Endpoint::Tcp(_)) => Some(RootUnmeasured::Remote),
        (Some(root), Endpoint::Unix(_)) => {
            let paths = vec![std::path::PathBuf::from(root)];
            match tokio::task::spawn_blocking(move || crate::fs::filesystems(&paths)).await {
                Ok((fss, unmeasured)) => {
                    usage.root_fs = fss.into_iter().next();
                    let why = unmeasured.into_iter().next().map_or_else(|| "?".to_owned(), |u| u.reason);
                    usage.root_fs.is_none().then_some(RootUnmeasured::Unreadable { error: why })
                }
                Err(err) => Some(RootUnmeasured::Unreadable { error: err.to_string() }),
            }
        }
    };
    Ok(usage)
}

/// What to look at when the engine will not say where its data is.
const INFO_STEPS: &[Step] = &[
    step!("Read the engine's state", "Lire l'état du moteur", guide = "Démarrage P2", cmd = "docker info"),
    step!("Read the engine's log", "Lire le journal du moteur", guide = "Démarrage P2", cmd = "sudo journalctl -u docker --since -1h"),
];

/// Judges the Docker root's filesystem (thresholds of `[system]`) and reports the sizes.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_disk(u: &DiskUsage, warn: f64, crit: f64, lang: Lang) -> Outcome {
    let cats = [("images", &u.images), ("containers", &u.containers), ("volumes", &u.volumes), ("build_cache", &u.build_cache)];
    let total: u64 = cats.iter().map(|(_, c)| c.size_bytes).sum();
    let reclaimable: u64 = cats.iter().map(|(_, c)| c.reclaimable_bytes).sum();
    let mut o = Outcome::ok(String::new());
    for (name, c) in cats {
        o = o
            .metric(Metric::new(format!("{name}_size"), c.size_bytes as f64, "B"))
            .metric(Metric::new(format!("{name}_reclaimable"), c.reclaimable_bytes as f64, "B"));
    }
    let sizes = tr!(
        lang,
        "Docker uses {} (images {}, containers {}, volumes {}, build cache {}), {} reclaimable",
        "Docker occupe {} (images {}, conteneurs {}, volumes {}, cache de build {}), {} récupérables",
        human_bytes(total),
        human_bytes(u.images.size_bytes),
        human_bytes(u.containers.size_bytes),
        human_bytes(u.volumes.size_bytes),
        human_bytes(u.build_cache.size_bytes),
        human_bytes(reclaimable)
    );
    let root = u.root_dir.as_deref().unwrap_or("?");
    o.summary = match &u.root_fs {
        Some(fs) => {
            let pct = fs.used_pct.max(fs.inodes_used_pct);
            o.status = grade(pct, warn, crit);
            o = o
                .metric(Metric::new("root_used", fs.used_pct, "%").thresholds(warn, crit).range(0.0, 100.0))
                .metric(Metric::new("root_inodes_used", fs.inodes_used_pct, "%").thresholds(warn, crit).range(0.0, 100.0))
                .metric(Metric::new("root_available", fs.available_bytes as f64, "B"));
            tr!(
                lang,
                "{sizes}; {root}: {}% used, {} free, inodes {}% used",
                "{sizes} ; {root} : {} % utilisé, {} libres, inodes {} % utilisés",
                fs.used_pct,
                human_bytes(fs.available_bytes),
                fs.inodes_used_pct
            )
        }
        None => {
            let why = match &u.root_unmeasured {
                None | Some(RootUnmeasured::Remote) => None,
                Some(RootUnmeasured::InfoFailed { error }) => {
                    Some(tr!(lang, "`docker info` failed, so its folder is unknown: {error}", "`docker info` a échoué, son dossier est donc inconnu : {error}"))
                }
                Some(RootUnmeasured::NoRootDir) => Some(tr!(lang, "`docker info` names no root folder", "`docker info` ne nomme aucun dossier racine")),
                Some(RootUnmeasured::Unreadable { error }) => Some(tr!(lang, "{root} cannot be read here ({error})", "{root} illisible d'ici ({error})")),
            };
            match why {
                None => tr!(
                    lang,
                    "{sizes}; free space of {root} not measured (the engine is not on this machine)",
                    "{sizes} ; espace libre de {root} non mesuré (le moteur n'est pas sur cette machine)"
                ),
                Some(why) => {
                    // The measurement this check grades is missing: undecided, not ok.
                    o.status = Status::Unknown;
                    o = o.remedies(INFO_STEPS, lang);
                    tr!(lang, "{sizes}; free space of the Docker root not measured: {why}", "{sizes} ; espace libre de la racine Docker non mesuré : {why}")
                }
            }
        }
    };
    if matches!(o.status, Status::Warning | Status::Critical) {
        o = o.remedies(CLEAN, lang);
    }
    o.details(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerSummary, ImageSummary, Volume, VolumeUsageData};

    #[test]
    fn sums_like_docker_system_df() {
        let img = |size, containers| ImageSummary { size, shared_size: 0, containers, ..Default::default() };
        let df = SystemDataUsageResponse {
            layers_size: Some(300),
            images: Some(vec![img(100, 1), img(200, 0)]),
            containers: Some(vec![
                ContainerSummary { size_rw: Some(10), state: Some(ContainerSummaryStateEnum::RUNNING), ..Default::default() },
                ContainerSummary { size_rw: Some(5), state: Some(ContainerSummaryStateEnum::EXITED), ..Default::default() },
            ]),
            volumes: Some(vec![Volume { usage_data: Some(VolumeUsageData { size: 50, ref_count: 0 }), ..Default::default() }]),
            build_cache: None,
        };
        let u = summarise(&df);
        assert_eq!(u.images, Category { count: 2, active: 1, size_bytes: 300, reclaimable_bytes: 200 });
        assert_eq!(u.containers.reclaimable_bytes, 5);
        assert_eq!(u.volumes.reclaimable_bytes, 50);
        let mut full = u.clone();
        full.root_fs = Some(FsUsage { paths: vec!["/var/lib/docker".into()], total_bytes: 100, available_bytes: 1, used_pct: 99.0, total_inodes: 10, inodes_used_pct: 1.0 });
        let o = evaluate_disk(&full, 85.0, 95.0, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.remediation.iter().any(|r| r.destructive && r.command.as_deref() == Some("docker system prune -a --volumes")));
        assert_eq!(evaluate_disk(&u, 85.0, 95.0, Lang::En).status, Status::Ok);
    }

    #[test]
    fn unmeasured_root_is_not_ok() {
        let mut u = DiskUsage { root_unmeasured: Some(RootUnmeasured::Remote), root_dir: Some("/var/lib/docker".into()), ..Default::default() };
        let o = evaluate_disk(&u, 85.0, 95.0, Lang::En);
        assert_eq!(o.status, Status::Ok, "a remote engine's root is not this machine's to measure");
        assert!(o.summary.contains("not on this machine"), "{}", o.summary);
        u.root_dir = None;
        u.root_unmeasured = Some(RootUnmeasured::InfoFailed { error: "HTTP 500: boom".into() });
        let o = evaluate_disk(&u, 85.0, 95.0, Lang::Fr);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.summary.contains("espace libre de la racine Docker non mesuré : `docker info` a échoué") && o.summary.contains("HTTP 500: boom"), "{}", o.summary);
        assert!(o.remediation.iter().all(|r| !r.destructive), "no prune for a measurement that failed: {:#?}", o.remediation);
        assert_eq!(o.details["root_unmeasured"]["cause"], "info_failed");
        u.root_unmeasured = Some(RootUnmeasured::Unreadable { error: "entity not found".into() });
        assert_eq!(evaluate_disk(&u, 85.0, 95.0, Lang::En).status, Status::Unknown);
    }
}
