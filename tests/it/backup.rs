//! `backup.*` and `storage.smart` with real archives: the stack's own backups (a fresh
//! `pg_dumpall` and a tar.gz of the data folder, tests/stack/project.d/backup.sh) are all ok,
//! and each real fault (an old archive, a dump cut mid-file, a gzip cut short, an empty folder,
//! a folder the user may not read, a disk with no room left) turns exactly its own check non-ok,
//! with the reason.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use mssante_diag_core::{CheckResult, Config, Report, Status};
use mssante_diag_tests::{cli_bin, healthy, run_measuring_memory, run_only, Stack};
use serde_json::json;

const DAY: Duration = Duration::from_secs(86_400);

fn check<'a>(r: &'a Report, id: &str) -> &'a CheckResult {
    r.check(id).unwrap_or_else(|| panic!("{id} did not run"))
}

/// The newest archive of the stack's fixture whose name starts with `prefix`.
fn fixture(stack: &Stack, prefix: &str) -> PathBuf {
    let dir = stack.project.join("backup-fixture");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the stack's backup fixture")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
        .collect();
    names.sort();
    names.pop().unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
}

/// A scratch folder under /tmp that every user may enter.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("mssante-backup-").tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn folder(parent: &Path, name: &str) -> PathBuf {
    let p = parent.join(name);
    std::fs::create_dir_all(&p).expect("mkdir");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn age(path: &Path, by: Duration) {
    let f = std::fs::File::options().write(true).open(path).expect("open");
    f.set_modified(SystemTime::now() - by).expect("set mtime");
}

fn config(stack: &Stack, paths: &[&Path]) -> Config {
    stack.config().with_overrides(&json!({ "backup": { "paths": paths } })).expect("valid overrides")
}

/// Runs both backup checks on `paths`; asserts `id` has `status` and the other is `other`.
fn only(stack: &Stack, paths: &[&Path], id: &str, status: Status, other: Status) -> CheckResult {
    let r = run_only(config(stack, paths), &["backup"]);
    for c in &r.checks {
        let want = if c.id == id { status } else { other };
        assert_eq!(c.status, want, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    check(&r, id).clone()
}

#[test]
fn the_stacks_fresh_backups_are_all_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["backup"]);
    let fresh = check(&r, "backup.freshness");
    assert_eq!(fresh.status, Status::Ok, "{}", fresh.summary);
    // Six archives: the latest.tar.gz link is the newest tar, counted once.
    assert!(fresh.summary.contains("backup-fixture") && fresh.summary.contains("6 archive(s)"), "{}", fresh.summary);
    let read = check(&r, "backup.integrity");
    assert_eq!(read.status, Status::Ok, "{}\n{:#}", read.summary, read.details);
    assert!(read.summary.contains("2 archive(s) read to the end"), "{}", read.summary);
    assert!(read.summary.contains("pg_dumpall, trailer present") && read.summary.contains("gzip, tar, "), "{}", read.summary);
    // The restore commands are shown (never run), citing the platform's configuration.
    let restore: Vec<&str> = read.details["restore"].as_array().expect("restore commands").iter().filter_map(|c| c.as_str()).collect();
    assert!(restore.iter().any(|c| c.starts_with("./scripts/backup/restore.sh ") && c.contains("/backup-fixture/data-")), "{restore:?}");
    assert!(restore.iter().any(|c| c.contains("/backup-fixture/mssante-") && c.contains("exec -T postgres psql -U mssante")), "{restore:?}");
}

#[test]
fn an_archive_three_days_old_is_critical_freshness_only() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "old");
    for src in [fixture(stack, "mssante-"), fixture(stack, "data-")] {
        let dst = dir.join(src.file_name().expect("name"));
        std::fs::copy(&src, &dst).expect("copy");
        age(&dst, 3 * DAY);
    }
    let c = only(stack, &[&dir], "backup.freshness", Status::Critical, Status::Ok);
    assert!(c.summary.contains("is 3 d old") && c.summary.contains("threshold 50 h"), "{}", c.summary);
    assert!(c.remediation.iter().any(|s| s.guide == "BD P3" && s.command.as_deref().is_some_and(|x| x.contains("pg_dumpall"))), "{:?}", c.remediation);
}

#[test]
fn a_dump_cut_mid_file_is_critical_integrity_only() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "cut");
    let dump = std::fs::read(fixture(stack, "mssante-")).expect("dump");
    std::fs::write(dir.join("mssante-20260101-0300.sql"), &dump[..dump.len() / 2]).expect("write");
    let c = only(stack, &[&dir], "backup.integrity", Status::Critical, Status::Ok);
    assert!(c.summary.contains("is cut short") && c.summary.contains("-- PostgreSQL database cluster dump complete"), "{}", c.summary);
    assert!(c.remediation.iter().any(|s| s.destructive && s.command.as_deref().is_some_and(|x| x.starts_with("./scripts/backup/restore.sh"))), "{:?}", c.remediation);
    // The same dump whole is fine.
    std::fs::write(dir.join("mssante-20260102-0300.sql"), &dump).expect("write");
    let r = run_only(config(stack, &[&dir]), &["backup.integrity"]);
    assert_eq!(check(&r, "backup.integrity").status, Status::Ok, "{}", check(&r, "backup.integrity").summary);
}

#[test]
fn a_gzip_cut_short_is_critical_integrity_only() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "gz");
    let out = Command::new("gzip").arg("-c").arg(fixture(stack, "mssante-")).output().expect("gzip runs");
    assert!(out.status.success());
    let gz = out.stdout;
    std::fs::write(dir.join("mssante-1.sql.gz"), &gz[..gz.len() * 2 / 3]).expect("write");
    let c = only(stack, &[&dir], "backup.integrity", Status::Critical, Status::Ok);
    assert!(c.summary.contains("mssante-1.sql.gz is cut short"), "{}", c.summary);
    // The data folder's tar.gz cut short too: the tar listing or the gzip stream ends early.
    let tgz = std::fs::read(fixture(stack, "data-")).expect("tar.gz");
    std::fs::write(dir.join("data-1.tar.gz"), &tgz[..tgz.len() - 10]).expect("write");
    let r = run_only(config(stack, &[&dir]), &["backup.integrity"]);
    let c = check(&r, "backup.integrity");
    assert!(c.summary.contains("data-1.tar.gz is cut short"), "{}", c.summary);
}

#[test]
fn an_empty_folder_is_critical_freshness_and_nothing_to_read() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "empty");
    std::fs::write(dir.join("README.txt"), "backups go here\n").expect("write");
    let c = only(stack, &[&dir], "backup.freshness", Status::Critical, Status::Skipped);
    assert!(c.summary.contains("no backup archive in") && c.summary.contains("1 other file"), "{}", c.summary);
    let r = run_only(config(stack, &[&dir]), &["backup.integrity"]);
    assert!(check(&r, "backup.integrity").summary.contains("see backup.freshness"));
    let gone = tmp.path().join("absent");
    let c = only(stack, &[&gone], "backup.freshness", Status::Critical, Status::Skipped);
    assert!(c.summary.contains("does not exist"), "{}", c.summary);
}

/// Runs `check backup` with the CLI as `nobody` (root reads everything: the test needs a
/// user the permissions apply to).
fn as_nobody(tmp: &Path, paths: &[&Path]) -> serde_json::Value {
    let toml = tmp.join("mssante-diag.toml");
    let list = paths.iter().map(|p| format!("\"{}\"", p.display())).collect::<Vec<_>>().join(", ");
    std::fs::write(&toml, format!("[backup]\npaths = [{list}]\n")).expect("write config");
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(cli_bin())
        .arg("--project")
        .arg(tmp)
        .args(["--lang", "en", "check", "backup", "--format", "json"])
        .output()
        .expect("runuser runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)))
}

fn cli_check<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["checks"].as_array().expect("checks").iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} missing"))
}

#[test]
fn a_folder_the_user_cannot_read_is_unknown_with_the_grant_never_missing() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let locked = folder(tmp.path(), "locked");
    std::fs::copy(fixture(stack, "mssante-"), locked.join("mssante-1.sql")).expect("copy");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let doc = as_nobody(tmp.path(), &[&locked]);
    let fresh = cli_check(&doc, "backup.freshness");
    assert_eq!(fresh["status"], "unknown", "{fresh:#}");
    let summary = fresh["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("cannot read") && summary.contains("as nobody") && !summary.contains("no backup archive"), "{summary}");
    let grant = format!("setfacl -R -m u:nobody:rX {}", locked.display());
    assert!(fresh["remediation"].as_array().expect("remedy").iter().any(|s| s["command"].as_str().is_some_and(|c| c.starts_with(&grant))), "{fresh:#}");
    assert_eq!(cli_check(&doc, "backup.integrity")["status"], "skipped");

    // A folder it may list, holding an archive it may not read: freshness sees the archive,
    // integrity says it could not read it and which grant would allow it.
    let open = folder(tmp.path(), "open");
    let dump = open.join("mssante-1.sql");
    std::fs::copy(fixture(stack, "mssante-"), &dump).expect("copy");
    std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let doc = as_nobody(tmp.path(), &[&open]);
    assert_eq!(cli_check(&doc, "backup.freshness")["status"], "ok", "{doc:#}");
    let read = cli_check(&doc, "backup.integrity");
    assert_eq!(read["status"], "unknown", "{read:#}");
    assert!(read["summary"].as_str().is_some_and(|s| s.contains("cannot read mssante-1.sql as nobody")), "{read:#}");
    let grant = format!("setfacl -m u:nobody:r {}", dump.display());
    assert!(read["remediation"].as_array().expect("remedy").iter().any(|s| s["command"] == grant.as_str()), "{read:#}");
}

/// A `pg_dump` of the stack's database in the given format (`c` custom, `p` plain), as bytes.
fn pg_dump(stack: &Stack, format: &str, extra: &[&str]) -> Vec<u8> {
    let out = Command::new(Path::new(stack.var("PG_BIN")).join("pg_dump"))
        .env("PGPASSWORD", stack.var("PG_PASSWORD"))
        .args(["-h", stack.var("STACK_HOST"), "-p", stack.var("PG_PORT"), "-U", stack.var("PG_USER"), "-d", stack.var("PG_DB")])
        .arg(format!("--format={format}"))
        .args(extra)
        .output()
        .expect("pg_dump runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn custom_format_dumps_are_read_by_pg_restore() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "custom");
    let dump = pg_dump(stack, "c", &[]);
    std::fs::write(dir.join("mssante-1.dump"), &dump).expect("write");
    age(&dir.join("mssante-1.dump"), Duration::from_secs(3600));
    let r = run_only(config(stack, &[&dir]), &["backup.integrity"]);
    let c = check(&r, "backup.integrity");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("pg_dump custom format") && c.summary.contains("entries listed"), "{}", c.summary);
    // Cut in its data: its table of contents still lists, its data does not read to the end.
    std::fs::write(dir.join("mssante-2.dump"), &dump[..dump.len() - 300]).expect("write");
    let c = only(stack, &[&dir], "backup.integrity", Status::Critical, Status::Ok);
    assert!(c.summary.contains("mssante-2.dump is cut short") && c.summary.contains("end of file"), "{}", c.summary);
}

#[test]
fn a_sudden_drop_in_size_warns() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "drop");
    let full = std::fs::read(fixture(stack, "mssante-")).expect("dump");
    for (n, days) in [(1, 2), (2, 1)] {
        let p = dir.join(format!("mssante-{n}.sql"));
        std::fs::write(&p, &full).expect("write");
        age(&p, days * DAY);
    }
    // Tonight's dump is complete, but holds one table only: data is missing from the backup.
    std::fs::write(dir.join("mssante-3.sql"), pg_dump(stack, "p", &["--table=schema_migrations"])).expect("write");
    let c = only(stack, &[&dir], "backup.freshness", Status::Warning, Status::Ok);
    assert!(c.summary.contains("mssante-3.sql") && c.summary.contains("sudden drop"), "{}", c.summary);
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn no_room_for_the_next_backup_is_critical() {
    let stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "small");
    // The stack's real dump, led by SQL comments up to at least 11,900 bytes (its own size
    // depends on what the database holds), on a tmpfs that fits three of them and one page:
    // whatever the dump's size, the next backup cannot fit.
    let real = std::fs::read(fixture(stack, "mssante-")).expect("dump");
    // Padding after the header's first three lines (`--`, `-- PostgreSQL database cluster dump`, `--`).
    let header_end = real.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(2).map_or(0, |(i, _)| i + 1);
    let mut dump = real[..header_end].to_vec();
    while dump.len() + real.len() - header_end < 11_900 {
        dump.extend_from_slice(b"-- padding of the test archive\n");
    }
    dump.extend_from_slice(&real[header_end..]);
    let pages = dump.len().div_ceil(4096);
    let size = format!("size={}", (3 * pages + 1) * 4096);
    let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(&dir).status().expect("mount runs");
    assert!(ok.success(), "mounting a small tmpfs");
    let _mount = Tmpfs(dir.clone());
    for (n, days) in [(1, 2), (2, 1), (3, 0)] {
        let p = dir.join(format!("mssante-{n}.sql"));
        std::fs::write(&p, &dump).expect("write");
        age(&p, days * DAY);
    }
    let c = only(stack, &[&dir], "backup.freshness", Status::Critical, Status::Ok);
    assert!(c.summary.contains("free under") && c.summary.contains("the next backup needs about "), "{}", c.summary);
}

#[test]
fn a_large_archive_stops_at_the_bound_with_flat_memory() {
    let _stack = Stack::get();
    let _g = healthy();
    let tmp = scratch();
    let dir = folder(tmp.path(), "large");
    // 48 MiB that do not compress, in a tar.gz (as a data-folder backup would be).
    let blob = tmp.path().join("blob.bin");
    let mut random = std::fs::File::open("/dev/urandom").expect("urandom");
    let mut out = std::fs::File::create(&blob).expect("blob");
    std::io::copy(&mut std::io::Read::take(&mut random, 48 << 20), &mut out).expect("write blob");
    let archive = dir.join("data-1.tar.gz");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!("tar -C {} -cf - blob.bin | gzip -1 > {}", tmp.path().display(), archive.display()))
        .status()
        .expect("tar runs");
    assert!(made.success());
    let size = std::fs::metadata(&archive).expect("archive").len();
    let measure = |bound: f64| {
        let toml = tmp.path().join(format!("bound-{bound}.toml"));
        std::fs::write(&toml, format!("[backup]\npaths = [\"{}\"]\nintegrity_max_secs = {bound}\n", dir.display())).expect("config");
        let mut cmd = Command::new(cli_bin());
        cmd.arg("--project").arg(tmp.path()).arg("--config").arg(&toml).args(["--lang", "en", "check", "backup.integrity", "--format", "json"]);
        let (out, peak_kib) = run_measuring_memory(cmd);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        (cli_check(&doc, "backup.integrity").clone(), peak_kib)
    };
    let (short, short_peak) = measure(0.02);
    assert_eq!(short["status"], "unknown", "{short:#}");
    let summary = short["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("stopped at the time bound (0.02 s) after reading") && summary.contains("no error so far"), "{summary}");
    let read = short["details"]["archives"][0]["read_bytes"].as_u64().expect("read_bytes");
    assert!(read < size, "stopped before the end: {read} of {size}");
    let (full, full_peak) = measure(60.0);
    assert_eq!(full["status"], "ok", "{full:#}");
    assert!(full["summary"].as_str().is_some_and(|s| s.contains("gzip, tar, 1 entries")), "{full:#}");
    // Reading the whole 48 MiB costs no more memory than reading a little of it.
    assert!(full_peak < 64 * 1024 && full_peak.abs_diff(short_peak) < 8 * 1024, "peak RSS {short_peak} KiB (stopped) vs {full_peak} KiB (whole archive)");
}

#[test]
fn smart_on_this_machine_is_read_or_skipped_with_the_reason() {
    let stack = Stack::get();
    let _g = healthy();
    // The stack's project disables it, explicitly (its virtual disk has no SMART data).
    let r = run_only(stack.config(), &["storage.smart"]);
    let c = check(&r, "storage.smart");
    assert_eq!(c.status, Status::Skipped);
    assert!(c.summary.contains("[storage] smart = false"), "{}", c.summary);
    // The stack's state dir is a tmpfs: named as not on a disk, with the filesystem's type.
    let on_tmpfs = stack.project.join("data");
    let enabled = stack.config().with_overrides(&json!({ "storage": { "smart": true, "smart_paths": [on_tmpfs] } })).expect("valid");
    let r = run_only(enabled, &["storage.smart"]);
    let c = check(&r, "storage.smart");
    let not_on_disk = c.details["not_on_a_disk"].as_array().expect("not_on_a_disk");
    assert!(not_on_disk.iter().any(|n| n["reason"].as_str().is_some_and(|r| r.starts_with("tmpfs"))), "{:#}", c.details);
    // This checkout is on the machine's disk.
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let enabled = stack.config().with_overrides(&json!({ "storage": { "smart": true, "smart_paths": [data] } })).expect("valid");
    let r = run_only(enabled.clone(), &["storage.smart"]);
    let c = check(&r, "storage.smart");
    let disks = c.details["disks"].as_array().expect("disks");
    assert!(!disks.is_empty(), "the data folder is on some disk: {:#}", c.details);
    let virtual_only = disks.iter().all(|d| d["device"].as_str().is_some_and(|p| p.starts_with("/dev/vd") || p.starts_with("/dev/xvd")));
    if virtual_only {
        // A virtio disk answers no SMART: skipped, with smartctl's own reason.
        assert_eq!(c.status, Status::Skipped, "{}", c.summary);
        assert!(c.summary.contains("no SMART data") && c.summary.contains("Unable to detect device type"), "{}", c.summary);
    } else {
        assert_ne!(c.status, Status::Unknown, "{}", c.summary);
    }
    // Without smartctl on the PATH: skipped, saying what to install.
    let toml = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(toml.path(), format!("[storage]\nsmart_paths = [\"{}\"]\n", data.display())).expect("write");
    let out = Command::new(cli_bin())
        .env("PATH", "/nonexistent")
        .arg("--project")
        .arg(&stack.project)
        .arg("--config")
        .arg(toml.path())
        .args(["--lang", "en", "check", "storage.smart", "--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let c = cli_check(&doc, "storage.smart");
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(c["summary"].as_str().is_some_and(|s| s.contains("install smartmontools")), "{c:#}");
}
