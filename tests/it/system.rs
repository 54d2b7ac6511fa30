//! `system.*` on the real host: the stack's listeners with their processes, its NTP-disciplined
//! clock, the host's load and memory, a clean kernel log are all ok; and each real fault (a
//! process of this test holding the API port, an expected port left free, a small tmpfs filled
//! over 95 % in bytes and in inodes, a kernel log with I/O errors, a clock error above the
//! threshold) turns exactly its own check non-ok, with the reason.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use mssante_diag_core::checks::system::{self, ExpectedPort};
use mssante_diag_core::logscan::Matcher;
use mssante_diag_core::{CheckResult, Config, Report, Status};
use mssante_diag_tests::{healthy, run_only, Stack};

fn check<'a>(r: &'a Report, id: &str) -> &'a CheckResult {
    r.check(id).unwrap_or_else(|| panic!("{id} did not run"))
}

/// Every `system.*` check of a report but `except` is ok.
fn others_ok(r: &Report, except: &str) {
    for c in r
        .checks
        .iter()
        .filter(|c| c.subsystem == "system" && c.id != except)
    {
        assert_eq!(c.status, Status::Ok, "{}: {}", c.id, c.summary);
    }
}

#[test]
fn healthy_host_is_ok() {
    let _g = healthy();
    let stack = Stack::get();
    let r = run_only(stack.config(), &["system"]);
    others_ok(&r, "");
    let ports = check(&r, "system.ports");
    for (port, process) in [
        (stack.var("PG_PORT"), "postgres"),
        (stack.var("SMTP_PORT"), "master"),
        (stack.var("IMAP_PORT"), "dovecot"),
        (stack.var("API_PORT"), "nginx"),
    ] {
        assert!(
            ports.summary.contains(&format!("{port} {process}")),
            "{}",
            ports.summary
        );
    }
    let clock = check(&r, "system.clock");
    assert!(
        clock.summary.contains("synchronised") && clock.metrics[0].value < 100.0,
        "{}",
        clock.summary
    );
    assert!(check(&r, "system.resources")
        .metrics
        .iter()
        .any(|m| m.name == "memory_available" && m.value > 0.0));
}

/// A fresh address of the stack's loopback range nobody else uses.
const SPARE: &str = "127.0.77.23";

#[test]
fn a_process_holding_the_api_port_is_a_conflict_and_a_free_port_is_reported() {
    let _g = healthy();
    let addr: IpAddr = SPARE.parse().expect("ip");
    let intruder = TcpListener::bind((addr, 3000)).expect("bind 127.0.77.23:3000");
    let mut cfg = Stack::get().config();
    cfg.system.ports = vec![
        ExpectedPort {
            name: "api".into(),
            port: 3000,
            address: Some(addr),
            processes: vec!["node".into(), "docker-proxy".into()],
        },
        ExpectedPort {
            name: "redis".into(),
            port: 3001,
            address: Some(addr),
            processes: vec!["redis-server".into()],
        },
    ];
    let r = run_only(cfg, &["system"]);
    others_ok(&r, "system.ports");
    let c = check(&r, "system.ports");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    let me = std::fs::read_to_string("/proc/self/comm")
        .expect("comm")
        .trim()
        .to_owned();
    let pid = std::process::id();
    assert!(
        c.summary
            .contains(&format!("port {SPARE}:3000 (api) held by {me} (pid {pid})")),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains("expected node/docker-proxy"),
        "{}",
        c.summary
    );
    assert!(
        c.summary
            .contains(&format!("nothing listens on {SPARE}:3001 (redis)")),
        "{}",
        c.summary
    );
    assert!(c
        .remediation
        .iter()
        .any(|s| s.command.as_deref() == Some(&*format!("ps -o pid,user,lstart,args -p {pid}"))));
    assert!(c
        .remediation
        .iter()
        .any(|s| s.guide == "Démarrage P1" && s.destructive));
    drop(intruder);

    // Once the port is given back, only the free port remains: a warning.
    let mut cfg = Stack::get().config();
    cfg.system.ports = vec![ExpectedPort {
        name: "api".into(),
        port: 3000,
        address: Some(addr),
        processes: vec!["node".into()],
    }];
    let c = run_only(cfg, &["system.ports"]);
    let c = check(&c, "system.ports");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(
        c.summary
            .contains(&format!("nothing listens on {SPARE}:3000 (api)")),
        "{}",
        c.summary
    );
}

/// A tmpfs mounted for the test (root), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(options: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mssante-tmpfs-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                options,
                "mssante-test",
                &dir.path().to_string_lossy(),
            ])
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

fn disk_config(path: &Path) -> Config {
    let mut cfg = Stack::get().config();
    cfg.system.disk_paths = vec![path.to_path_buf()];
    cfg
}

#[test]
fn a_small_filesystem_full_in_bytes_or_in_inodes_is_critical() {
    let _g = healthy();
    // Bytes: 250 of 256 pages written.
    let fs = Tmpfs::mount("size=1m,nr_inodes=1000,mode=755");
    std::fs::write(fs.path().join("blob"), vec![0u8; 250 * 4096]).expect("fill");
    let r = run_only(disk_config(fs.path()), &["system"]);
    others_ok(&r, "system.disk");
    let d = check(&r, "system.disk");
    assert_eq!(d.status, Status::Critical, "{}", d.summary);
    assert!(
        d.summary.starts_with("disk 9") && d.summary.contains(&fs.path().display().to_string()),
        "{}",
        d.summary
    );
    assert!(d
        .remediation
        .iter()
        .any(|s| s.guide == "Démarrage P3" && s.destructive));

    // Inodes: 63 of 64 used (the root folder is one), almost no byte.
    let fs = Tmpfs::mount("size=4m,nr_inodes=64,mode=755");
    for i in 0..62 {
        std::fs::write(fs.path().join(format!("f{i}")), b"").expect("create");
    }
    let r = run_only(disk_config(fs.path()), &["system.disk"]);
    let d = check(&r, "system.disk");
    assert_eq!(d.status, Status::Critical, "{}", d.summary);
    assert!(d.summary.starts_with("inodes 9"), "{}", d.summary);
    assert!(d
        .metrics
        .iter()
        .any(|m| m.name == "inodes_used" && m.value > 95.0));
}

fn kernel_log_config(file: &Path) -> Config {
    let mut cfg = Stack::get().config();
    cfg.system.kernel_log = Some(file.to_path_buf());
    cfg
}

#[test]
fn io_errors_in_the_kernel_log_are_critical() {
    let _g = healthy();
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("kern.log");
    std::fs::write(
        &log,
        "Nov 30 03:12:44 mssante kernel: [812345.100201] ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x0\n\
         Nov 30 03:12:44 mssante kernel: [812345.100215] ata1.00: failed command: READ DMA EXT\n\
         Nov 30 03:12:44 mssante kernel: [812345.100840] blk_update_request: I/O error, dev sda, sector 81920816 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0\n\
         Nov 30 03:12:45 mssante kernel: [812346.002113] EXT4-fs error (device sda1): ext4_find_entry:1658: inode #1835009: comm dovecot: reading directory lblock 0\n\
         Nov 30 03:12:45 mssante kernel: [812346.002120] EXT4-fs (sda1): Remounting filesystem read-only\n",
    )
    .expect("write");
    let r = run_only(kernel_log_config(&log), &["system"]);
    others_ok(&r, "system.io_errors");
    let c = check(&r, "system.io_errors");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(
        c.summary.starts_with("4 I/O error line(s)") && c.summary.contains("on sda, sda1"),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains("Remounting filesystem read-only"),
        "{}",
        c.summary
    );
    assert!(c
        .remediation
        .iter()
        .any(|s| s.command.as_deref() == Some("smartctl -a /dev/sda")));

    // A log that is one endless line is read up to its cap: nothing to judge, no hang.
    let endless = dir.path().join("endless.log");
    std::fs::write(&endless, vec![b'x'; 20 << 20]).expect("write");
    let c = run_only(kernel_log_config(&endless), &["system.io_errors"]);
    assert_eq!(check(&c, "system.io_errors").status, Status::Ok);

    // A log that cannot be read: unknown, with the reason.
    let c = run_only(
        kernel_log_config(&dir.path().join("absent.log")),
        &["system.io_errors"],
    );
    let c = check(&c, "system.io_errors");
    assert_eq!(c.status, Status::Unknown, "{}", c.summary);
    assert!(c.summary.contains("absent.log"), "{}", c.summary);
}

#[test]
fn the_kernel_ring_buffer_is_read_without_blocking() {
    // /dev/kmsg as root: every record there is, then EAGAIN (never a wait for new ones).
    let m = Matcher::new(system::DEFAULT_IO_ERROR_PATTERNS, &[] as &[&str]).expect("patterns");
    let started = std::time::Instant::now();
    let found = system::scan_kmsg(&m, Path::new("/dev/kmsg")).expect("root reads /dev/kmsg");
    assert!(
        found.lines > 0 && started.elapsed().as_secs() < 5,
        "{found:?}"
    );
    assert_eq!(found.source, PathBuf::from("/dev/kmsg"));
}

#[test]
fn a_clock_error_over_the_threshold_is_reported() {
    let _g = healthy();
    let now = system::read_clock().expect("adjtimex");
    assert!(
        now.synchronised,
        "the stack's NTP client keeps the kernel clock synchronised: {now:?}"
    );
    let mut cfg = Stack::get().config();
    // Thresholds below the kernel's real error bound (it only grows between NTP updates).
    cfg.system.clock_warn_ms = now.max_error_ms / 4.0;
    cfg.system.clock_crit_ms = now.max_error_ms / 2.0;
    let r = run_only(cfg, &["system"]);
    others_ok(&r, "system.clock");
    let c = check(&r, "system.clock");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("error may reach"), "{}", c.summary);
    assert!(c
        .remediation
        .iter()
        .any(|s| s.guide == "Auth P2" && s.command.as_deref() == Some("timedatectl set-ntp true")));
}

#[test]
fn memory_below_the_threshold_is_reported() {
    let _g = healthy();
    let mut cfg = Stack::get().config();
    // Every host has less than 100 % of its memory available.
    cfg.system.memory_warn_pct = 100.0;
    let r = run_only(cfg, &["system"]);
    others_ok(&r, "system.resources");
    let c = check(&r, "system.resources");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(c.summary.contains("% of memory available"), "{}", c.summary);
}
