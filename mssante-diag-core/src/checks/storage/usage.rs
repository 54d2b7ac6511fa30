//! `storage.usage`: what fills the disk (guide: Performance P3, "du -sh data/* | sort -h",
//! "find data/logs -name '*.log' -mtime +30", "gzip /backup/*.sql"): the size of each folder
//! of `data/`, the logs older than the retention and the space they hold, and the
//! uncompressed backups.
//!
//! One parallel walk (the `ignore` crate's walker, its filters off) over every folder of
//! `data/` and the log and backup folders outside it: symbolic links are not followed, no walk
//! leaves the filesystem of its starting folder, hard links are counted once, sizes are the
//! blocks allocated (as `du`). The walk stops at a deadline and the check then reports what it
//! had measured, saying it is partial.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::checks::{step, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, units, Lang};

/// Largest files kept per group (old logs, uncompressed backups).
const LARGEST: usize = 5;
/// Unreadable paths named at most.
const ERROR_SAMPLES: usize = 5;
/// Extensions of backups that are not compressed.
const UNCOMPRESSED: &[&str] = &["sql", "tar", "dump.sql"];

/// Steps of the check's deadline: the walk has one timeout, the check one more to conclude.
pub(super) const STEPS: u32 = 2;

/// Generic remedy of `storage.usage`.
pub(super) const USAGE_STEPS: &[Step] = &[
    step!(
        "Find the largest folders",
        "Trouver les plus gros dossiers",
        guide = "Performance P3",
        cmd = "du -sh {storage.usage_dir}/* | sort -h"
    ),
    step!(
        "Delete the logs older than the retention",
        "Supprimer les logs plus anciens que la rétention",
        guide = "Performance P3",
        cmd = "find {storage.log_dir} -name '*.log' -mtime +{storage.log_max_age_days} -delete",
        destructive = true
    ),
    step!(
        "Compress the old backups",
        "Compresser les anciennes sauvegardes",
        guide = "Performance P3",
        cmd = "gzip {storage.backup_dir}/*.sql"
    ),
    step!(
        "Move mail older than two years to archive storage",
        "Déplacer les e-mails de plus de deux ans vers un stockage d'archives",
        guide = "Performance P3"
    ),
];

/// What `storage.usage` measures, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSpec {
    /// The folder whose subfolders are sized (`data`).
    pub data: PathBuf,
    /// Log folders: files there older than `log_max_age` are reclaimable.
    pub log_dirs: Vec<PathBuf>,
    /// Age past which a log is reclaimable.
    pub log_max_age: Duration,
    /// Backup folders: uncompressed dumps there are reclaimable.
    pub backup_dirs: Vec<PathBuf>,
}

/// Size of one folder of `data/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderSize {
    /// The folder (`data/mail`), or `data` itself for the files directly in it.
    pub path: PathBuf,
    /// Bytes allocated (as `du`).
    pub bytes: u64,
    /// Files and folders in it.
    pub entries: u64,
}

/// One file of a reclaimable group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSize {
    /// The file.
    pub path: PathBuf,
    /// Bytes allocated.
    pub bytes: u64,
    /// Days since its last change.
    pub age_days: f64,
}

/// Files of one kind (old logs, uncompressed backups).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileGroup {
    /// How many.
    pub count: u64,
    /// Bytes they hold.
    pub bytes: u64,
    /// The largest ones.
    pub largest: Vec<FileSize>,
}

impl FileGroup {
    fn add(&mut self, f: FileSize) {
        self.count += 1;
        self.bytes += f.bytes;
        self.keep(f);
    }

    fn keep(&mut self, f: FileSize) {
        self.largest.push(f);
        self.largest.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        self.largest.truncate(LARGEST);
    }

    fn merge(&mut self, other: FileGroup) {
        self.count += other.count;
        self.bytes += other.bytes;
        for f in other.largest {
            self.keep(f);
        }
    }
}

/// What the walk measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageFacts {
    /// The folders of `data/`, largest first.
    pub folders: Vec<FolderSize>,
    /// Logs older than the retention.
    pub old_logs: FileGroup,
    /// Uncompressed backups.
    pub uncompressed_backups: FileGroup,
    /// Entries looked at.
    pub entries: u64,
    /// Entries that could not be read (permission).
    pub errors: u64,
    /// Some of them.
    pub error_samples: Vec<String>,
    /// The walk stopped at its deadline: the sizes are lower bounds.
    pub partial: bool,
    /// Folders configured that do not exist.
    pub absent: Vec<PathBuf>,
    /// Time the walk took, milliseconds.
    pub elapsed_ms: u64,
}

/// One walker thread's tallies, merged into the shared ones when the thread ends.
struct Tally {
    spec: Arc<UsageSpec>,
    now: SystemTime,
    deadline: Instant,
    folders: HashMap<OsString, FolderSize>,
    old_logs: FileGroup,
    backups: FileGroup,
    entries: u64,
    errors: u64,
    error_samples: Vec<String>,
    shared: Arc<Mutex<UsageFacts>>,
    links: Arc<Mutex<HashSet<(u64, u64)>>>,
    partial: Arc<AtomicBool>,
    /// Entries this thread visited (the clock is read every 256).
    seen: u64,
}

impl Tally {
    #[allow(clippy::cast_precision_loss)]
    fn entry(&mut self, e: &ignore::DirEntry) {
        let Ok(meta) = e.metadata() else {
            self.errors += 1;
            return;
        };
        self.entries += 1;
        // A file with several names is counted once, as du does.
        if meta.nlink() > 1 && !meta.is_dir() {
            let first = self
                .links
                .lock()
                .map(|mut l| l.insert((meta.dev(), meta.ino())))
                .unwrap_or(true);
            if !first {
                return;
            }
        }
        let bytes = meta.blocks() * 512;
        let path = e.path();
        if let Ok(rel) = path.strip_prefix(&self.spec.data) {
            let mut comps = rel.components();
            if let Some(first) = comps.next() {
                // A file directly in data/ counts for data itself.
                let key = if comps.next().is_none() && !meta.is_dir() {
                    std::ffi::OsStr::new("")
                } else {
                    first.as_os_str()
                };
                if let Some(f) = self.folders.get_mut(key) {
                    f.bytes += bytes;
                    f.entries += 1;
                } else {
                    self.folders.insert(
                        key.to_owned(),
                        FolderSize {
                            path: PathBuf::new(),
                            bytes,
                            entries: 1,
                        },
                    );
                }
            }
        }
        if !meta.is_file() {
            return;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| self.now.duration_since(m).ok())
            .unwrap_or_default();
        let file = || FileSize {
            path: path.to_path_buf(),
            bytes,
            age_days: (age.as_secs_f64() / 86_400.0 * 10.0).round() / 10.0,
        };
        if age > self.spec.log_max_age && self.spec.log_dirs.iter().any(|d| path.starts_with(d)) {
            self.old_logs.add(file());
        }
        if self.spec.backup_dirs.iter().any(|d| path.starts_with(d)) && is_uncompressed(path) {
            self.backups.add(file());
        }
    }
}

impl ignore::ParallelVisitor for Tally {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        // The clock is read at the first entry and every 256 after: a deadline is met within microseconds.
        self.seen += 1;
        if self.seen % 256 == 1 && Instant::now() >= self.deadline {
            self.partial.store(true, Ordering::Relaxed);
            return ignore::WalkState::Quit;
        }
        if self.partial.load(Ordering::Relaxed) {
            return ignore::WalkState::Quit;
        }
        match entry {
            Ok(e) => self.entry(&e),
            Err(err) => {
                self.errors += 1;
                if self.error_samples.len() < ERROR_SAMPLES {
                    self.error_samples.push(err.to_string());
                }
            }
        }
        ignore::WalkState::Continue
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let Ok(mut all) = self.shared.lock() else {
            return;
        };
        for (name, f) in self.folders.drain() {
            let path = if name.is_empty() {
                self.spec.data.clone()
            } else {
                self.spec.data.join(name)
            };
            match all.folders.iter_mut().find(|x| x.path == path) {
                Some(x) => {
                    x.bytes += f.bytes;
                    x.entries += f.entries;
                }
                None => all.folders.push(FolderSize { path, ..f }),
            }
        }
        all.old_logs.merge(std::mem::take(&mut self.old_logs));
        all.uncompressed_backups
            .merge(std::mem::take(&mut self.backups));
        all.entries += self.entries;
        all.errors += self.errors;
        for s in self.error_samples.drain(..) {
            if all.error_samples.len() < ERROR_SAMPLES {
                all.error_samples.push(s);
            }
        }
    }
}

struct Builder {
    make: Box<dyn FnMut() -> Tally + Send>,
}

impl<'s> ignore::ParallelVisitorBuilder<'s> for Builder {
    fn build(&mut self) -> Box<dyn ignore::ParallelVisitor + 's> {
        Box::new((self.make)())
    }
}

/// A backup that is not compressed: `.sql`, `.tar` (a `.sql.gz`, `.tar.gz`, `.dump` is).
fn is_uncompressed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| UNCOMPRESSED.contains(&e.to_ascii_lowercase().as_str()))
}

/// Walks the data, log and backup folders in parallel until `deadline` (blocking).
#[must_use]
pub fn measure_usage(spec: &UsageSpec, deadline: Instant) -> UsageFacts {
    let started = Instant::now();
    // The configured folders themselves may be links (`/backup` -> `/srv/backup`): resolved,
    // so that the walk starts in them; inside them, no link is followed.
    let real = |p: &PathBuf| p.canonicalize().unwrap_or_else(|_| p.clone());
    let spec = &UsageSpec {
        data: real(&spec.data),
        log_dirs: spec.log_dirs.iter().map(real).collect(),
        log_max_age: spec.log_max_age,
        backup_dirs: spec.backup_dirs.iter().map(real).collect(),
    };
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut absent = Vec::new();
    match std::fs::read_dir(&spec.data) {
        // Each folder of data/ is a root: one that is a mount point of its own is measured on
        // its own filesystem (as `du -s data/*`), and no walk crosses into another below it.
        Ok(rd) => roots.extend(rd.flatten().map(|e| e.path())),
        Err(_) => absent.push(spec.data.clone()),
    }
    for d in spec.log_dirs.iter().chain(&spec.backup_dirs) {
        if d.starts_with(&spec.data) && !absent.contains(&spec.data) {
            if !d.exists() {
                absent.push(d.clone());
            }
            continue;
        }
        if d.exists() {
            if !roots.iter().any(|r| d.starts_with(r)) {
                roots.push(d.clone());
            }
        } else {
            absent.push(d.clone());
        }
    }
    let shared = Arc::new(Mutex::new(UsageFacts::default()));
    let partial = Arc::new(AtomicBool::new(false));
    if let Some((first, rest)) = roots.split_first() {
        let mut wb = ignore::WalkBuilder::new(first);
        for r in rest {
            wb.add(r);
        }
        wb.standard_filters(false)
            .follow_links(false)
            .same_file_system(true)
            .skip_stdout(false);
        let spec = Arc::new(spec.clone());
        let (links, now) = (Arc::new(Mutex::new(HashSet::new())), SystemTime::now());
        let (shared2, partial2) = (shared.clone(), partial.clone());
        let mut builder = Builder {
            make: Box::new(move || Tally {
                spec: spec.clone(),
                now,
                deadline,
                folders: HashMap::new(),
                old_logs: FileGroup::default(),
                backups: FileGroup::default(),
                entries: 0,
                errors: 0,
                error_samples: Vec::new(),
                shared: shared2.clone(),
                links: links.clone(),
                partial: partial2.clone(),
                seen: 0,
            }),
        };
        wb.build_parallel().visit(&mut builder);
    }
    let mut facts = shared.lock().map(|f| f.clone()).unwrap_or_default();
    facts
        .folders
        .sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    facts.partial = partial.load(Ordering::Relaxed);
    facts.absent = absent;
    facts.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    facts
}

/// Judges the usage: reclaimable space (logs past the retention and uncompressed backups) at
/// or over `reclaimable_warn` bytes warns; a walk stopped at its deadline warns (the sizes are
/// lower bounds). Nothing to measure (no data folder) is `skipped`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_usage(
    f: &UsageFacts,
    spec: &UsageSpec,
    reclaimable_warn: u64,
    lang: Lang,
) -> Outcome {
    let b = |n: u64| units::bytes(n, lang);
    let days = spec.log_max_age.as_secs() / 86_400;
    let reclaimable = f.old_logs.bytes + f.uncompressed_backups.bytes;
    let metrics = [
        Metric::new(
            "data_bytes",
            f.folders.iter().map(|x| x.bytes).sum::<u64>() as f64,
            "B",
        ),
        Metric::new("old_logs_bytes", f.old_logs.bytes as f64, "B"),
        Metric::new(
            "uncompressed_backups_bytes",
            f.uncompressed_backups.bytes as f64,
            "B",
        ),
        Metric {
            warn: Some(reclaimable_warn as f64),
            ..Metric::new("reclaimable_bytes", reclaimable as f64, "B")
        },
    ];
    if f.entries == 0 && f.absent.contains(&spec.data) {
        return Outcome::skipped(tr!(
            lang,
            "no data folder at {}",
            "pas de dossier de données à {}",
            spec.data.display()
        ))
        .details(f);
    }
    let total: u64 = f.folders.iter().map(|x| x.bytes).sum();
    let top = f
        .folders
        .iter()
        .take(3)
        .map(|x| {
            format!(
                "{} {}",
                x.path.file_name().map_or_else(
                    || x.path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                b(x.bytes)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut parts = vec![tr!(
        lang,
        "{}: {} ({top})",
        "{} : {} ({top})",
        spec.data.display(),
        b(total)
    )];
    parts.push(tr!(
        lang,
        "{} log(s) older than {days} days ({})",
        "{} log(s) de plus de {days} jours ({})",
        f.old_logs.count,
        b(f.old_logs.bytes)
    ));
    parts.push(tr!(
        lang,
        "{} uncompressed backup(s) ({})",
        "{} sauvegarde(s) non compressée(s) ({})",
        f.uncompressed_backups.count,
        b(f.uncompressed_backups.bytes)
    ));
    let mut status = Status::Ok;
    if reclaimable >= reclaimable_warn && reclaimable > 0 {
        status = Status::Warning;
        let largest = f
            .old_logs
            .largest
            .iter()
            .chain(&f.uncompressed_backups.largest)
            .max_by_key(|x| x.bytes)
            .map(|x| x.path.display().to_string())
            .unwrap_or_default();
        parts.insert(
            0,
            tr!(
                lang,
                "{} reclaimable (largest: {largest})",
                "{} récupérables (le plus gros : {largest})",
                b(reclaimable)
            ),
        );
    }
    if f.partial {
        status = status.worst(Status::Warning);
        parts.push(tr!(
            lang,
            "partial: walk stopped after {} with {} entries seen (sizes are lower bounds)",
            "partiel : parcours arrêté après {} avec {} entrées vues (tailles minimales)",
            units::duration(f.elapsed_ms as f64 / 1000.0, lang),
            f.entries
        ));
    }
    if f.errors > 0 {
        parts.push(tr!(
            lang,
            "{} entries unreadable",
            "{} entrées illisibles",
            f.errors
        ));
    }
    let mut o = Outcome::new(status, parts.join("; ")).details(f);
    o.metrics = metrics.into();
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.storage;
    let cfg = &ctx.config;
    let spec = UsageSpec {
        data: cfg.project_path(&s.usage_dir),
        log_dirs: s.log_dirs.iter().map(|p| cfg.project_path(p)).collect(),
        log_max_age: Duration::from_secs(u64::from(s.log_max_age_days) * 86_400),
        backup_dirs: s.backup_dirs.iter().map(|p| cfg.project_path(p)).collect(),
    };
    // The walk has one step timeout; the check's deadline (two) leaves room to conclude.
    let deadline = Instant::now() + cfg.timeout();
    let walk_spec = spec.clone();
    match ctx
        .step_named(
            "walk the data folders",
            tokio::task::spawn_blocking(move || measure_usage(&walk_spec, deadline)),
        )
        .await
    {
        Ok(Ok(f)) => evaluate_usage(
            &f,
            &spec,
            s.reclaimable_warn_mib.saturating_mul(1024 * 1024),
            lang,
        ),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(
            &tr!(
                lang,
                "walking the data folders (hung filesystem?)",
                "parcours des dossiers de données (système de fichiers bloqué ?)"
            ),
            t,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(root: &Path) -> UsageSpec {
        UsageSpec {
            data: root.join("data"),
            log_dirs: vec![root.join("data/logs")],
            log_max_age: Duration::from_secs(30 * 86_400),
            backup_dirs: vec![root.join("backup")],
        }
    }

    #[test]
    fn sizes_old_logs_backups_links() {
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        for d in ["data/mail/cur", "data/logs", "backup"] {
            std::fs::create_dir_all(r.join(d)).expect("mkdir");
        }
        std::fs::write(r.join("data/mail/cur/1"), vec![b'm'; 64 * 1024]).expect("write");
        std::fs::hard_link(r.join("data/mail/cur/1"), r.join("data/mail/cur/2")).expect("link");
        std::os::unix::fs::symlink("/", r.join("data/mail/root")).expect("symlink");
        let old = r.join("data/logs/api-2025.log");
        std::fs::write(&old, vec![b'l'; 32 * 1024]).expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(&old)
            .expect("open");
        f.set_modified(SystemTime::now() - Duration::from_secs(40 * 86_400))
            .expect("mtime");
        std::fs::write(r.join("data/logs/api.log"), b"fresh\n").expect("write");
        std::fs::write(r.join("backup/dump.sql"), vec![b's'; 16 * 1024]).expect("write");
        std::fs::write(r.join("backup/dump.sql.gz"), b"z").expect("write");
        let s = spec(r);
        let facts = measure_usage(&s, Instant::now() + Duration::from_secs(10));
        assert!(!facts.partial);
        let mail = facts
            .folders
            .iter()
            .find(|x| x.path.ends_with("mail"))
            .expect("mail sized");
        assert!(
            mail.bytes >= 64 * 1024 && mail.bytes < 2 * 64 * 1024,
            "hard link counted once, link not followed: {mail:?}"
        );
        assert_eq!(
            (facts.old_logs.count, facts.uncompressed_backups.count),
            (1, 1),
            "{facts:?}"
        );
        let ok = evaluate_usage(&facts, &s, 1024 * 1024, Lang::En);
        assert_eq!(ok.status, Status::Ok, "{}", ok.summary);
        let warn = evaluate_usage(&facts, &s, 1024, Lang::Fr);
        assert_eq!(warn.status, Status::Warning);
        assert!(warn.summary.contains("récupérables"), "{}", warn.summary);
        let late = measure_usage(&s, Instant::now());
        assert!(late.partial);
        assert_eq!(
            evaluate_usage(&late, &s, u64::MAX, Lang::En).status,
            Status::Warning
        );
    }
}
