//! The host: filesystems of the data, Docker and database folders (guide:
//! Démarrage P3, Performance P3).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;

use super::{grade, step, CheckDef, Ctx, Outcome};
use crate::model::{Metric, Status};
use crate::tr;

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
    run: |ctx| disk(ctx).boxed(),
}];

/// Usage of one filesystem.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FsUsage {
    /// Paths of the configuration on this filesystem.
    pub paths: Vec<PathBuf>,
    /// Total bytes.
    pub total_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// Used space, percent of what users can have (as `df` computes it).
    pub used_pct: f64,
    /// Total inodes (0 when the filesystem has none to report).
    pub total_inodes: u64,
    /// Used inodes, percent.
    pub inodes_used_pct: f64,
}

/// Measures the filesystems holding `paths` (one entry per filesystem; missing paths are left out).
///
/// # Errors
/// None for missing paths; they are returned in the second list.
#[must_use]
pub fn filesystems(paths: &[PathBuf]) -> (Vec<FsUsage>, Vec<PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<(u64, FsUsage)> = Vec::new();
    let mut missing = Vec::new();
    for p in paths {
        let Ok(meta) = std::fs::metadata(p) else {
            missing.push(p.clone());
            continue;
        };
        if let Some((_, fs)) = out.iter_mut().find(|(dev, _)| *dev == meta.dev()) {
            fs.paths.push(p.clone());
            continue;
        }
        match usage(p) {
            Some(u) => out.push((meta.dev(), u)),
            None => missing.push(p.clone()),
        }
    }
    (out.into_iter().map(|(_, u)| u).collect(), missing)
}

#[allow(clippy::cast_precision_loss)]
fn usage(p: &Path) -> Option<FsUsage> {
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    let frag = st.fragment_size();
    let total = st.blocks() * frag;
    let free = st.blocks_free() * frag;
    let avail = st.blocks_available() * frag;
    let used = total.saturating_sub(free);
    let used_pct = if used + avail == 0 { 0.0 } else { used as f64 * 100.0 / (used + avail) as f64 };
    let inodes = st.files();
    let inodes_used_pct = if inodes == 0 { 0.0 } else { (inodes - st.files_free()) as f64 * 100.0 / inodes as f64 };
    Some(FsUsage {
        paths: vec![p.to_path_buf()],
        total_bytes: total,
        available_bytes: avail,
        used_pct: (used_pct * 10.0).round() / 10.0,
        total_inodes: inodes,
        inodes_used_pct: (inodes_used_pct * 10.0).round() / 10.0,
    })
}

/// Judges filesystems against the thresholds: the fullest decides.
#[must_use]
pub fn evaluate_disk(fss: &[FsUsage], missing: &[PathBuf], warn: f64, crit: f64, lang: crate::Lang) -> Outcome {
    if fss.is_empty() {
        return Outcome::skipped(tr!(lang, "none of the configured paths exists", "aucun des chemins configurés n'existe"));
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
            metrics.push(Metric::new(format!("{kind}_used"), pct, "%").thresholds(warn, crit).range(0.0, 100.0).label("path", &label));
        }
    }
    let (pct, kind, fs) = worst.expect("at least one filesystem");
    let path = fs.paths[0].display();
    let summary = match (status, kind) {
        (Status::Ok, _) => tr!(lang, "{} filesystem(s) fine, fullest {path} at {pct}%", "{} système(s) de fichiers corrects, le plus plein {path} à {pct} %", fss.len()),
        (_, "inodes") => tr!(lang, "inodes {pct}% used on the filesystem of {path}", "inodes utilisés à {pct} % sur le système de fichiers de {path}"),
        _ => tr!(lang, "disk {pct}% full on the filesystem of {path}", "disque plein à {pct} % sur le système de fichiers de {path}"),
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "filesystems": fss, "missing_paths": missing }));
    o.metrics = metrics;
    o
}

async fn disk(ctx: Arc<Ctx>) -> Outcome {
    let cfg = &ctx.config;
    let paths: Vec<PathBuf> = cfg.system.disk_paths.iter().map(|p| cfg.project_path(p)).collect();
    // statvfs can block on a hung network filesystem: keep it off the async threads and under the timeout.
    let measured = ctx.step(tokio::task::spawn_blocking(move || filesystems(&paths))).await;
    match measured {
        Ok(Ok((fss, missing))) => evaluate_disk(&fss, &missing, cfg.system.disk_warn_pct, cfg.system.disk_crit_pct, ctx.lang()),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out("statvfs", t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(used: f64, inodes: f64) -> FsUsage {
        FsUsage { paths: vec!["/data".into()], total_bytes: 100, available_bytes: 10, used_pct: used, total_inodes: 10, inodes_used_pct: inodes }
    }

    #[test]
    fn thresholds() {
        assert_eq!(evaluate_disk(&[fs(50.0, 10.0)], &[], 85.0, 95.0, crate::Lang::En).status, Status::Ok);
        assert_eq!(evaluate_disk(&[fs(90.0, 10.0)], &[], 85.0, 95.0, crate::Lang::En).status, Status::Warning);
        let o = evaluate_disk(&[fs(10.0, 99.0)], &[], 85.0, 95.0, crate::Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("inodes"), "{}", o.summary);
    }
}
