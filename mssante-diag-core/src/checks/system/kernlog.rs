//! `system.io_errors`: I/O errors in the kernel log (guide: Stockage P2, "sudo dmesg | grep -i
//! error": unreadable mail, disk errors).
//!
//! The kernel's ring buffer is read from `/dev/kmsg` without blocking (what `dmesg` shows,
//! record by record, with each record's time since boot), or a configured file
//! (`/var/log/kern.log`) from its last [`MAX_FILE_TAIL`] bytes. Neither readable: `unknown`,
//! saying why and what to configure.

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{step, Ctx, Outcome, Step};
use crate::logscan::{sample, Level, Matcher};
use crate::model::Metric;
use crate::{tr, units, Lang};

/// Bytes read at most from the end of a kernel log file.
pub const MAX_FILE_TAIL: u64 = 8 * 1024 * 1024;
/// Records read at most from `/dev/kmsg` (its ring buffer holds far fewer).
const MAX_RECORDS: usize = 500_000;
/// Bytes of one `/dev/kmsg` record (the kernel's own limit is about 1 KiB).
const RECORD_BUF: usize = 8192;
/// Samples kept.
const SAMPLES: usize = 5;
/// Devices named at most.
const MAX_DEVICES: usize = 16;

/// Generic remedy of `system.io_errors`.
pub(super) const IO_ERRORS_STEPS: &[Step] = &[
    step!("Read the disk errors of the kernel log", "Lire les erreurs disque du journal du noyau", guide = "Stockage P2", cmd = "dmesg -T | grep -iE 'I/O error|EXT4-fs error|medium error'"),
    step!("Read the disk's SMART report", "Lire le rapport SMART du disque", guide = "Stockage P2", cmd = "smartctl -a /dev/sda"),
    step!(
        "Back up now, while the disk still reads",
        "Sauvegarder maintenant, tant que le disque se lit encore",
        guide = "BD P3",
        cmd = "{docker.compose} exec -T postgres pg_dumpall -U {postgres.user} > backup_emergency.sql"
    ),
    step!(
        "Check the filesystem, unmounted (interrupts service)",
        "Vérifier le système de fichiers, démonté (interrompt le service)",
        guide = "Stockage P2",
        cmd = "fsck /dev/sda1",
        destructive = true
    ),
    step!(
        "Rebuild Dovecot's indexes of a damaged mailbox",
        "Reconstruire les index Dovecot d'une boîte endommagée",
        guide = "Stockage P2",
        cmd = "{docker.compose} exec dovecot doveadm force-resync -u user@domain.mssante.fr INBOX"
    ),
];

/// I/O errors found in the kernel log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IoErrors {
    /// What was read (`/dev/kmsg` or the file).
    pub source: PathBuf,
    /// Lines (records) read.
    pub lines: u64,
    /// Lines that are I/O errors.
    pub errors: u64,
    /// The last error lines (oldest first).
    pub samples: VecDeque<String>,
    /// Devices the error lines name (`sda`, `nvme0n1`, `dm-0`).
    pub devices: BTreeSet<String>,
    /// Seconds since the latest error, when the log tells (`/dev/kmsg`).
    pub latest_age_secs: Option<f64>,
    /// Only the end of the file was read.
    pub truncated: bool,
}

/// The device a kernel error line names: `dev sda,` (block layer), `(device sda1)` (ext4),
/// `(sdb):` (XFS, Btrfs).
fn device_of(line: &str) -> Option<String> {
    let word = |rest: &str| -> Option<String> {
        let w: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!w.is_empty()).then_some(w)
    };
    if let Some(i) = line.find("dev ") {
        return word(&line[i + 4..]);
    }
    if let Some(i) = line.find("(device ") {
        return word(&line[i + 8..]);
    }
    let open = line.find('(')?;
    let w = word(&line[open + 1..])?;
    line[open + 1 + w.len()..].starts_with(')').then_some(w)
}

impl IoErrors {
    fn new(source: &Path) -> Self {
        Self {
            source: source.to_path_buf(),
            ..Self::default()
        }
    }

    /// Takes one line; `at` is its time since boot (seconds) when known.
    fn line(&mut self, matcher: &Matcher, text: &[u8], at: Option<f64>, uptime: Option<f64>) {
        self.lines += 1;
        if matcher.classify(text) != Some(Level::Error) {
            return;
        }
        self.errors += 1;
        let s = sample(text);
        if let Some(d) = device_of(&s).filter(|_| self.devices.len() < MAX_DEVICES) {
            self.devices.insert(d);
        }
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
        if let (Some(at), Some(up)) = (at, uptime) {
            self.latest_age_secs = Some((up - at).max(0.0));
        }
    }
}

/// Scans log text (one line per line) for I/O errors.
#[must_use]
pub fn scan_text(matcher: &Matcher, source: &Path, text: &[u8], truncated: bool) -> IoErrors {
    let mut found = IoErrors::new(source);
    found.truncated = truncated;
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        found.line(matcher, line, None, None);
    }
    found
}

/// Reads a kernel log file's end and scans it (blocking).
///
/// # Errors
/// Why the file could not be read.
pub fn scan_file(matcher: &Matcher, path: &Path) -> std::io::Result<IoErrors> {
    let (text, truncated) = crate::fs::read_tail(path, MAX_FILE_TAIL)?;
    Ok(scan_text(matcher, path, &text, truncated))
}

/// Reads the kernel's ring buffer from a `/dev/kmsg`-format device without blocking, record by
/// record (`PRIO,SEQ,USEC,FLAGS;MESSAGE`), and scans it (blocking, bounded).
///
/// # Errors
/// Why the device could not be opened or read (permission: `dmesg_restrict`).
pub fn scan_kmsg(matcher: &Matcher, path: &Path) -> std::io::Result<IoErrors> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let uptime = crate::fs::read_capped(Path::new("/proc/uptime"), 256)
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok());
    let mut found = IoErrors::new(path);
    let mut buf = vec![0u8; RECORD_BUF];
    for _ in 0..MAX_RECORDS {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // EPIPE: the record was overwritten while we read; the next read goes on.
            Err(e)
                if e.kind() == std::io::ErrorKind::BrokenPipe
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                continue
            }
            // EINVAL on a file that is not a kmsg device (a record larger than the buffer).
            Err(e) => return Err(e),
        };
        let record = &buf[..n];
        let Some(semi) = memchr::memchr(b';', record) else {
            continue;
        };
        let usec = record[..semi]
            .split(|b| *b == b',')
            .nth(2)
            .and_then(|u| std::str::from_utf8(u).ok()?.parse::<u64>().ok());
        let msg = &record[semi + 1..];
        // Continuation lines (` KEY=value`) follow the message's first line.
        let msg = &msg[..memchr::memchr(b'\n', msg).unwrap_or(msg.len())];
        #[allow(clippy::cast_precision_loss)]
        found.line(matcher, msg, usec.map(|u| u as f64 / 1e6), uptime);
    }
    Ok(found)
}

/// Judges the kernel log: any I/O error line is critical (a failing disk or a corrupt
/// filesystem: Stockage P2), naming the devices, the latest line and how long ago.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_io_errors(f: &IoErrors, lang: Lang) -> Outcome {
    let source = f.source.display();
    let metric = Metric::new("io_error_lines", f.errors as f64, "").thresholds(1.0, 1.0);
    if f.errors == 0 {
        let tail = if f.truncated {
            tr!(
                lang,
                " (its last {})",
                " (ses derniers {})",
                units::bytes(MAX_FILE_TAIL, lang)
            )
        } else {
            String::new()
        };
        return Outcome::ok(tr!(
            lang,
            "no I/O error in {source}{tail}: {} line(s) read",
            "aucune erreur d'E/S dans {source}{tail} : {} ligne(s) lue(s)",
            f.lines
        ))
        .details(f)
        .metric(metric);
    }
    let devices = if f.devices.is_empty() {
        String::new()
    } else {
        tr!(
            lang,
            " on {}",
            " sur {}",
            f.devices.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let when = f.latest_age_secs.map_or(String::new(), |a| {
        tr!(
            lang,
            ", the latest {} ago",
            ", la dernière il y a {}",
            units::duration(a, lang)
        )
    });
    let last = f.samples.back().cloned().unwrap_or_default();
    Outcome::critical(tr!(
        lang,
        "{} I/O error line(s) in {source}{devices}{when}: {last}",
        "{} ligne(s) d'erreur d'E/S dans {source}{devices}{when} : {last}",
        f.errors
    ))
    .details(f)
    .metric(metric)
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.system;
    let matcher = match Matcher::new(&s.io_error_patterns, &[] as &[&str]) {
        Ok(m) => m,
        Err(e) => return Outcome::unknown(e.to_string()),
    };
    let file = s.kernel_log.as_ref().map(|p| ctx.config.project_path(p));
    let source = file.clone().unwrap_or_else(|| PathBuf::from("/dev/kmsg"));
    let shown = source.display().to_string();
    let read = ctx
        .step_named(
            "read the kernel log",
            tokio::task::spawn_blocking(move || match &file {
                Some(f) => scan_file(&matcher, f),
                None => scan_kmsg(&matcher, &source),
            }),
        )
        .await;
    match read {
        Ok(Ok(Ok(found))) => evaluate_io_errors(&found, lang),
        Ok(Ok(Err(e))) if e.kind() == std::io::ErrorKind::PermissionDenied => Outcome::unknown(tr!(
            lang,
            "cannot read {shown}: permission denied (run as root, or with CAP_SYSLOG, or set `[system] kernel_log` to a readable copy such as /var/log/kern.log)",
            "impossible de lire {shown} : permission refusée (lancer en root, ou avec CAP_SYSLOG, ou indiquer dans `[system] kernel_log` une copie lisible comme /var/log/kern.log)"
        )),
        Ok(Ok(Err(e))) => Outcome::unknown(tr!(lang, "cannot read {shown}: {}", "impossible de lire {shown} : {}", crate::probe::io_cause(lang, &e))),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(&tr!(lang, "reading {shown}", "lecture de {shown}"), t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn matcher() -> Matcher {
        Matcher::new(
            super::super::settings::DEFAULT_IO_ERROR_PATTERNS,
            &[] as &[&str],
        )
        .expect("compiles")
    }

    #[test]
    fn errors_devices_and_samples() {
        let log = b"Nov 30 10:00:01 host kernel: [  1.0] EXT4-fs (sda1): mounted filesystem\n\
Nov 30 10:02:03 host kernel: [ 99.1] blk_update_request: I/O error, dev sda, sector 123456 op 0x0:(READ) flags 0x0\n\
Nov 30 10:02:04 host kernel: [ 99.2] EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #2: comm dovecot: reading directory lblock 0\n";
        let f = scan_text(&matcher(), Path::new("kern.log"), log, false);
        assert_eq!((f.lines, f.errors), (3, 2));
        assert_eq!(
            f.devices.iter().cloned().collect::<Vec<_>>(),
            ["sda", "sdb1"]
        );
        let o = evaluate_io_errors(&f, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(
            o.summary.contains("sda, sdb1") && o.summary.contains("EXT4-fs error"),
            "{}",
            o.summary
        );
        let clean = scan_text(&matcher(), Path::new("kern.log"), b"eth0: link up\n", false);
        assert_eq!(evaluate_io_errors(&clean, Lang::Fr).status, Status::Ok);
    }

    #[test]
    fn device_names() {
        assert_eq!(
            device_of("Buffer I/O error on dev dm-0, logical block 0").as_deref(),
            Some("dm-0")
        );
        assert_eq!(
            device_of("XFS (sdc): metadata I/O error").as_deref(),
            Some("sdc")
        );
        assert_eq!(device_of("I/O error (nothing here"), None);
    }
}
