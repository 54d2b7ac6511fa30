//! First run: the notice outside a platform's folder, `config` (every value with its source,
//! no secret), `init` (a file that loads back, never overwritten), completions and man page.

use std::path::Path;

use mssante_diag_tests::{healthy, Stack};

fn cli(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("mssante-diag")
        .expect("the CLI is built with the workspace");
    cmd.current_dir(dir)
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A cheap check: the notice is about the folder, not about what runs.
const CHEAP: [&str; 3] = ["check", "system.clock", "--timeout=1"];

#[test]
fn empty_folder_gets_a_notice_in_every_format_and_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = dir
        .path()
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string();
    // No --project: the current folder, as a newcomer in a fresh clone runs it.
    let out = cli(dir.path())
        .args(CHEAP)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let notices = doc["notices"].as_array().expect("notices in the JSON");
    assert_eq!(notices.len(), 1, "{doc}");
    assert_eq!(notices[0]["id"], "project.empty");
    let message = notices[0]["message"].as_str().expect("message");
    assert!(
        message.contains(&shown) && message.contains("--project") && message.contains(".env"),
        "{message}"
    );

    for (lang, word) in [("en", "NOTICE:"), ("fr", "REMARQUE :")] {
        let out = cli(dir.path())
            .args(CHEAP)
            .args(["--lang", lang, "--color", "never"])
            .output()
            .expect("runs");
        let stdout = text(&out.stdout);
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(word) && first.contains(&shown) && first.contains("--project"),
            "{lang}: {stdout}"
        );
    }
    let out = cli(dir.path())
        .args(CHEAP)
        .args(["--lang", "fr", "--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(
        doc["notices"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ne contient ni .env")),
        "{doc}"
    );

    // Monitoring formats keep stdout parseable: the notice goes to stderr.
    for format in ["nagios", "prometheus"] {
        let out = cli(dir.path())
            .args(CHEAP)
            .args(["--format", format])
            .output()
            .expect("runs");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            stderr.contains(&shown) && stderr.contains("--project"),
            "{format}: {stderr}"
        );
        assert!(!stdout.contains("--project"), "{format}: {stdout}");
    }
}

#[test]
fn stack_project_has_no_notice() {
    let stack = Stack::get();
    let _g = healthy();
    let out = cli(&stack.project)
        .args(CHEAP)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(doc["notices"], serde_json::json!([]), "{doc}");
    let out = cli(&stack.project)
        .args(CHEAP)
        .args(["--color", "never"])
        .output()
        .expect("runs");
    assert!(
        !text(&out.stdout).contains("NOTICE"),
        "{}",
        text(&out.stdout)
    );
}

/// Dotted keys of every value of a JSON object (arrays are values).
fn keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                keys(
                    &if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    },
                    v,
                    out,
                );
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// The secret values of the stack: its passwords and the project's `.env` secrets.
fn secrets(stack: &Stack) -> Vec<String> {
    let mut out: Vec<String> = [
        "PG_PASSWORD",
        "PG_SUPERPASSWORD",
        "REDIS_PASSWORD",
        "MAIL_PASSWORD",
        "PG_MONITOR_PASSWORD",
    ]
    .iter()
    .map(|k| stack.var(k).to_owned())
    .collect();
    let env = std::fs::read_to_string(stack.project.join(".env")).expect(".env");
    for line in env.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if ["PASSWORD", "SECRET", "KEY"].iter().any(|w| k.contains(w)) {
                out.push(v.trim().trim_matches('"').to_owned());
            }
        }
    }
    out.retain(|s| s.len() >= 6);
    assert!(
        out.len() >= 8,
        "the stack has secrets to look for: {}",
        out.len()
    );
    out
}

#[test]
fn config_lists_every_value_with_its_source_and_no_secret() {
    let stack = Stack::get();
    let _g = healthy();
    let out = cli(&stack.project)
        .args([
            "--project",
            ".",
            "--timeout",
            "2",
            "config",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let entries = doc["entries"].as_array().expect("entries");
    let source = |key: &str| {
        entries
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["source"].clone())
            .unwrap_or_else(|| panic!("{key} not listed"))
    };

    // Every value of the effective configuration is listed, with a source.
    let mut expected = Vec::new();
    keys(
        "",
        &serde_json::to_value(stack.config()).expect("config serialises"),
        &mut expected,
    );
    assert!(expected.len() > 100, "{}", expected.len());
    for key in &expected {
        let s = source(key);
        assert!(
            ["default", "env", "file", "override"]
                .contains(&s["kind"].as_str().unwrap_or_default()),
            "{key}: {s}"
        );
    }
    // Each kind of source is told apart on the stack's project.
    assert_eq!(source("timeout_secs")["kind"], "override");
    assert_eq!(source("postgres.user")["kind"], "env");
    assert_eq!(
        source("postgres.user")["variables"][0]["name"],
        "POSTGRES_USER"
    );
    assert_eq!(source("postgres.port")["kind"], "file");
    assert!(source("postgres.port")["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("mssante-diag.toml")));
    assert_eq!(source("postgres.database")["kind"], "env");
    assert_eq!(source("docker.log_lines")["kind"], "default");
    // Secrets: [REDACTED], with the variable they are read from.
    let pw = entries
        .iter()
        .find(|e| e["key"] == "postgres.password")
        .expect("postgres.password listed");
    assert_eq!(
        (&pw["value"], &pw["secret"]),
        (&serde_json::json!("[REDACTED]"), &serde_json::json!(true))
    );
    assert_eq!(pw["source"]["variables"][0]["name"], "POSTGRES_PASSWORD");
    assert_eq!(pw["source"]["variables"][0]["origin"], "env_file");

    let human = cli(&stack.project)
        .args(["--timeout", "2", "config"])
        .output()
        .expect("runs");
    let human = text(&human.stdout);
    assert!(
        human.contains("postgres.password = [REDACTED]")
            && human.contains(".env POSTGRES_PASSWORD"),
        "{human}"
    );
    for secret in secrets(stack) {
        assert!(
            !json.contains(&secret) && !human.contains(&secret),
            "a secret value is printed"
        );
    }
}

#[test]
fn init_writes_a_file_that_loads_back_and_never_overwrites() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(stack.project.join(".env"), dir.path().join(".env")).expect("copy .env");
    let values = || {
        let out = cli(dir.path())
            .args(["config", "--format", "json"])
            .output()
            .expect("runs");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        doc["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| (e["key"].clone(), e["value"].clone()))
            .collect::<Vec<_>>()
    };
    let before = values();
    let out = cli(dir.path()).arg("init").output().expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.path().join("mssante-diag.toml");
    let written = std::fs::read_to_string(&path).expect("init wrote mssante-diag.toml");
    assert!(
        written.contains("password_env = \"POSTGRES_PASSWORD\""),
        "{written}"
    );
    assert!(
        written.contains("user = \"mssante\"  # from .env POSTGRES_USER"),
        "{written}"
    );
    for secret in secrets(stack) {
        assert!(!written.contains(&secret), "init wrote a secret value");
    }
    assert_eq!(
        values(),
        before,
        "the written file loads back to the same configuration"
    );

    let again = cli(dir.path()).arg("init").output().expect("runs");
    assert_eq!(again.status.code(), Some(3));
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        written,
        "never overwritten"
    );
}

#[test]
fn completions_and_man_page_mention_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = text(&cli(dir.path()).arg("--help").output().expect("runs").stdout);
    let commands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(
        commands.len() >= 12 && commands.iter().any(|c| c == "init"),
        "{commands:?}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = cli(dir.path())
            .args(["completions", shell])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        for c in &commands {
            assert!(script.contains(c.as_str()), "{shell} completion lacks {c}");
        }
        assert!(
            script.contains("project") && script.contains("timeout-state"),
            "{shell}: global options"
        );
    }
    let man = text(&cli(dir.path()).arg("man").output().expect("runs").stdout);
    assert!(man.starts_with(".ie") || man.contains(".TH"), "{man}");
    for c in &commands {
        assert!(man.contains(c.as_str()), "man page lacks {c}");
    }
}
