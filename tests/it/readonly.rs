//! The read-only guarantee: every check of the healthy stack, run by the CLI with the platform
//! folder and its data (the stack's state folder: project, `.env`, certificates, logs, queues,
//! databases' files) bind-mounted read-only in a private mount namespace, AND traced by
//! `strace -f` (the tool and every tool it runs): the report stays all ok, and no syscall
//! opens a file for writing, creates, removes, renames, links, or changes the mode, owner or
//! size of one — outside an allow-list:
//! - `/dev/null` (`doveadm` opens it `O_WRONLY|O_CREAT|O_APPEND` for its own log);
//! - with `--changes`, the state file the user named (its folder, the temporary file beside
//!   it and the rename over it): the tool's own output, asked for.
//!
//! Sockets (Docker, PostgreSQL, Dovecot, Postfix's showq) are connected to, not files written:
//! `connect` is not a file syscall, and a socket on a read-only mount still accepts connections.

use std::path::{Path, PathBuf};
use std::process::Command;

use mssante_diag_tests::{cli_bin, disabled_in, healthy, Stack};

/// Syscalls that write a file whatever their arguments.
const WRITING: &[&str] = &[
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown",
    "fchownat", "truncate", "ftruncate", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "mount", "umount2", "swapon", "acct", "chroot", "pivot_root",
];
/// Syscalls that write when their flags say so.
const OPENING: &[&str] = &["open", "openat", "openat2", "open_by_handle_at"];
/// Open flags that mean writing.
const WRITE_FLAGS: &[&str] = &["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE"];

/// The quoted paths of an strace line.
fn paths(args: &str) -> Vec<String> {
    args.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The lines of an strace log (`strace -f -o`) that write a file outside `allowed`.
fn writes(log: &str, allowed: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in log.lines() {
        // `PID name(args) = ret`, or `PID name(args <unfinished ...>`; resumed halves repeat nothing new.
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
        let Some((name, args)) = rest.split_once('(') else { continue };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let writing = WRITING.contains(&name) || (OPENING.contains(&name) && args.split(['|', ',', ' ', '{', '}', '=']).any(|f| WRITE_FLAGS.contains(&f)));
        if !writing {
            continue;
        }
        let p = paths(args);
        // A write with no path (an fd-only call) or one path not allowed: reported.
        if p.is_empty() || !p.iter().all(|p| allowed(p)) {
            out.push(line.to_owned());
        }
    }
    out
}

/// Where the test's own files go: not the temporary folder, which the test command puts on the
/// stack's filesystem, itself mounted read-only here.
fn outside_the_stack() -> PathBuf {
    PathBuf::from("/tmp")
}

/// Runs the CLI with `args` in a private mount namespace where `ro` folders are read-only,
/// under `strace -f`; its stdout and the trace.
fn traced_read_only(ro: &[&Path], project: &Path, args: &[&str]) -> (std::process::Output, String) {
    assert!(
        is_root(),
        "the read-only guarantee test runs as root (unshare --mount, mount --bind), like the test stack"
    );
    let trace = outside_the_stack().join(format!("mssante-diag-readonly-{}-{}.strace", std::process::id(), args.len()));
    let mounts: String = ro.iter().map(|d| format!("mount --bind -o ro '{0}' '{0}' && ", d.display())).collect();
    // Every path syscall, and the fd-only ones that change a file.
    let script = format!("{mounts}exec strace -f -qq -e trace=%file,ftruncate,fchmod,fchown,fsetxattr,fremovexattr -o \"$0\" \"$@\"");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c", &script])
        .arg(&trace)
        .arg(cli_bin())
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .expect("unshare, mount and strace run (strace: tests/stack/stack.sh installs it)");
    let log = std::fs::read_to_string(&trace).unwrap_or_else(|e| panic!("strace log {}: {e}\n{}", trace.display(), String::from_utf8_lossy(&out.stderr)));
    let _ = std::fs::remove_file(&trace);
    (out, log)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// The folders the platform lives in, made read-only for the run.
fn platform_folders(stack: &Stack) -> Vec<PathBuf> {
    let mut ro = vec![stack.dir.clone()];
    if !stack.project.starts_with(&stack.dir) {
        ro.push(stack.project.clone());
    }
    ro
}

/// The checks of a JSON report (or of the changes of a first `--changes` run) that are not ok
/// (a check the project's TOML switches off may be skipped).
fn not_ok(stack: &Stack, checks: &[&serde_json::Value]) -> Vec<String> {
    let toml = std::fs::read_to_string(stack.project.join("mssante-diag.toml")).expect("project TOML");
    checks
        .iter()
        .filter(|c| c["status"] != "ok" && !(c["status"] == "skipped" && disabled_in(&toml, c["id"].as_str().unwrap_or_default())))
        .map(|c| format!("{} {}: {}", c["id"], c["status"], c["summary"]))
        .collect()
}

#[test]
fn every_check_writes_nothing_on_a_read_only_platform() {
    let stack = Stack::get();
    let _g = healthy();
    let ro = platform_folders(stack);
    let ro: Vec<&Path> = ro.iter().map(PathBuf::as_path).collect();
    let (out, log) = traced_read_only(&ro, &stack.project, &["check", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let checks: Vec<&serde_json::Value> = doc["checks"].as_array().expect("checks").iter().collect();
    assert_eq!(checks.len(), mssante_diag_core::catalogue().len(), "every check ran");
    let bad = not_ok(stack, &checks);
    assert!(bad.is_empty(), "every check stays ok on a read-only platform: {bad:#?}");
    assert_eq!(out.status.code(), Some(0));
    // The trace is real: the tool read the project's files, and ran its tools (postqueue, doveadm).
    assert!(log.contains(&format!("{}/mssante-diag.toml", stack.project.display())), "the trace shows the config read");
    assert!(log.contains("execve(\"/usr/sbin/postqueue\""), "the trace follows the tools the checks run");
    let bad = writes(&log, &|p| p == "/dev/null");
    assert!(bad.is_empty(), "file writes during `check`: {bad:#?}");
}

#[test]
fn changes_writes_only_its_own_state_file() {
    let stack = Stack::get();
    let _g = healthy();
    let state_dir = outside_the_stack().join(format!("mssante-diag-readonly-state-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir).expect("state folder");
    let state = state_dir.join("state.json");
    let ro = platform_folders(stack);
    let ro: Vec<&Path> = ro.iter().map(PathBuf::as_path).collect();
    let state_arg = state.to_str().expect("utf-8 path");
    let (out, log) = traced_read_only(&ro, &stack.project, &["--changes", "--state-file", state_arg, "check", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON changes ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    // A first run: every check is new, and ok.
    let checks: Vec<&serde_json::Value> = doc["changes"].as_array().expect("changes").iter().map(|c| &c["check"]).collect();
    assert_eq!(checks.len(), mssante_diag_core::catalogue().len(), "every check ran: {doc:#}");
    let bad = not_ok(stack, &checks);
    assert!(bad.is_empty(), "every check stays ok on a read-only platform: {bad:#?}");
    assert!(state.is_file(), "the state file was written");
    let own = state_dir.to_str().expect("utf-8 path").to_owned();
    let bad = writes(&log, &|p| p == "/dev/null" || p == own || p.starts_with(&format!("{own}/")));
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(bad.is_empty(), "file writes during `check --changes` beside its state file: {bad:#?}");
    // The state file's writes were seen: the trace would have caught any other.
    assert!(log.lines().any(|l| l.contains("rename(") && l.contains(state_arg)), "the trace shows the state file's rename");
}

#[test]
fn the_trace_reader_catches_every_kind_of_write() {
    let log = "\
101 openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3
101 openat(AT_FDCWD, \"/srv/mssante/.env\", O_RDWR|O_CLOEXEC) = -1 EROFS (Read-only file system)
102 openat(AT_FDCWD, \"/var/log/x\", O_WRONLY|O_CREAT|O_APPEND, 0600 <unfinished ...>
102 <... openat resumed>) = 4
103 unlinkat(AT_FDCWD, \"/srv/mssante/pid\", 0) = 0
103 rename(\"/a\", \"/b\") = 0
103 mkdir(\"/srv/new\", 0777) = -1 EEXIST (File exists)
103 ftruncate(5, 0) = 0
104 openat(AT_FDCWD, \"/dev/null\", O_WRONLY) = 5
104 readlink(\"/proc/self/exe\", \"/x\", 4096) = 2
104 newfstatat(AT_FDCWD, \"/srv\", {st_mode=S_IFDIR|0755, st_size=4096, ...}, 0) = 0
";
    let found = writes(log, &|p| p == "/dev/null");
    assert_eq!(found.len(), 6, "{found:#?}");
    for words in [".env", "/var/log/x", "unlinkat", "rename", "mkdir", "ftruncate"] {
        assert!(found.iter().any(|l| l.contains(words)), "{words} not caught: {found:#?}");
    }
}
