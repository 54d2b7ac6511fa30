//! `backup.integrity`: the newest archive of each series read to its end, under one time
//! bound for the run (guide: BD P3, Stockage P2).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::reader::{read_archive, ArchiveRead, Content, Progress, Verdict};
use super::{grant_remedy, listing, FolderFacts};
use crate::checks::{step, Ctx, Outcome, Step};
use crate::config::Vars;
use crate::exec::{self, ExecError, Place};
use crate::model::{Metric, Remedy, Status};
use crate::units::{bytes, duration};
use crate::{tr, Lang};

/// Steps of the check's deadline: the listing, the reading bound (at most
/// [`BOUND_STEPS`] timeouts) and a margin.
pub(super) const STEPS: u32 = BOUND_STEPS + 2;

/// The reading bound is capped at this many step timeouts, so the check reports its own
/// progress before the runner's deadline stops it.
pub const BOUND_STEPS: u32 = 8;

/// Archives read in one run at most (the newest first).
pub const MAX_ARCHIVES: usize = 20;

/// Wait past the bound for a read to notice it, before calling the read hung (at most one
/// step timeout, so the check still ends before the runner's deadline).
const GRACE: Duration = Duration::from_secs(1);

/// Generic remedy of `backup.integrity`.
pub(super) const INTEGRITY_STEPS: &[Step] = &[
    step!(
        "Do not count on this archive: take a backup now, as the guide's emergency dump",
        "Ne pas compter sur cette archive : faire une sauvegarde maintenant (la sauvegarde d'urgence du guide)",
        guide = "BD P3",
        cmd = "{docker.compose} exec -T postgres pg_dumpall -U {postgres.user} > {backup.path}/backup_emergency.sql"
    ),
    step!(
        "Look for the cause where the backup was written: a full disk cuts a dump short",
        "Chercher la cause là où la sauvegarde a été écrite : un disque plein interrompt un dump",
        guide = "Stockage P2",
        cmd = "df -h {backup.path}"
    ),
    step!(
        "Look for disk errors under the backups",
        "Chercher des erreurs disque sous les sauvegardes",
        guide = "Stockage P2",
        cmd = "dmesg | grep -i error"
    ),
    step!(
        "If a restore is needed, use the newest archive that reads to the end (replaces the data)",
        "Si une restauration est nécessaire, utiliser l'archive la plus récente lisible jusqu'au bout (remplace les données)",
        guide = "Stockage P2",
        cmd = "./scripts/backup/restore.sh {backup.path}/latest.tar.gz",
        destructive = true
    ),
];

/// The reading bound: `integrity_max_secs`, capped at [`BOUND_STEPS`] step timeouts.
#[must_use]
pub fn effective_bound(integrity_max_secs: f64, timeout_secs: f64) -> Duration {
    Duration::from_secs_f64(integrity_max_secs.min(timeout_secs * f64::from(BOUND_STEPS)).max(0.001))
}

/// The archives to read: the newest of each series still written (within `crit_secs`, or the
/// folder's newest), newest first, at most [`MAX_ARCHIVES`].
#[must_use]
pub fn to_verify(folders: &[FolderFacts], crit_secs: f64) -> Vec<PathBuf> {
    let mut heads: Vec<(f64, PathBuf)> = Vec::new();
    for f in folders {
        let newest = f.archives.first().map(|a| a.path.clone());
        for a in f.series_heads() {
            if a.age_secs <= crit_secs || Some(&a.path) == newest.as_ref() {
                heads.push((a.age_secs, a.path.clone()));
            }
        }
    }
    heads.sort_by(|a, b| a.0.total_cmp(&b.0));
    heads.into_iter().take(MAX_ARCHIVES).map(|(_, p)| p).collect()
}

/// The command that would restore `read` (shown, never run), citing the configuration.
#[must_use]
pub fn restore_command(read: &ArchiveRead) -> Option<String> {
    let p = super::shell_quote(&read.path);
    let cat = if read.gzip { format!("gunzip -c {p}") } else { format!("cat {p}") };
    let psql = "{docker.compose} exec -T postgres psql -U {postgres.user}";
    match read.content {
        Content::Tar => Some(format!("./scripts/backup/restore.sh {p}")),
        Content::PgDumpall => Some(format!("{cat} | {psql}")),
        Content::PgDump => Some(format!("{cat} | {psql} -d {{postgres.database}}")),
        Content::PgCustom if !read.gzip => Some(format!("{{docker.compose}} exec -T postgres pg_restore -U {{postgres.user}} -d {{postgres.database}} < {p}")),
        _ => None,
    }
}

/// What an archive holds, in a few words.
fn describe(r: &ArchiveRead, lang: Lang) -> String {
    let gz = if r.gzip { "gzip, " } else { "" };
    let size = bytes(r.size_bytes, lang);
    match r.content {
        Content::Tar => tr!(lang, "{gz}tar, {} entries, {size}", "{gz}tar, {} entrées, {size}", r.items),
        Content::PgDumpall => tr!(lang, "{gz}pg_dumpall, trailer present, {size}", "{gz}pg_dumpall, ligne finale présente, {size}"),
        Content::PgDump => tr!(lang, "{gz}pg_dump, trailer present, {size}", "{gz}pg_dump, ligne finale présente, {size}"),
        Content::PgCustom => tr!(lang, "pg_dump custom format, {} entries listed, {size}", "pg_dump format custom, {} entrées listées, {size}", r.items),
        _ => format!("{gz}{size}"),
    }
}

/// One archive's status and sentence.
#[allow(clippy::cast_precision_loss)]
fn judge(r: &ArchiveRead, bound: Duration, hung: Status, lang: Lang) -> (Status, String) {
    let name = r.path.file_name().map_or_else(|| r.path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let secs = bound.as_secs_f64();
    match &r.verdict {
        Verdict::Complete => (Status::Ok, format!("{name} ({})", describe(r, lang))),
        Verdict::Truncated { reason } => (Status::Critical, tr!(lang, "{name} is cut short: {reason}", "{name} est tronquée : {reason}")),
        Verdict::Corrupt { reason } => (Status::Critical, tr!(lang, "{name} is damaged: {reason}", "{name} est endommagée : {reason}")),
        Verdict::Unverifiable { reason } => (Status::Warning, format!("{name}: {reason}")),
        Verdict::NotChecked { reason } => (Status::Unknown, format!("{name}: {reason}")),
        Verdict::NeedsPgRestore => (Status::Unknown, tr!(lang, "{name}: not listed by pg_restore", "{name} : non listée par pg_restore")),
        Verdict::Unreadable { reason, permission: true } => (
            Status::Unknown,
            tr!(lang, "cannot read {name} as {} ({reason}): its state is not known", "impossible de lire {name} en tant que {} ({reason}) : son état n'est pas connu", super::current_user()),
        ),
        Verdict::Unreadable { reason, permission: false } => (
            Status::Critical,
            tr!(lang, "{name} cannot be read: {reason} (a failing disk? see storage.smart)", "{name} est illisible : {reason} (disque défaillant ? voir storage.smart)"),
        ),
        Verdict::StoppedAtBound if r.read_bytes == 0 && r.content == Content::Unknown => {
            (Status::Unknown, tr!(lang, "{name}: not reached within the time bound ({secs} s)", "{name} : non atteinte dans la limite de temps ({secs} s)"))
        }
        Verdict::StoppedAtBound => {
            let pct = if r.size_bytes == 0 { 0.0 } else { (r.read_bytes as f64 * 100.0 / r.size_bytes as f64).min(100.0) };
            (
                Status::Unknown,
                tr!(
                    lang,
                    "{name}: stopped at the time bound ({secs} s) after reading {} of {} ({pct:.0} %), no error so far",
                    "{name} : arrêtée à la limite de temps ({secs} s) après lecture de {} sur {} ({pct:.0} %), aucune erreur jusque-là",
                    bytes(r.read_bytes, lang),
                    bytes(r.size_bytes, lang)
                ),
            )
        }
        Verdict::Hung => (
            hung,
            tr!(
                lang,
                "{name}: a read did not return after {} (hung filesystem?)",
                "{name} : une lecture n'a pas abouti après {} (système de fichiers bloqué ?)",
                bytes(r.read_bytes, lang)
            ),
        ),
    }
}

/// Details of the check: every archive read, the bound, and the restore commands (shown, never run).
#[derive(Debug, Serialize)]
struct Details<'a> {
    archives: &'a [ArchiveRead],
    bound_secs: f64,
    restore: Vec<String>,
}

/// Judges the archives read: cut short, damaged or unreadable is critical; not known to be
/// complete is a warning; not read to the end (time bound, permission, a missing tool) is
/// `unknown` with how far the read got. `hung` is the status of a read that never returned.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_integrity(reads: &[ArchiveRead], bound: Duration, hung: Status, vars: &Vars, lang: Lang) -> Outcome {
    let judged: Vec<(Status, String)> = reads.iter().map(|r| judge(r, bound, hung, lang)).collect();
    let status = judged.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    let took: f64 = reads.iter().map(|r| r.elapsed_ms).sum::<f64>() / 1000.0;
    let summary = if status == Status::Ok {
        let l = judged.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(", ");
        tr!(lang, "{} archive(s) read to the end in {}: {l}", "{} archive(s) lue(s) jusqu'au bout en {} : {l}", reads.len(), duration(took, lang))
    } else {
        let mut bad: Vec<&(Status, String)> = judged.iter().filter(|(s, _)| *s != Status::Ok).collect();
        bad.sort_by_key(|(s, _)| std::cmp::Reverse(s.severity()));
        bad.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; ")
    };
    let restore = reads.iter().filter(|r| r.verdict == Verdict::Complete).filter_map(restore_command).map(|c| vars.render(&c)).collect();
    let mut o = Outcome::new(status, summary).details(Details { archives: reads, bound_secs: bound.as_secs_f64(), restore });
    for r in reads {
        let name = r.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let pct = if r.size_bytes == 0 { 100.0 } else { (r.read_bytes as f64 * 100.0 / r.size_bytes as f64).min(100.0) };
        o.metrics.push(Metric::new("read", pct, "%").range(0.0, 100.0).label("archive", name));
    }
    if status == Status::Ok {
        return o;
    }
    let broken = |r: &&ArchiveRead| matches!(r.verdict, Verdict::Truncated { .. } | Verdict::Corrupt { .. } | Verdict::Unreadable { permission: false, .. } | Verdict::Hung);
    if reads.iter().any(|r| broken(&r)) {
        o = o.remedies(INTEGRITY_STEPS, lang);
    }
    for r in reads.iter().filter(|r| matches!(r.verdict, Verdict::Unreadable { permission: true, .. })) {
        o.remediation.push(grant_remedy(&r.path, false, &super::current_user(), lang));
    }
    if reads.iter().any(|r| r.verdict == Verdict::StoppedAtBound) {
        o.remediation.push(Remedy {
            text: tr!(
                lang,
                "Give the check more time ([backup] integrity_max_secs), or verify the archive by hand off-peak (read only)",
                "Donner plus de temps à la vérification ([backup] integrity_max_secs), ou vérifier l'archive à la main en heures creuses (lecture seule)"
            ),
            command: reads.iter().find(|r| r.verdict == Verdict::StoppedAtBound).map(|r| {
                let p = super::shell_quote(&r.path);
                if r.gzip { format!("gzip -t {p}") } else { format!("tar -tf {p} > /dev/null") }
            }),
            guide: "Stockage P2".into(),
            destructive: false,
        });
    }
    o
}

/// Reads one archive off the async threads; a read that does not return by the bound (plus a
/// grace) is called hung, and the reader is told to stop at its next chunk.
async fn read_one(path: PathBuf, deadline: Instant, grace: Duration, lang: Lang) -> ArchiveRead {
    let progress = Progress::new();
    let shared = progress.clone();
    let p = path.clone();
    let task = tokio::task::spawn_blocking(move || read_archive(&p, deadline, &shared, lang));
    let waited = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline + grace), task).await;
    match waited {
        Ok(Ok(read)) => read,
        other => {
            progress.cancel.store(true, Ordering::Relaxed);
            let panicked = matches!(other, Ok(Err(_)));
            ArchiveRead {
                size_bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
                path,
                gzip: false,
                content: Content::Unknown,
                read_bytes: progress.file_bytes.load(Ordering::Relaxed),
                content_bytes: progress.content_bytes.load(Ordering::Relaxed),
                items: 0,
                elapsed_ms: 0.0,
                verdict: if panicked { Verdict::NotChecked { reason: "the reader failed internally".into() } } else { Verdict::Hung },
            }
        }
    }
}

/// A custom-format dump: `pg_restore --list` reads its table of contents, then
/// `pg_restore -f -` reads every data block (the script goes to a pipe that is drained and
/// dropped): both only read, both under what is left of the bound.
async fn pg_restore(ctx: &Ctx, read: &mut ArchiveRead, deadline: Instant, lang: Lang) {
    let start = Instant::now();
    let Some(file) = read.path.to_str().map(str::to_owned) else {
        read.verdict = Verdict::NotChecked { reason: tr!(lang, "the path is not UTF-8", "le chemin n'est pas en UTF-8") };
        return;
    };
    for args in [["pg_restore", "--list", file.as_str()], ["pg_restore", "--file=-", file.as_str()]] {
        let left = deadline.saturating_duration_since(Instant::now());
        let ran = match tokio::time::timeout(left, exec::run(ctx, &Place::Host, &args)).await {
            Err(_) | Ok(Err(ExecError::TimedOut(_))) => {
                read.verdict = Verdict::StoppedAtBound;
                break;
            }
            Ok(Err(ExecError::Spawn { reason, .. })) => {
                read.verdict = Verdict::NotChecked {
                    reason: tr!(
                        lang,
                        "pg_restore cannot run on this host ({reason}): install the PostgreSQL client tools to check custom-format dumps",
                        "pg_restore ne peut pas être lancé sur cet hôte ({reason}) : installer les outils client PostgreSQL pour vérifier les dumps au format custom"
                    ),
                };
                break;
            }
            Ok(Err(e)) => {
                read.verdict = Verdict::NotChecked { reason: e.describe(lang) };
                break;
            }
            Ok(Ok(out)) => out,
        };
        if !ran.success() {
            let first = ran.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
            read.verdict = if first.contains("unsupported version") {
                Verdict::NotChecked {
                    reason: tr!(lang, "pg_restore on this host is older than the dump: {first}", "pg_restore sur cet hôte est plus ancien que le dump : {first}"),
                }
            } else if first.contains("Permission denied") {
                Verdict::Unreadable { reason: first, permission: true }
            } else if first.contains("end of file") {
                Verdict::Truncated { reason: first }
            } else {
                Verdict::Corrupt { reason: first }
            };
            break;
        }
        if args[1] == "--list" {
            read.items = ran.stdout.lines().filter(|l| !l.trim().is_empty() && !l.starts_with(';')).count() as u64;
        } else {
            read.verdict = Verdict::Complete;
            read.read_bytes = read.size_bytes;
        }
    }
    read.elapsed_ms += start.elapsed().as_secs_f64() * 1000.0;
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.backup;
    let folders = match listing(&ctx).await {
        Ok(f) => f,
        Err(o) => return o,
    };
    let paths = to_verify(&folders, s.age_crit_hours * 3600.0);
    if paths.is_empty() {
        let why = folders
            .iter()
            .map(|f| f.access.problem(&f.path, lang).unwrap_or_else(|| tr!(lang, "no archive in {}", "aucune archive dans {}", f.path.display())))
            .collect::<Vec<_>>()
            .join("; ");
        return Outcome::skipped(tr!(lang, "nothing to read: {why} (see backup.freshness)", "rien à lire : {why} (voir backup.freshness)"));
    }
    let bound = effective_bound(s.integrity_max_secs, ctx.config.timeout_secs);
    let deadline = Instant::now() + bound;
    let mut reads = Vec::with_capacity(paths.len());
    for path in paths {
        crate::checks::enter_step("read");
        let mut read = read_one(path, deadline, GRACE.min(ctx.config.timeout()), lang).await;
        if read.verdict == Verdict::NeedsPgRestore {
            pg_restore(&ctx, &mut read, deadline, lang).await;
        }
        reads.push(read);
    }
    evaluate_integrity(&reads, bound, ctx.config.timeout_state.into(), ctx.vars(), lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, content: Content, gzip: bool, verdict: Verdict) -> ArchiveRead {
        ArchiveRead {
            path: PathBuf::from("/backup").join(name),
            size_bytes: 2 << 20,
            gzip,
            content,
            read_bytes: 1 << 20,
            content_bytes: 1 << 20,
            items: 3,
            elapsed_ms: 5.0,
            verdict,
        }
    }

    const B: Duration = Duration::from_secs(10);

    #[test]
    fn complete_archives_show_their_restore_command() {
        let reads = [read("db.sql", Content::PgDumpall, false, Verdict::Complete), read("data.tar.gz", Content::Tar, true, Verdict::Complete)];
        let vars = crate::Config::default().vars();
        let o = evaluate_integrity(&reads, B, Status::Critical, &vars, Lang::En);
        assert_eq!(o.status, Status::Ok, "{}", o.summary);
        assert!(o.summary.contains("2 archive(s) read to the end") && o.summary.contains("tar, 3 entries"), "{}", o.summary);
        let restore = o.details["restore"].as_array().expect("restore commands");
        assert!(restore.iter().any(|c| c.as_str().is_some_and(|c| c.starts_with("cat /backup/db.sql | docker compose") && c.contains("psql -U mssante"))), "{restore:?}");
        assert!(restore.iter().any(|c| c == "./scripts/backup/restore.sh /backup/data.tar.gz"), "{restore:?}");
        assert!(o.remediation.is_empty());
    }

    #[test]
    fn each_fault_has_its_status() {
        let vars = Vars::default();
        let cut = read("db.sql", Content::PgDumpall, false, Verdict::Truncated { reason: "no trailer".into() });
        let o = evaluate_integrity(&[cut], B, Status::Critical, &vars, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("tronquée"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.destructive && r.guide == "Stockage P2"));
        let slow = read("big.tar.gz", Content::Tar, true, Verdict::StoppedAtBound);
        let o = evaluate_integrity(&[slow], B, Status::Critical, &vars, Lang::En);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.summary.contains("stopped at the time bound (10 s) after reading 1.0 MiB of 2.0 MiB (50 %)"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.command.as_deref() == Some("gzip -t /backup/big.tar.gz")));
        let denied = read("db.sql", Content::Unknown, false, Verdict::Unreadable { reason: "permission denied".into(), permission: true });
        let o = evaluate_integrity(&[denied], B, Status::Critical, &vars, Lang::En);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.remediation.iter().any(|r| r.command.as_deref().is_some_and(|c| c.starts_with("setfacl -m u:"))));
        let odd = read("notes.sql", Content::Unrecognised, false, Verdict::Unverifiable { reason: "no header".into() });
        assert_eq!(evaluate_integrity(&[odd], B, Status::Critical, &vars, Lang::En).status, Status::Warning);
        let hung = read("db.sql", Content::Unknown, false, Verdict::Hung);
        assert_eq!(evaluate_integrity(&[hung], B, Status::Unknown, &vars, Lang::En).status, Status::Unknown);
    }

    #[test]
    fn bound_is_capped_by_the_timeout() {
        assert_eq!(effective_bound(10.0, 5.0), Duration::from_secs(10));
        assert_eq!(effective_bound(600.0, 3.0), Duration::from_secs(24));
    }
}
