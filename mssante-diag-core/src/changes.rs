//! `--changes`: what changed since the previous run of the same project.
//!
//! The last report is kept in a state file of the tool's own (default
//! `$XDG_STATE_HOME/mssante-diag/<project-hash>.json`, else
//! `~/.local/state/mssante-diag/<project-hash>.json`); a run compares its results with it,
//! check by check, then stores its own (results of checks not run this time are kept, so a
//! `quick` run does not forget what a full `check` saw). The first run finds everything new.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{CheckResult, Report, Status};

/// Largest state file read, bytes (a report is a few hundred KiB at most).
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// How a check changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Not seen before (every check on the first run), or a problem that was ok or skipped.
    New,
    /// A problem (warning, critical, unknown) that is now ok or skipped.
    Resolved,
    /// Another status than last time (e.g. warning to critical, ok to skipped).
    Changed,
}

/// One check that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// How it changed.
    pub kind: ChangeKind,
    /// Its status in the previous run, if it ran then.
    pub before: Option<Status>,
    /// Its result now.
    pub check: CheckResult,
}

/// What changed since the previous run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// Start of the previous run (`None`: no previous run, everything is new).
    pub since: Option<String>,
    /// Overall status of the current run (all its checks, changed or not).
    pub status: Status,
    /// The changed checks, in report order.
    pub changes: Vec<Change>,
}

impl Changes {
    /// The current report cut down to the changed checks (for the Nagios and Prometheus formats).
    #[must_use]
    pub fn report(&self, current: &Report) -> Report {
        let checks: Vec<CheckResult> = self.changes.iter().map(|c| c.check.clone()).collect();
        Report {
            status: Report::overall(&checks),
            checks,
            ..current.clone()
        }
    }
}

fn is_problem(s: Status) -> bool {
    matches!(s, Status::Warning | Status::Critical | Status::Unknown)
}

/// Compares the current report with the previous one (checks absent from `current` are not
/// compared: not run is not resolved).
#[must_use]
pub fn diff(previous: Option<&Report>, current: &Report) -> Changes {
    let mut changes = Vec::new();
    for c in &current.checks {
        let before = previous.and_then(|p| p.check(&c.id)).map(|p| p.status);
        let kind = match before {
            None => Some(ChangeKind::New),
            Some(b) if b == c.status => None,
            Some(b) if is_problem(b) && !is_problem(c.status) => Some(ChangeKind::Resolved),
            Some(b) if !is_problem(b) && is_problem(c.status) => Some(ChangeKind::New),
            Some(_) => Some(ChangeKind::Changed),
        };
        if let Some(kind) = kind {
            changes.push(Change {
                kind,
                before,
                check: c.clone(),
            });
        }
    }
    Changes {
        since: previous.map(|p| p.started_at.clone()),
        status: current.status,
        changes,
    }
}

/// The default state file of a project: `<state dir>/mssante-diag/<hash>.json`, the hash
/// taken over the project folder and the configuration file.
#[must_use]
pub fn default_state_file(project_dir: &Path, config_file: Option<&Path>) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    let mut h = Sha256::new();
    h.update(project_dir.as_os_str().as_encoded_bytes());
    h.update([0]);
    if let Some(f) = config_file {
        h.update(f.as_os_str().as_encoded_bytes());
    }
    let digest = h.finalize();
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    base.join("mssante-diag").join(format!("{name}.json"))
}

/// The report kept in `path`; `None` when there is none or it is unreadable (a damaged state
/// file is a first run, not an error).
#[must_use]
pub fn load(path: &Path) -> Option<Report> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_STATE_BYTES).read_to_end(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

/// Stores `current` in `path` (mode 600, through a temporary file renamed over it), with the
/// results of `previous` for the checks `current` did not run.
///
/// # Errors
/// [`Error::Io`] when the state file cannot be written.
pub fn save(path: &Path, previous: Option<&Report>, current: &Report) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut merged = current.clone();
    if let Some(p) = previous {
        merged.checks.extend(
            p.checks
                .iter()
                .filter(|c| current.check(&c.id).is_none())
                .cloned(),
        );
        let order: Vec<&'static str> = crate::catalogue().iter().map(|d| d.id).collect();
        merged.checks.sort_by_key(|c| {
            order
                .iter()
                .position(|id| *id == c.id)
                .unwrap_or(usize::MAX)
        });
    }
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(merged.to_json().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Loads the previous report from `path`, compares, stores the current one: the whole of `--changes`.
///
/// # Errors
/// [`Error::Io`] when the state file cannot be written.
pub fn track(path: &Path, current: &Report) -> Result<Changes> {
    let previous = load(path);
    let changes = diff(previous.as_ref(), current);
    save(path, previous.as_ref(), current)?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, status: Status) -> CheckResult {
        CheckResult {
            id: id.into(),
            subsystem: id.split('.').next().unwrap_or(id).into(),
            status,
            summary: format!("{id} is {status}"),
            details: serde_json::Value::Null,
            metrics: vec![],
            remediation: vec![],
            duration_ms: 1,
        }
    }

    fn report(checks: Vec<CheckResult>) -> Report {
        Report {
            schema_version: 1,
            version: "t".into(),
            host: "h".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 1,
            status: Report::overall(&checks),
            checks,
            notices: Vec::new(),
        }
    }

    #[test]
    fn first_run_is_all_new_then_only_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("sub/state.json");
        let one = report(vec![
            result("smtp.auth", Status::Ok),
            result("postgres.size", Status::Warning),
            result("redis.memory", Status::Ok),
        ]);
        let c = track(&state, &one).expect("first");
        assert!(
            c.since.is_none()
                && c.changes.len() == 3
                && c.changes.iter().all(|c| c.kind == ChangeKind::New)
        );
        let c = track(&state, &one).expect("same again");
        assert!(c.changes.is_empty(), "{c:?}");
        let two = report(vec![
            result("smtp.auth", Status::Critical),
            result("postgres.size", Status::Ok),
            result("redis.memory", Status::Skipped),
        ]);
        let c = track(&state, &two).expect("second");
        let kinds: Vec<(&str, ChangeKind, Option<Status>)> = c
            .changes
            .iter()
            .map(|c| (c.check.id.as_str(), c.kind, c.before))
            .collect();
        assert_eq!(
            kinds,
            [
                ("smtp.auth", ChangeKind::New, Some(Status::Ok)),
                ("postgres.size", ChangeKind::Resolved, Some(Status::Warning)),
                ("redis.memory", ChangeKind::Changed, Some(Status::Ok))
            ]
        );
        assert_eq!(c.report(&two).checks.len(), 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&state)
                .expect("state")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn a_partial_run_keeps_the_other_results_and_damage_is_a_first_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("s.json");
        track(
            &state,
            &report(vec![
                result("smtp.auth", Status::Critical),
                result("redis.memory", Status::Ok),
            ]),
        )
        .expect("full");
        let c = track(&state, &report(vec![result("redis.memory", Status::Ok)])).expect("partial");
        assert!(c.changes.is_empty());
        let c = track(&state, &report(vec![result("smtp.auth", Status::Ok)])).expect("again");
        assert_eq!(c.changes[0].kind, ChangeKind::Resolved);
        std::fs::write(&state, b"{garbage").expect("damage");
        assert!(
            track(&state, &report(vec![result("smtp.auth", Status::Ok)]))
                .expect("damaged")
                .since
                .is_none()
        );
    }

    #[test]
    fn state_file_depends_on_the_project() {
        let a = default_state_file(Path::new("/srv/a"), None);
        assert_ne!(a, default_state_file(Path::new("/srv/b"), None));
        assert!(
            a.to_string_lossy().contains("mssante-diag/"),
            "{}",
            a.display()
        );
    }
}
