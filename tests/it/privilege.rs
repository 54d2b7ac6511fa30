//! Least privilege (issue #19): the CLI run as `nobody` against the stack. An unreadable `.env`
//! is a finding (`config.access`), not the end of the run; a missing permission is `unknown` with
//! the grant, never `critical`; with the documented grants the checks they cover are ok; the
//! PostgreSQL checks with a role that has only `pg_monitor` and `CONNECT`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mssante_diag_core::config::{Credential, Secret};
use mssante_diag_core::{CheckResult, Report, Status};
use mssante_diag_tests::{cli_bin, healthy, run_only, Stack};

/// A copy of the stack's project folder that `nobody` may enter, its `.env` root:root mode 640
/// (as the guide's platform has it).
fn project_copy(stack: &Stack) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let project = tmp.path().join("project");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&stack.project)
        .arg(&project)
        .status()
        .expect("cp");
    assert!(st.success());
    std::fs::set_permissions(project.join(".env"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod .env");
    (tmp, project)
}

/// Runs `mssante-diag ARGS --format json` as `nobody` (groups: `groups`, none when empty).
fn as_nobody(project: &Path, groups: &[u32], args: &[&str]) -> (Option<i32>, Report, String) {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534"]);
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        cmd.arg(format!(
            "--groups={}",
            groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let out = cmd
        .arg("--")
        .arg(cli_bin())
        .arg("--project")
        .arg(project)
        .args(args)
        .args(["--format", "json", "--lang", "en"])
        .env_remove("DOCKER_HOST")
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), report, stderr)
}

fn check<'a>(r: &'a Report, id: &str) -> &'a CheckResult {
    r.check(id)
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

fn show(c: &CheckResult) -> String {
    format!(
        "{} {:?}: {}\n{:#}\n{:?}",
        c.id, c.status, c.summary, c.details, c.remediation
    )
}

fn commands(c: &CheckResult) -> Vec<&str> {
    c.remediation
        .iter()
        .filter_map(|r| r.command.as_deref())
        .collect()
}

#[test]
fn unreadable_env_is_a_finding_and_every_check_still_runs() {
    let stack = Stack::get();
    let _g = healthy();
    let (_tmp, project) = project_copy(stack);
    let env = project.join(".env");
    let (code, report, stderr) = as_nobody(&project, &[], &["check"]);
    assert!(
        !stderr.contains("cannot read the environment file"),
        "{stderr}"
    );
    assert_eq!(
        report.checks.len(),
        mssante_diag_core::catalogue().len(),
        "every check is in the report"
    );
    // No check is critical: the platform is healthy, the tool merely could not look.
    let critical: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Critical)
        .map(show)
        .collect();
    assert!(critical.is_empty(), "{critical:#?}");
    assert_eq!(code, Some(3), "the worst finding is unknown");
    // What needs .env values is unknown, naming the value and the file.
    for (id, var) in [
        ("postgres.reachable", "POSTGRES_PASSWORD"),
        ("postgres.connections", "POSTGRES_PASSWORD"),
        ("redis.reachable", "REDIS_PASSWORD"),
        ("smtp.auth", "SMTP_TEST_PASSWORD"),
        ("imap.auth", "SMTP_TEST_PASSWORD"),
        ("auth.jwt", "JWT_SECRET"),
    ] {
        let c = check(&report, id);
        assert_eq!(c.status, Status::Unknown, "{}", show(c));
        assert!(
            c.summary.contains(var)
                && c.summary.contains(&env.display().to_string())
                && c.summary.contains("nobody cannot read"),
            "{}",
            show(c)
        );
        assert!(
            commands(c).contains(&format!("setfacl -m u:nobody:r {}", env.display()).as_str()),
            "{}",
            show(c)
        );
    }
    let c = check(&report, "config.env");
    assert_eq!(c.status, Status::Unknown, "{}", show(c));
    // What does not need them runs and is ok.
    for id in [
        "api.health",
        "smtp.submission",
        "smtp.inbound",
        "imap.reachable",
        "tls.endpoints",
        "system.resources",
        "backup.freshness",
    ] {
        let c = check(&report, id);
        assert_eq!(c.status, Status::Ok, "{}", show(c));
    }
    // config.access names the file, the user and the grant that does not widen access.
    let a = check(&report, "config.access");
    assert_eq!(a.status, Status::Unknown, "{}", show(a));
    assert!(
        a.summary.contains("nobody cannot read") && a.summary.contains(&env.display().to_string()),
        "{}",
        show(a)
    );
    assert!(
        commands(a).contains(&format!("setfacl -m u:nobody:r {}", env.display()).as_str()),
        "{}",
        show(a)
    );
    // Outside the docker group: the docker checks are unknown with the grant.
    let d = check(&report, "docker.containers");
    assert_eq!(d.status, Status::Unknown, "{}", show(d));
    assert!(
        d.summary.contains("nobody is not in the docker group"),
        "{}",
        show(d)
    );
    assert!(
        commands(d).contains(&"sudo usermod -aG docker $USER")
            && d.remediation
                .iter()
                .any(|r| r.text.contains("read-only Docker socket proxy")),
        "{}",
        show(d)
    );
    // The guide's quick-check does not stop either, and shows config.access.
    let (code, quick, stderr) = as_nobody(&project, &[], &["quick"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(check(&quick, "config.access").status, Status::Unknown);
    assert_eq!(check(&quick, "postgres.reachable").status, Status::Unknown);
}

fn gid_of(group: &str) -> u32 {
    let groups = std::fs::read_to_string("/etc/group").expect("/etc/group");
    groups
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{group}:x:")).map(str::to_owned))
        .and_then(|r| r.split(':').next().and_then(|g| g.parse().ok()))
        .unwrap_or_else(|| panic!("a {group} group"))
}

fn setfacl(args: &[&str], path: &Path) {
    let st = Command::new("setfacl")
        .args(args)
        .arg(path)
        .status()
        .expect("setfacl (package acl)");
    assert!(st.success(), "setfacl {args:?} {}", path.display());
}

#[test]
fn with_the_documented_grants_every_check_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let (_tmp, project) = project_copy(stack);
    // docs/least-privilege.md, each grant as written there:
    // - read .env (an ACL for that user alone);
    setfacl(&["-m", "u:nobody:r"], &project.join(".env"));
    // - read the mail logs (the copy's own files: the stack's logs stay as they are);
    let logs = project.join("data/logs");
    for entry in std::fs::read_dir(&logs).expect("data/logs") {
        let path = entry.expect("entry").path();
        let st = Command::new("cp")
            .arg("--remove-destination")
            .arg(std::fs::canonicalize(&path).expect("log target"))
            .arg(&path)
            .status()
            .expect("cp");
        assert!(st.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        setfacl(&["-m", "u:nobody:r"], &path);
    }
    // - the docker group; the dovecot group for `doveadm who` on a host Dovecot (its anvil
    //   listener is group dovecot, mode 0660, in the stack's dovecot.conf as the doc says).
    // Private keys stay kept from the user (mode 600): the checks judge what they can see.
    let groups = [gid_of("docker"), gid_of("dovecot")];
    let (code, report, stderr) = as_nobody(&project, &groups, &["check"]);
    // postqueue -c runs for another user than root only when the default main.cf authorizes
    // the stack's configuration folder: the stack writes it on a machine without a Postfix
    // configuration of its own, never edits one.
    let authorized = std::fs::read_to_string("/etc/postfix/main.cf")
        .is_ok_and(|m| m.contains("alternate_config_directories") && m.contains(stack.var("STACK_DIR")));
    for c in &report.checks {
        if !authorized && (c.id == "postfix.queue" || c.id == "mssante.whitelist") {
            assert_ne!(c.status, Status::Critical, "{}", show(c));
            continue;
        }
        match c.id.as_str() {
            "storage.smart" => assert_eq!(c.status, Status::Skipped, "{}", show(c)),
            _ => assert_eq!(c.status, Status::Ok, "{}\n{stderr}", show(c)),
        }
    }
    if authorized {
        assert_eq!(code, Some(0), "{stderr}");
    }
    // What the user was kept from, and judged all the same.
    let key = check(&report, "tls.key");
    assert!(key.summary.contains("kept from nobody"), "{}", show(key));
    let a = check(&report, "config.access");
    assert!(
        a.details["owner_only_keys"]
            .as_array()
            .is_some_and(|k| k.iter().any(|p| p.as_str().is_some_and(|p| p.ends_with("server.key")))),
        "{}",
        show(a)
    );
    let disk = check(&report, "system.disk");
    assert!(!disk.summary.contains("not measured"), "{}", show(disk));
    // Without the dovecot group: doveadm who is unknown, naming the group of its socket.
    let (_, report, _) = as_nobody(&project, &groups[..1], &["check", "imap.sessions"]);
    let s = check(&report, "imap.sessions");
    assert_eq!(s.status, Status::Unknown, "{}", show(s));
    assert!(commands(s).contains(&"usermod -aG dovecot nobody"), "{}", show(s));
}

/// The postgres subsystem run with the stack's role `ROLE_USER` (password `ROLE_PASSWORD`).
fn postgres_as(stack: &Stack, role: &str) -> Report {
    let mut config = stack.config();
    config.postgres.user = stack.var(&format!("{role}_USER")).to_owned();
    config.postgres.credential = Credential {
        password: Some(Secret::new(stack.var(&format!("{role}_PASSWORD")))),
        password_env: None,
    };
    config.postgres.reserved = None;
    run_only(config, &["postgres"])
}

#[test]
fn postgres_checks_are_all_ok_with_the_documented_role() {
    let stack = Stack::get();
    let _g = healthy();
    // pg_monitor, CONNECT, SELECT on the migrations table, SELECT of one date column.
    let report = postgres_as(stack, "PG_GRANTED");
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{}", show(c));
    }
    assert_eq!(report.checks.len(), 10);
}

#[test]
fn postgres_checks_pass_with_only_pg_monitor_and_connect() {
    let stack = Stack::get();
    let _g = healthy();
    let report = postgres_as(stack, "PG_MONITOR");
    for c in &report.checks {
        match c.id.as_str() {
            // Rows of the platform's tables: pg_monitor reads statistics, not data. Unknown with
            // the narrowest grant (the version list; the date column of audit_logs only).
            "postgres.migrations" => {
                assert_eq!(c.status, Status::Unknown, "{}", show(c));
                assert!(
                    commands(c)
                        .iter()
                        .any(|k| k.contains("GRANT SELECT ON schema_migrations TO diagmonitor")),
                    "{}",
                    show(c)
                );
            }
            "postgres.retention" => {
                assert_eq!(c.status, Status::Unknown, "{}", show(c));
                assert!(
                    commands(c)
                        .iter()
                        .any(|k| k
                            .contains("GRANT SELECT (created_at) ON audit_logs TO diagmonitor")),
                    "{}",
                    show(c)
                );
            }
            _ => assert_eq!(c.status, Status::Ok, "{}", show(c)),
        }
    }
    assert_eq!(report.checks.len(), 10);
}

#[test]
fn redis_check_passes_with_an_acl_user_allowed_only_ping_and_info() {
    let stack = Stack::get();
    let _g = healthy();
    // Idempotent: the same user, the same two commands, every run.
    let st = Command::new("redis-cli")
        .args([
            "-h",
            stack.var("STACK_HOST"),
            "-p",
            stack.var("REDIS_PORT"),
            "ACL",
            "SETUSER",
            "diagping",
            "reset",
            "on",
            ">diagping-pw",
            "-@all",
            "+ping",
            "+info",
        ])
        .env("REDISCLI_AUTH", stack.var("REDIS_PASSWORD"))
        .output()
        .expect("redis-cli");
    assert!(String::from_utf8_lossy(&st.stdout).contains("OK"), "{st:?}");
    let mut config = stack.config();
    config.redis.username = Some("diagping".into());
    config.redis.credential = Credential {
        password: Some(Secret::new("diagping-pw")),
        password_env: None,
    };
    let report = run_only(config, &["redis"]);
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{}", show(c));
    }
}

#[test]
fn config_names_the_sources_it_could_not_read() {
    let stack = Stack::get();
    let (_tmp, project) = project_copy(stack);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(cli_bin())
        .arg("--project")
        .arg(&project)
        .args(["config", "--format", "json", "--lang", "en"])
        .output()
        .expect("setpriv runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let unreadable = doc["unreadable"].as_array().expect("unreadable");
    assert_eq!(unreadable.len(), 1, "{doc:#}");
    assert_eq!(unreadable[0]["path"].as_str(), Some(project.join(".env").to_str().expect("utf-8")));
    assert_eq!(unreadable[0]["user"].as_str(), Some("nobody"));
    assert!(unreadable[0]["grant"].as_str().is_some_and(|g| g.starts_with("setfacl -m u:nobody:r")), "{doc:#}");
    // As root the same folder reads every source.
    let out = Command::new(cli_bin()).arg("--project").arg(&project).args(["config", "--format", "json"]).output().expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["unreadable"].as_array().map(Vec::len), Some(0), "{doc:#}");
}
