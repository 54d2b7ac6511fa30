//! The command line's contract: exit codes, one-line errors, formats.
//! These need no running service (everything points at closed loopback ports).

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd(project: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("mssante-diag").expect("binary built");
    c.arg("--project")
        .arg(project)
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env("NO_COLOR", "1");
    c
}

/// A project folder whose services all point to a closed loopback port.
fn closed_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // The listener is dropped: nothing listens on `port` any more.
    std::fs::write(
        dir.path().join("mssante-diag.toml"),
        format!(
            "timeout_secs = 1\n[api]\nurl = \"http://127.0.0.1:{port}/health\"\n[postgres]\nhost = \"127.0.0.1\"\nport = {port}\n\
             [redis]\nhost = \"127.0.0.1\"\nport = {port}\n[smtp]\nhost = \"127.0.0.1\"\nsubmission_port = {port}\n\
             [imap]\nhost = \"127.0.0.1\"\nport = {port}\n"
        ),
    )
    .expect("write config");
    dir
}

fn one_line_error(output: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "expected one error line, got:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    err
}

#[test]
fn malformed_config_names_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("mssante-diag.toml"),
        "[postgres]\nport = \"five\"\n",
    )
    .expect("write");
    let out = cmd(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = one_line_error(&out);
    assert!(
        err.contains("mssante-diag.toml") && err.contains("postgres.port"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("mssante-diag.toml"),
        "[postgres\nport = 1\n",
    )
    .expect("write");
    let out = cmd(dir.path()).arg("quick").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    one_line_error(&out);

    std::fs::write(
        dir.path().join("mssante-diag.toml"),
        "[smtp]\nsubmision_port = 587\n",
    )
    .expect("write");
    let out = cmd(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line_error(&out).contains("submision_port"));
}

#[test]
fn unreadable_env_file_is_a_finding_not_the_end_of_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".env")).expect("a folder where .env should be");
    let out = cmd(dir.path())
        .args(["check", "config", "--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a report, not an error");
    let access = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "config.access")
        .expect("config.access ran");
    assert_eq!(access["status"], "unknown", "{access:#}");
    assert!(
        access["summary"]
            .as_str()
            .is_some_and(|s| s.contains(".env")),
        "{access:#}"
    );
}

#[test]
fn unknown_check_id_is_one_error() {
    let dir = closed_project();
    let out = cmd(dir.path())
        .args(["check", "postgres.nope"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    assert!(one_line_error(&out).contains("postgres.nope"));
    let out = cmd(dir.path())
        .args(["explain", "nope"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    one_line_error(&out);
}

#[test]
fn usage_error_exits_3() {
    let dir = closed_project();
    cmd(dir.path()).arg("--no-such-flag").assert().code(3);
    cmd(dir.path())
        .args(["check", "--format", "xml"])
        .assert()
        .code(3);
}

#[test]
fn critical_run_exits_2_in_every_format() {
    let dir = closed_project();
    for format in ["human", "json", "nagios", "prometheus"] {
        cmd(dir.path())
            .args(["check", "api", "redis", "--format", format])
            .assert()
            .code(2);
    }
    let out = cmd(dir.path())
        .args(["check", "api.health", "--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["status"], "critical");
    assert_eq!(doc["checks"][0]["id"], "api.health");
    assert!(doc["checks"][0]["summary"]
        .as_str()
        .is_some_and(|s| s.contains("connection refused")));
    assert!(doc["checks"][0]["remediation"][0]["guide"].is_string());
}

#[test]
fn nagios_and_prometheus_shapes() {
    let dir = closed_project();
    let out = cmd(dir.path())
        .args(["check", "system.disk", "api", "--format", "nagios"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("MSSANTE-DIAG CRITICAL - api.health: "),
        "{first}"
    );
    // Labels are quoted only when they hold a space or a quote, as monitoring-plugins do.
    assert!(
        first.contains(" | system.disk.space_used") || first.contains(" | 'system.disk.space_used"),
        "perfdata expected: {first}"
    );
    let out = cmd(dir.path())
        .args(["check", "api", "--format", "prometheus"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mssante_diag_check_status{check=\"api.health\",subsystem=\"api\"} 2"),
        "{text}"
    );
}

#[test]
fn list_explain_and_french() {
    let dir = closed_project();
    cmd(dir.path()).arg("list").assert().success().stdout(
        predicate::str::contains("postgres.reachable").and(predicate::str::contains("BD P1")),
    );
    cmd(dir.path())
        .args(["explain", "system.disk", "--lang", "fr"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("[DESTRUCTIF]")
                .and(predicate::str::contains("docker system prune")),
        );
    cmd(dir.path())
        .args(["check", "api", "--lang", "fr"])
        .assert()
        .code(2)
        .stdout(
            predicate::str::contains("connexion refusée").and(predicate::str::contains("CRITIQUE")),
        );
}

#[test]
fn broken_env_line_is_named_never_quoted() {
    let dir = closed_project();
    std::fs::write(
        dir.path().join(".env"),
        "DOMAIN=mssante.test\n\nPOSTGRES_PASSWORD=hunter2 s3cret-value\nREDIS_PASSWORD=r3dis\n",
    )
    .expect("write .env");
    for args in [
        &["check"][..],
        &["quick", "--format", "json"],
        &["check", "--format", "nagios", "--lang", "fr"],
    ] {
        let out = cmd(dir.path()).args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = one_line_error(&out);
        assert!(
            err.contains(".env:3") && err.contains("POSTGRES_PASSWORD"),
            "file, line and key: {err}"
        );
        let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
        assert!(
            !all.contains("hunter2") && !all.contains("s3cret") && !all.contains("r3dis"),
            "a password printed: {all}"
        );
    }
}

#[test]
fn credentials_in_the_api_url_are_never_printed() {
    let dir = closed_project();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let toml = format!(
        "timeout_secs = 1\n[api]\nurl = \"http://ops:hunter2-in-url@127.0.0.1:{port}/health\"\n"
    );
    std::fs::write(dir.path().join("mssante-diag.toml"), toml).expect("write config");
    for format in ["human", "json", "nagios", "prometheus"] {
        let out = cmd(dir.path())
            .args(["check", "api", "--format", format])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{format}: refused is critical");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("hunter2"), "{format}: {all}");
        assert!(
            format != "json" || all.contains("127.0.0.1"),
            "the report still names the host: {all}"
        );
    }
    let out = cmd(dir.path())
        .args(["explain", "api.health"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("hunter2") && text.contains("[REDACTED]@127.0.0.1"),
        "{text}"
    );
}

#[test]
fn an_unquoted_password_in_the_config_is_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("mssante-diag.toml"),
        "[postgres]\npassword = 7731977\n",
    )
    .expect("write");
    let out = cmd(dir.path()).arg("check").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = one_line_error(&out);
    assert!(
        err.contains("mssante-diag.toml") && err.contains("postgres") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("7731977"), "{err}");
}

#[test]
fn the_log_goes_to_stderr_only_when_asked() {
    let dir = closed_project();
    let run = |args: &[&str], log: Option<&str>| {
        let mut c = cmd(dir.path());
        c.env_remove("MSSANTE_DIAG_LOG").args(args);
        if let Some(l) = log {
            c.env("MSSANTE_DIAG_LOG", l);
        }
        c.output().expect("runs")
    };
    // No flag, no variable: nothing on stderr.
    let quiet = run(&["--format", "json", "check", "redis"], None);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    // -vv or MSSANTE_DIAG_LOG=debug: the debug log on stderr, stdout still one JSON document.
    for (args, log) in [
        (&["-vv", "--format", "json", "check", "redis"][..], None),
        (&["--format", "json", "check", "redis"], Some("debug")),
    ] {
        let out = run(args, log);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for want in [
            "DEBUG mssante_diag_core::config",
            "INFO mssante_diag_core::runner: run started",
            "check finished check=\"redis.reachable\" status=critical",
            "Redis: connecting",
        ] {
            assert!(stderr.contains(want), "{want} in {stderr}");
        }
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout stays JSON");
    }
    // -v: info only.
    let info = run(&["-v", "check", "redis"], None);
    let stderr = String::from_utf8_lossy(&info.stderr);
    assert!(
        stderr.contains("run finished") && !stderr.contains("DEBUG"),
        "{stderr}"
    );
    // A bad variable is a usage error naming it.
    let bad = run(&["list"], Some("mssante_diag_core=loud"));
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        one_line_error(&bad).contains("MSSANTE_DIAG_LOG"),
        "{}",
        one_line_error(&bad)
    );
}
