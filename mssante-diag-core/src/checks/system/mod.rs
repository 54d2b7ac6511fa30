//! The host: filesystems of the data, Docker and database folders (guide: Démarrage P3,
//! Performance P3), listeners on the platform's ports (Démarrage P1), the clock (Auth P2),
//! load and memory (Performance), I/O errors of the kernel (Stockage P2).

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;

use super::{grade, step, CheckDef, Ctx, Outcome};
use crate::fs::{filesystems, FsUsage, Unmeasured};
use crate::model::{Metric, Status};
use crate::tr;

pub mod clock;
pub mod kernlog;
pub mod ports;
pub mod resources;
mod settings;
pub use clock::{evaluate_clock, read_clock, ClockState};
pub use kernlog::{evaluate_io_errors, scan_file, scan_kmsg, IoErrors};
pub use ports::{evaluate_ports, listeners, Listener, Listeners, Owner, PortState};
pub use resources::{evaluate_resources, read_resources, ResourceLimits, Resources};
pub use settings::{ExpectedPort, Settings, DEFAULT_IO_ERROR_PATTERNS};

/// The `system.*` checks keep no per-run state.
pub type State = ();

/// The `system.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "system.disk",
    title_en: "Space and inodes of the data, Docker and database filesystems",
    title_fr: "Espace et inodes des systèmes de fichiers des données, de Docker et de la base",
    guide: "Démarrage P3, Performance P3",
    quick: true,
    remedy: &[
        step!("Find the largest folders", "Trouver les plus gros dossiers", guide = "Performance P3", cmd = "du -sh data/* | sort -h"),
        step!("Delete application logs older than 30 days", "Supprimer les logs de plus de 30 jours", guide = "Performance P3", cmd = "find data/logs -name '*.log' -mtime +30 -delete", destructive = true),
        step!("Remove unused Docker images, containers and volumes", "Supprimer les images, conteneurs et volumes Docker inutilisés", guide = "Démarrage P3", cmd = "docker system prune -a --volumes", destructive = true),
        step!("Extend the volume if cleaning is not enough", "Étendre le volume si le nettoyage ne suffit pas", guide = "Performance P3"),
    ],
    steps: 1,
    run: |ctx| disk(ctx).boxed(),
}, CheckDef {
    id: "system.ports",
    title_en: "Listeners on the platform's ports (80 443 25 587 143 3000 5432 6379): owner process, conflicts, free ports",
    title_fr: "Écoutes sur les ports de la plateforme (80 443 25 587 143 3000 5432 6379) : processus propriétaire, conflits, ports libres",
    guide: "Démarrage P1, Réseau P2",
    quick: false,
    remedy: ports::PORTS_STEPS,
    steps: 1,
    run: |ctx| ports::run(ctx).boxed(),
}, CheckDef {
    id: "system.clock",
    title_en: "Clock synchronised: kernel NTP state and maximum error",
    title_fr: "Horloge synchronisée : état NTP du noyau et erreur maximale",
    guide: "Auth P2",
    quick: false,
    remedy: clock::CLOCK_STEPS,
    steps: 1,
    run: |ctx| clock::run(ctx).boxed(),
}, CheckDef {
    id: "system.resources",
    title_en: "Host load against its CPUs, memory available, swap in use",
    title_fr: "Charge de l'hôte rapportée à ses CPU, mémoire disponible, swap utilisé",
    guide: "Performance P1",
    quick: false,
    remedy: resources::RESOURCES_STEPS,
    steps: 1,
    run: |ctx| resources::run(ctx).boxed(),
}, CheckDef {
    id: "system.io_errors",
    title_en: "I/O errors in the kernel log (failing disk, corrupt filesystem)",
    title_fr: "Erreurs d'E/S dans le journal du noyau (disque défaillant, système de fichiers corrompu)",
    guide: "Stockage P2",
    quick: false,
    remedy: kernlog::IO_ERRORS_STEPS,
    steps: 1,
    run: |ctx| kernlog::run(ctx).boxed(),
}];

/// Judges filesystems against the thresholds: the fullest decides. A configured path that
/// could not be measured is a finding (warning), and nothing measured at all is `unknown`.
#[must_use]
pub fn evaluate_disk(
    fss: &[FsUsage],
    unmeasured: &[Unmeasured],
    warn: f64,
    crit: f64,
    lang: crate::Lang,
) -> Outcome {
    let details = serde_json::json!({ "filesystems": fss, "unmeasured": unmeasured });
    let blind = unmeasured
        .iter()
        .map(|u| format!("{} ({})", u.path.display(), u.reason))
        .collect::<Vec<_>>()
        .join(", ");
    if fss.is_empty() {
        return Outcome::unknown(tr!(
            lang,
            "no configured path could be measured: {blind}",
            "aucun chemin configuré n'a pu être mesuré : {blind}"
        ))
        .details(details);
    }
    let mut status = Status::Ok;
    let mut worst: Option<(f64, &str, &FsUsage)> = None;
    let mut metrics = Vec::new();
    for fs in fss {
        let label = fs.paths[0].display().to_string();
        for (kind, pct) in [("space", fs.used_pct), ("inodes", fs.inodes_used_pct)] {
            status = status.worst(grade(pct, warn, crit));
            if worst.is_none_or(|(w, _, _)| pct > w) {
                worst = Some((pct, kind, fs));
            }
            metrics.push(
                Metric::new(format!("{kind}_used"), pct, "%")
                    .thresholds(warn, crit)
                    .range(0.0, 100.0)
                    .label("path", &label),
            );
        }
    }
    let (pct, kind, fs) = worst.expect("at least one filesystem");
    let path = fs.paths[0].display();
    let mut summary = match (status, kind) {
        (Status::Ok, _) => tr!(
            lang,
            "{} filesystem(s) fine, fullest {path} at {pct}%",
            "{} système(s) de fichiers corrects, le plus plein {path} à {pct} %",
            fss.len()
        ),
        (_, "inodes") => tr!(
            lang,
            "inodes {pct}% used on the filesystem of {path}",
            "inodes utilisés à {pct} % sur le système de fichiers de {path}"
        ),
        _ => tr!(
            lang,
            "disk {pct}% full on the filesystem of {path}",
            "disque plein à {pct} % sur le système de fichiers de {path}"
        ),
    };
    if !unmeasured.is_empty() {
        status = crate::access::blind_status(status, unmeasured.iter().map(|u| u.reason.as_str()));
        summary.push_str(&tr!(
            lang,
            "; not measured: {blind}",
            " ; non mesuré : {blind}"
        ));
    }
    let mut o = Outcome::new(status, summary).details(details);
    o.metrics = metrics;
    o
}

async fn disk(ctx: Arc<Ctx>) -> Outcome {
    let cfg = &ctx.config;
    let paths: Vec<PathBuf> = cfg
        .system
        .disk_paths
        .iter()
        .map(|p| cfg.project_path(p))
        .collect();
    // statvfs can block on a hung network filesystem: keep it off the async threads and under the timeout.
    let measured = ctx
        .step(tokio::task::spawn_blocking(move || filesystems(&paths)))
        .await;
    match measured {
        Ok(Ok((fss, unmeasured))) => evaluate_disk(
            &fss,
            &unmeasured,
            cfg.system.disk_warn_pct,
            cfg.system.disk_crit_pct,
            ctx.lang(),
        ),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(
            &tr!(
                ctx.lang(),
                "statvfs (hung filesystem?)",
                "statvfs (système de fichiers bloqué ?)"
            ),
            t,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(used: f64, inodes: f64) -> FsUsage {
        FsUsage {
            paths: vec!["/data".into()],
            total_bytes: 100,
            available_bytes: 10,
            used_pct: used,
            total_inodes: 10,
            inodes_used_pct: inodes,
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(
            evaluate_disk(&[fs(50.0, 10.0)], &[], 85.0, 95.0, crate::Lang::En).status,
            Status::Ok
        );
        assert_eq!(
            evaluate_disk(&[fs(90.0, 10.0)], &[], 85.0, 95.0, crate::Lang::En).status,
            Status::Warning
        );
        let o = evaluate_disk(&[fs(10.0, 99.0)], &[], 85.0, 95.0, crate::Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("inodes"), "{}", o.summary);
    }

    #[test]
    fn unmeasured_paths_are_findings() {
        let gone = [Unmeasured {
            path: "/srv/data".into(),
            reason: "entity not found".into(),
        }];
        let o = evaluate_disk(&[fs(10.0, 10.0)], &gone, 85.0, 95.0, crate::Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("/srv/data"), "{}", o.summary);
        assert_eq!(
            evaluate_disk(&[], &gone, 85.0, 95.0, crate::Lang::En).status,
            Status::Unknown
        );
    }
}
