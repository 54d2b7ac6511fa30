//! `storage.permissions` and `storage.usage` on real folders: the stack's project (data folders
//! owned by uid 1000, its key mode 600, its backup fixture) is ok; a data folder owned by root,
//! a private key readable by all, old logs and uncompressed dumps past the threshold each turn
//! exactly their own check non-ok, with the reason.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mssante_diag_core::{CheckResult, Config, Report, Status};
use mssante_diag_tests::{healthy, run_only, Stack};

const CHECKS: &[&str] = &["storage.permissions", "storage.usage"];

fn check<'a>(r: &'a Report, id: &str) -> &'a CheckResult {
    r.check(id).unwrap_or_else(|| panic!("{id} did not run"))
}

#[test]
fn the_stack_project_is_ok() {
    let _g = healthy();
    let r = run_only(Stack::get().config(), CHECKS);
    let p = check(&r, "storage.permissions");
    assert_eq!(p.status, Status::Ok, "{}", p.summary);
    assert!(
        p.summary.contains("3 data folder(s) writable by 1000:1000")
            && p.summary.contains("1 private key(s)"),
        "{}",
        p.summary
    );
    let u = check(&r, "storage.usage");
    assert_eq!(u.status, Status::Ok, "{}", u.summary);
    // The backup fixture's plain pg_dumpall files are counted (three nights).
    assert!(
        u.details["uncompressed_backups"]["count"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{}",
        u.summary
    );
}

/// A platform folder: data/{mail,logs} owned by 1000:1000 mode 755, a key mode 600, a backup folder.
fn project() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mssante-storage-")
        .tempdir()
        .expect("tempdir");
    let p = dir.path();
    for d in [
        "data/mail/test/cur",
        "data/logs",
        "config/certificates/server",
        "backup",
    ] {
        std::fs::create_dir_all(p.join(d)).expect("mkdir");
    }
    for d in ["data", "data/mail", "data/logs"] {
        std::os::unix::fs::chown(p.join(d), Some(1000), Some(1000)).expect("chown");
        std::fs::set_permissions(p.join(d), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::write(
        p.join("data/mail/test/cur/1:2,S"),
        b"Subject: hello\r\n\r\nbody\r\n",
    )
    .expect("mail");
    let key = p.join("config/certificates/server/server.key");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n",
    )
    .expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(
        p.join("mssante-diag.toml"),
        "[storage]\nsmart = false\nbackup_dirs = [\"backup\"]\n",
    )
    .expect("toml");
    dir
}

fn config(p: &Path) -> Config {
    Config::load(p, None).expect("project config")
}

#[test]
fn a_fresh_platform_folder_is_ok() {
    let dir = project();
    let r = run_only(config(dir.path()), CHECKS);
    for id in CHECKS {
        assert_eq!(
            check(&r, id).status,
            Status::Ok,
            "{id}: {}",
            check(&r, id).summary
        );
    }
}

#[test]
fn a_data_folder_owned_by_root_is_critical() {
    let dir = project();
    let mail = dir.path().join("data/mail");
    std::os::unix::fs::chown(&mail, Some(0), Some(0)).expect("chown root");
    let r = run_only(config(dir.path()), CHECKS);
    let c = check(&r, "storage.permissions");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert_eq!(
        c.summary,
        format!(
            "{} (owner 0:0, mode 755) is not writable by the service user 1000:1000 (EACCES)",
            mail.display()
        )
    );
    assert!(c.remediation.iter().any(|s| s.command.as_deref()
        == Some("sudo chown -R 1000:1000 data/")
        && s.guide == "Stockage P1"));
    assert_eq!(
        check(&r, "storage.usage").status,
        Status::Ok,
        "{}",
        check(&r, "storage.usage").summary
    );
}

#[test]
fn a_private_key_readable_by_all_is_critical() {
    let dir = project();
    let key = dir.path().join("config/certificates/server/server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let r = run_only(config(dir.path()), CHECKS);
    let c = check(&r, "storage.permissions");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(
        c.summary
            .contains(&format!("private key {} is mode 644", key.display())),
        "{}",
        c.summary
    );
    assert_eq!(check(&r, "storage.usage").status, Status::Ok);
}

#[test]
fn old_logs_and_uncompressed_dumps_past_the_threshold_warn() {
    let dir = project();
    let p = dir.path();
    let old = p.join("data/logs/api-2026-09.log");
    std::fs::write(&old, vec![b'l'; 3 << 20]).expect("log");
    std::fs::File::options()
        .write(true)
        .open(&old)
        .expect("open")
        .set_modified(SystemTime::now() - Duration::from_secs(45 * 86_400))
        .expect("mtime");
    std::fs::write(p.join("data/logs/api.log"), vec![b'l'; 1 << 20]).expect("fresh log");
    std::fs::write(p.join("backup/mssante-20261101.sql"), vec![b's'; 1 << 20]).expect("dump");
    std::fs::write(
        p.join("backup/mssante-20261102.sql.gz"),
        vec![b'z'; 1 << 20],
    )
    .expect("compressed dump");
    let mut cfg = config(p);
    cfg.storage.reclaimable_warn_mib = 2;
    let r = run_only(cfg, CHECKS);
    let c = check(&r, "storage.usage");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(
        c.summary.starts_with("4.0 MiB reclaimable (largest: ")
            && c.summary.contains("api-2026-09.log"),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains("1 log(s) older than 30 days (3.0 MiB)")
            && c.summary.contains("1 uncompressed backup(s) (1.0 MiB)"),
        "{}",
        c.summary
    );
    assert!(c.remediation.iter().any(|s| s.destructive
        && s.command.as_deref() == Some("find data/logs -name '*.log' -mtime +30 -delete")));
    assert_eq!(check(&r, "storage.permissions").status, Status::Ok);
}
