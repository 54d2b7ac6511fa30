//! The backup folders' inventory (archives, series, free space) and `backup.freshness`
//! (guide: BD P3, Stockage P2, Performance P3).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::Access;
use crate::units::{bytes, duration};
use crate::checks::{grade, step, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Entries looked at in one folder (with its subfolders) before the listing stops.
pub const MAX_ENTRIES: usize = 100_000;

/// File name endings taken for backup archives (compared in lower case).
const ARCHIVE_ENDINGS: &[&str] = &[".sql", ".dump", ".backup", ".pgdump", ".tar", ".tgz", ".gz", ".zst", ".xz", ".bz2", ".lz4", ".zip"];

/// Generic remedy of `backup.freshness`.
pub(super) const FRESHNESS_STEPS: &[Step] = &[
    step!(
        "Take a backup now, as the guide's emergency dump, then find why the scheduled one did not run or was cut short",
        "Faire une sauvegarde maintenant (la sauvegarde d'urgence du guide), puis chercher pourquoi la sauvegarde planifiée n'a pas tourné ou s'est interrompue",
        guide = "BD P3",
        cmd = "{docker.compose} exec -T postgres pg_dumpall -U {postgres.user} > {backup.path}/backup_emergency.sql"
    ),
    step!(
        "List the newest archives and their sizes",
        "Lister les archives les plus récentes et leur taille",
        guide = "Stockage P2",
        cmd = "ls -lt {backup.path} | head"
    ),
    step!(
        "Make room for the next backup: compress old SQL dumps",
        "Faire de la place pour la prochaine sauvegarde : compresser les anciens dumps SQL",
        guide = "Performance P3",
        cmd = "gzip {backup.path}/*.sql"
    ),
];

/// One archive of a backup folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    /// Its path.
    pub path: PathBuf,
    /// Its series: the file name with every run of digits replaced by `#`
    /// (`mssante-20240101.sql.gz` → `mssante-#.sql.gz`), so daily copies compare with each other.
    pub series: String,
    /// Size, bytes.
    pub size_bytes: u64,
    /// Seconds since it was last written (0 for a date in the future).
    pub age_secs: f64,
}

/// What a backup folder holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderFacts {
    /// The folder.
    pub path: PathBuf,
    /// Whether it could be listed.
    pub access: Access,
    /// Its archives (and those of its immediate subfolders), newest first.
    pub archives: Vec<Archive>,
    /// Files that are not archives (by name).
    pub other_files: usize,
    /// Subfolders that could not be listed, with the reason.
    pub unlisted: Vec<(PathBuf, String)>,
    /// The listing stopped at [`MAX_ENTRIES`].
    pub listing_truncated: bool,
    /// Bytes available on its filesystem, when measured.
    pub available_bytes: Option<u64>,
}

impl FolderFacts {
    /// The newest archive of each series, newest first.
    #[must_use]
    pub fn series_heads(&self) -> Vec<&Archive> {
        let mut seen = HashSet::new();
        self.archives.iter().filter(|a| seen.insert(a.series.as_str())).collect()
    }

    /// The archives of one series, newest first.
    fn series<'a>(&'a self, series: &'a str) -> impl Iterator<Item = &'a Archive> {
        self.archives.iter().filter(move |a| a.series == series)
    }
}

/// Whether a file name looks like a backup archive.
#[must_use]
pub fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.starts_with('.') && ARCHIVE_ENDINGS.iter().any(|e| lower.ends_with(e))
}

/// The series of an archive name: every run of ASCII digits replaced by `#`.
#[must_use]
pub fn series_of(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_digits = false;
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// Lists a backup folder and its immediate subfolders (blocking: run it off the async threads).
/// A symbolic link to an archive of the folder (`latest.tar.gz`) is counted once.
#[must_use]
pub fn scan_folder(path: &Path, now: SystemTime) -> FolderFacts {
    use std::os::unix::fs::MetadataExt;
    let mut facts = FolderFacts {
        path: path.to_path_buf(),
        access: Access::Readable,
        archives: Vec::new(),
        other_files: 0,
        unlisted: Vec::new(),
        listing_truncated: false,
        available_bytes: None,
    };
    let top = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            facts.access = Access::from_io(&e);
            return facts;
        }
    };
    facts.available_bytes = crate::fs::filesystems(&[path.to_path_buf()]).0.first().map(|u| u.available_bytes);
    // (dev, inode) → index in `found`, keeping the real file over a link to it.
    let mut found: Vec<(Archive, bool)> = Vec::new();
    let mut inodes: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    let mut seen = 0usize;
    let mut subdirs = Vec::new();
    let mut visit = |dir_entries: std::fs::ReadDir, subdirs: Option<&mut Vec<PathBuf>>, facts: &mut FolderFacts| {
        let mut subdirs = subdirs;
        for entry in dir_entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                facts.listing_truncated = true;
                return;
            }
            let p = entry.path();
            let Ok(link_meta) = entry.metadata() else { continue };
            let is_link = link_meta.file_type().is_symlink();
            // Follow a link to see what it points at; a dangling link is no archive.
            let Ok(meta) = (if is_link { std::fs::metadata(&p) } else { Ok(link_meta) }) else { continue };
            if meta.is_dir() {
                if let (Some(list), false) = (subdirs.as_deref_mut(), is_link) {
                    list.push(p);
                }
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !meta.is_file() || !is_archive_name(&name) {
                facts.other_files += usize::from(meta.is_file());
                continue;
            }
            let age_secs = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).map_or(0.0, |d| d.as_secs_f64());
            let archive = Archive { path: p, series: series_of(&name), size_bytes: meta.len(), age_secs };
            match inodes.get(&(meta.dev(), meta.ino())) {
                Some(&i) => {
                    if found[i].1 && !is_link {
                        found[i] = (archive, false);
                    }
                }
                None => {
                    inodes.insert((meta.dev(), meta.ino()), found.len());
                    found.push((archive, is_link));
                }
            }
        }
    };
    visit(top, Some(&mut subdirs), &mut facts);
    for dir in subdirs {
        match std::fs::read_dir(&dir) {
            Ok(rd) => visit(rd, None, &mut facts),
            Err(e) => facts.unlisted.push((dir, e.kind().to_string())),
        }
    }
    facts.archives = found.into_iter().map(|(a, _)| a).collect();
    facts.archives.sort_by(|a, b| a.age_secs.total_cmp(&b.age_secs).then_with(|| a.path.cmp(&b.path)));
    facts
}

/// Thresholds of `backup.freshness`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreshnessLimits {
    /// Age that warns, hours.
    pub warn_hours: f64,
    /// Age that is critical, hours.
    pub crit_hours: f64,
    /// Size below this percentage of the series' median is a drop.
    pub size_drop_pct: f64,
}

/// Archives of a folder shown in the details, newest first.
const DETAILS_ARCHIVES: usize = 20;

/// Previous archives of a series compared with its newest.
const SIZE_HISTORY: usize = 7;

/// One folder's finding.
struct Finding {
    status: Status,
    text: String,
}

/// Judges each folder: the newest archive's age, the newest size of each series against the
/// previous ones, series that stopped, and room for the next run. A folder that could not be
/// read is `unknown` with the grant that would allow it; a missing or empty folder is critical.
#[must_use]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::too_many_lines)]
pub fn evaluate_freshness(folders: &[FolderFacts], limits: FreshnessLimits, lang: Lang) -> Outcome {
    let (warn_s, crit_s) = (limits.warn_hours * 3600.0, limits.crit_hours * 3600.0);
    let mut findings: Vec<Finding> = Vec::new();
    let mut fine: Vec<String> = Vec::new();
    let mut metrics = Vec::new();
    let mut unreadable = Vec::new();
    for f in folders {
        let dir = f.path.display();
        if let Some(text) = f.access.problem(&f.path, lang) {
            let status = f.access.status();
            if let Access::Denied { user } = &f.access {
                unreadable.push((f.path.clone(), user.clone()));
            }
            findings.push(Finding { status, text });
            continue;
        }
        let label = f.path.display().to_string();
        let Some(newest) = f.archives.first() else {
            let others = if f.other_files > 0 {
                tr!(lang, " ({} other file(s), none named like an archive)", " ({} autre(s) fichier(s), aucun nommé comme une archive)", f.other_files)
            } else {
                String::new()
            };
            findings.push(Finding { status: Status::Critical, text: tr!(lang, "no backup archive in {dir}{others}", "aucune archive de sauvegarde dans {dir}{others}") });
            continue;
        };
        let name = newest.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        metrics.push(Metric::new("age", newest.age_secs / 3600.0, "h").thresholds(limits.warn_hours, limits.crit_hours).label("path", &label));
        metrics.push(Metric::new("newest_size", newest.size_bytes as f64, "B").label("path", &label));
        let mut own: Vec<Finding> = Vec::new();
        let age_status = grade(newest.age_secs, warn_s, crit_s);
        if age_status != Status::Ok {
            own.push(Finding {
                status: age_status,
                text: tr!(
                    lang,
                    "newest backup in {dir} is {} old ({name}; threshold {} h)",
                    "la sauvegarde la plus récente de {dir} date de {} ({name} ; seuil {} h)",
                    duration(newest.age_secs, lang),
                    if age_status == Status::Critical { limits.crit_hours } else { limits.warn_hours }
                ),
            });
        }
        // The latest run: the newest archive of every series still written (within the critical age).
        let heads = f.series_heads();
        let active: Vec<&Archive> = heads.iter().copied().filter(|a| a.age_secs <= crit_s || a.path == newest.path).collect();
        for head in &active {
            let head_name = head.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if head.size_bytes == 0 {
                own.push(Finding { status: Status::Critical, text: tr!(lang, "{head_name} in {dir} is empty (0 bytes)", "{head_name} dans {dir} est vide (0 octet)") });
                continue;
            }
            let mut previous: Vec<u64> = f.series(&head.series).skip(1).take(SIZE_HISTORY).map(|a| a.size_bytes).collect();
            if previous.is_empty() {
                continue;
            }
            previous.sort_unstable();
            let median = previous[previous.len() / 2] as f64;
            if (head.size_bytes as f64) * 100.0 < median * limits.size_drop_pct {
                own.push(Finding {
                    status: Status::Warning,
                    text: tr!(
                        lang,
                        "{head_name} in {dir} is {} where the previous {} were about {}: a sudden drop (cut short, or data missing?)",
                        "{head_name} dans {dir} fait {} alors que les {} précédentes faisaient environ {} : une chute soudaine (interrompue, ou données manquantes ?)",
                        bytes(head.size_bytes, lang),
                        previous.len(),
                        bytes(median as u64, lang)
                    ),
                });
            }
        }
        // A schedule that stopped: a series of several archives not written for longer than the
        // critical age while the folder gets fresh ones (a one-off file is no schedule).
        if age_status == Status::Ok {
            for head in heads.iter().filter(|a| a.age_secs > crit_s && f.series(&a.series).nth(1).is_some()) {
                own.push(Finding {
                    status: Status::Warning,
                    text: tr!(
                        lang,
                        "series {} in {dir} was last written {} ago",
                        "la série {} de {dir} n'a pas été écrite depuis {}",
                        head.series,
                        duration(head.age_secs, lang)
                    ),
                });
            }
        }
        // Room for the next run: one more copy of every series still written.
        let next: u64 = active.iter().map(|a| a.size_bytes).sum();
        if let Some(avail) = f.available_bytes {
            metrics.push(Metric::new("free", avail as f64, "B").label("path", &label));
            let room = if avail < next {
                Some(Status::Critical)
            } else if avail < next.saturating_mul(2) {
                Some(Status::Warning)
            } else {
                None
            };
            if let Some(status) = room {
                own.push(Finding {
                    status,
                    text: tr!(
                        lang,
                        "{} free under {dir}, the next backup needs about {}",
                        "{} libres sous {dir}, la prochaine sauvegarde demande environ {}",
                        bytes(avail, lang),
                        bytes(next, lang)
                    ),
                });
            }
        }
        if f.listing_truncated {
            own.push(Finding {
                status: Status::Warning,
                text: tr!(
                    lang,
                    "{dir} holds more than {MAX_ENTRIES} entries: only the first were looked at",
                    "{dir} contient plus de {MAX_ENTRIES} entrées : seules les premières ont été examinées"
                ),
            });
        }
        if !f.unlisted.is_empty() {
            let l = f.unlisted.iter().map(|(p, r)| format!("{} ({r})", p.display())).collect::<Vec<_>>().join(", ");
            own.push(Finding { status: Status::Warning, text: tr!(lang, "subfolders not listed: {l}", "sous-dossiers non listés : {l}") });
        }
        if own.is_empty() {
            let free = f.available_bytes.map_or_else(String::new, |a| tr!(lang, ", {} free", ", {} libres", bytes(a, lang)));
            fine.push(tr!(
                lang,
                "{dir}: newest {name} {} old ({}), {} archive(s){free}",
                "{dir} : plus récente {name} il y a {} ({}), {} archive(s){free}",
                duration(newest.age_secs, lang),
                bytes(newest.size_bytes, lang),
                f.archives.len()
            ));
        }
        findings.extend(own);
    }
    let status = findings.iter().fold(Status::Ok, |s, f| s.worst(f.status));
    let summary = if findings.is_empty() {
        fine.join("; ")
    } else {
        let mut worst_first: Vec<&Finding> = findings.iter().collect();
        worst_first.sort_by_key(|f| std::cmp::Reverse(f.status.severity()));
        worst_first.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("; ")
    };
    // The newest archives of each folder (a year of nightly backups would fill the report).
    let shown: Vec<serde_json::Value> = folders
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "access": f.access,
                "archive_count": f.archives.len(),
                "newest_archives": &f.archives[..f.archives.len().min(DETAILS_ARCHIVES)],
                "other_files": f.other_files,
                "unlisted": f.unlisted,
                "listing_truncated": f.listing_truncated,
                "available_bytes": f.available_bytes,
            })
        })
        .collect();
    let details = serde_json::json!({ "folders": shown });
    let mut o = Outcome::new(status, summary).details(details);
    o.metrics = metrics;
    for (p, user) in &unreadable {
        o.remediation.push(super::grant_remedy(p, true, user, lang));
    }
    if !unreadable.is_empty() && unreadable.len() < findings.len() {
        o = o.remedies(FRESHNESS_STEPS, lang);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f64 = 3600.0;
    const LIMITS: FreshnessLimits = FreshnessLimits { warn_hours: 26.0, crit_hours: 50.0, size_drop_pct: 50.0 };

    fn archive(name: &str, size: u64, age_h: f64) -> Archive {
        Archive { path: PathBuf::from("/backup").join(name), series: series_of(name), size_bytes: size, age_secs: age_h * H }
    }

    fn folder(archives: Vec<Archive>, free: u64) -> FolderFacts {
        FolderFacts {
            path: "/backup".into(),
            access: Access::Readable,
            archives,
            other_files: 0,
            unlisted: Vec::new(),
            listing_truncated: false,
            available_bytes: Some(free),
        }
    }

    #[test]
    fn names_and_series() {
        assert!(is_archive_name("mssante_20240101.sql.gz") && is_archive_name("latest.TAR.GZ") && is_archive_name("db.dump"));
        assert!(!is_archive_name("backup.log") && !is_archive_name(".hidden.sql") && !is_archive_name("README"));
        assert_eq!(series_of("mssante-2024-01-01_0300.sql.gz"), "mssante-#-#-#_#.sql.gz");
        assert_eq!(series_of("latest.tar.gz"), "latest.tar.gz");
    }

    #[test]
    fn age_thresholds() {
        let fresh = folder(vec![archive("db-1.sql", 100, 2.0)], 1 << 30);
        assert_eq!(evaluate_freshness(&[fresh], LIMITS, Lang::En).status, Status::Ok);
        let old = folder(vec![archive("db-1.sql", 100, 30.0)], 1 << 30);
        assert_eq!(evaluate_freshness(&[old], LIMITS, Lang::En).status, Status::Warning);
        let older = folder(vec![archive("db-1.sql", 100, 72.0)], 1 << 30);
        let o = evaluate_freshness(&[older], LIMITS, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("3 j") && o.summary.contains("db-1.sql"), "{}", o.summary);
    }

    #[test]
    fn size_drop_is_a_finding() {
        let f = folder(vec![archive("db-4.sql", 10, 1.0), archive("db-3.sql", 1000, 25.0), archive("db-2.sql", 990, 49.0), archive("db-1.sql", 1010, 73.0)], 1 << 30);
        let o = evaluate_freshness(&[f], LIMITS, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("sudden drop") && o.summary.contains("db-4.sql"), "{}", o.summary);
        // Another series in the same folder is not compared with it.
        let mixed = folder(vec![archive("data-2.tar.gz", 5000, 1.0), archive("db-2.sql", 100, 1.0), archive("data-1.tar.gz", 5100, 25.0), archive("db-1.sql", 110, 25.0)], 1 << 30);
        assert_eq!(evaluate_freshness(&[mixed], LIMITS, Lang::En).status, Status::Ok);
    }

    #[test]
    fn stopped_series_and_room() {
        let stopped = folder(vec![archive("db-3.sql", 100, 1.0), archive("data-2.tar.gz", 100, 80.0), archive("data-1.tar.gz", 100, 104.0)], 1 << 30);
        let o = evaluate_freshness(&[stopped], LIMITS, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("data-#.tar.gz"), "{}", o.summary);
        // A one-off archive that is old is no stopped schedule.
        let one_off = folder(vec![archive("db-3.sql", 100, 1.0), archive("backup_emergency.sql", 100, 2000.0)], 1 << 30);
        assert_eq!(evaluate_freshness(&[one_off], LIMITS, Lang::En).status, Status::Ok);
        let full = folder(vec![archive("db-1.sql", 1000, 1.0)], 500);
        let o = evaluate_freshness(&[full], LIMITS, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("next backup"), "{}", o.summary);
        assert_eq!(evaluate_freshness(&[folder(vec![archive("db-1.sql", 1000, 1.0)], 1500)], LIMITS, Lang::En).status, Status::Warning);
    }

    #[test]
    fn missing_empty_and_unreadable_folders() {
        let mut empty = folder(Vec::new(), 1 << 30);
        empty.other_files = 2;
        let o = evaluate_freshness(&[empty], LIMITS, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("no backup archive") && o.summary.contains("2 other file"), "{}", o.summary);
        let mut missing = folder(Vec::new(), 0);
        missing.access = Access::Missing;
        assert_eq!(evaluate_freshness(&[missing], LIMITS, Lang::En).status, Status::Critical);
        let mut denied = folder(Vec::new(), 0);
        denied.access = Access::Denied { user: "nobody".into() };
        let o = evaluate_freshness(&[denied], LIMITS, Lang::En);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.summary.contains("cannot read") && !o.summary.contains("no backup"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.command.as_deref().is_some_and(|c| c.contains("setfacl") && c.contains("u:nobody:"))), "{:?}", o.remediation);
    }
}
