//! `config.env` on real `.env` files: the stack project's (healthy), then a copy of it in a
//! temporary project folder with one defect each. Summaries name keys, never values.

use std::path::Path;

use mssante_diag_core::{CheckResult, Config, Status};
use mssante_diag_tests::{cli_bin, healthy, run_only, Stack};

/// The stack project's `.env` as ordered pairs.
fn stack_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Stack::get().project.join(".env")).expect("stack .env");
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A project folder holding the stack's `.env` with `key` set to `value` (`None` removes it).
fn project_with(changes: &[(&str, Option<&str>)]) -> tempfile::TempDir {
    let mut env = stack_env();
    for (key, value) in changes {
        match (env.iter_mut().find(|(k, _)| k == key), value) {
            (Some(pair), Some(v)) => (*v).clone_into(&mut pair.1),
            (None, Some(v)) => env.push(((*key).to_owned(), (*v).to_owned())),
            (_, None) => env.retain(|(k, _)| k != key),
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.path().join(".env"), text).expect("write .env");
    dir
}

fn judge(dir: &Path) -> CheckResult {
    let r = run_only(Config::load(dir, None).expect("loads"), &["config.env"]);
    r.check("config.env").expect("ran").clone()
}

#[test]
fn the_stack_env_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let c = run_only(stack.config(), &["config.env"]).check("config.env").expect("ran").clone();
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.details["missing"], serde_json::json!([]));
}

#[test]
fn a_missing_or_empty_required_key_is_critical() {
    let dir = project_with(&[("PSC_CLIENT_SECRET", None), ("JWT_SECRET", Some(""))]);
    let c = judge(dir.path());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("missing keys: PSC_CLIENT_SECRET") && c.summary.contains("empty keys: JWT_SECRET"), "{}", c.summary);
    assert!(c.remediation.iter().any(|r| r.guide.contains("Auth P1")), "{:?}", c.remediation);
}

#[test]
fn placeholders_left_in_are_named_by_key() {
    let dir = project_with(&[("PSC_CLIENT_ID", Some("votre_client_id_Zq7")), ("PSC_CLIENT_SECRET", Some("CHANGEME-Zq7"))]);
    let c = judge(dir.path());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("example values left in: PSC_CLIENT_ID, PSC_CLIENT_SECRET"), "{}", c.summary);
    let shown = serde_json::to_string(&c).expect("json");
    assert!(!shown.contains("Zq7"), "a value leaked: {shown}");
    // The platform's domain left as in the template.
    let dir = project_with(&[("DOMAIN", Some("example.com")), ("PSC_REDIRECT_URI", Some("https://example.com/auth/psc/callback"))]);
    let c = judge(dir.path());
    assert!(c.summary.contains("DOMAIN") && !c.summary.contains("example.com"), "{}", c.summary);
}

#[test]
fn a_redirect_uri_psc_would_refuse_is_critical() {
    let domain = Stack::get().var("MAIL_DOMAIN").to_owned();
    let cases = [
        (format!("http://{domain}/auth/psc/callback"), "PSC_REDIRECT_URI is not https"),
        ("https://autre-operateur.fr/auth/psc/callback".to_owned(), "PSC_REDIRECT_URI is not on DOMAIN"),
        (format!("https://api.{domain}/callback"), "PSC_REDIRECT_URI does not end with /auth/psc/callback"),
        ("psc-callback".to_owned(), "PSC_REDIRECT_URI is not a URL"),
    ];
    for (uri, expected) in cases {
        let dir = project_with(&[("PSC_REDIRECT_URI", Some(&uri))]);
        let c = judge(dir.path());
        assert_eq!(c.status, Status::Critical, "{uri}: {}", c.summary);
        assert!(c.summary.contains(expected) && !c.summary.contains(&uri), "{uri}: {}", c.summary);
        assert!(c.remediation.iter().any(|r| r.text.contains("ANS portal")), "{:?}", c.remediation);
    }
    // A subdomain of the platform's domain is fine.
    let dir = project_with(&[("PSC_REDIRECT_URI", Some(&format!("https://api.{domain}/auth/psc/callback")))]);
    assert_eq!(judge(dir.path()).status, Status::Ok);
}

#[test]
fn a_weak_jwt_secret_is_graded() {
    let c = judge(project_with(&[("JWT_SECRET", Some("secret"))]).path());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("JWT_SECRET is a well-known example secret"), "{}", c.summary);
    assert!(c.remediation.iter().any(|r| r.command.as_deref() == Some("openssl rand -base64 48")));
    assert!(c.remediation.iter().any(|r| r.destructive), "restarting the API is flagged destructive");
    let c = judge(project_with(&[("JWT_SECRET", Some("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzy"))]).path());
    assert_eq!(c.status, Status::Critical, "low entropy: {}", c.summary);
    let c = judge(project_with(&[("JWT_SECRET", Some("Hq2vK9xL0pW3mZ7rT5s"))]).path());
    assert_eq!(c.status, Status::Warning, "short: {}", c.summary);
    assert!(c.summary.contains("JWT_SECRET is weak (19 characters") && !c.summary.contains("Hq2v"), "{}", c.summary);
    assert!(c.metrics.iter().any(|m| m.name == "jwt_secret_length" && (m.value - 19.0).abs() < f64::EPSILON));
}

#[test]
fn a_key_defined_twice_warns() {
    let dir = project_with(&[]);
    let path = dir.path().join(".env");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("DOMAIN=mssante.test\n");
    std::fs::write(&path, text).expect("write");
    let c = judge(dir.path());
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(c.summary.contains("keys defined twice (the last one wins): DOMAIN"), "{}", c.summary);
}

#[test]
fn no_env_file_is_critical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = judge(dir.path());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("no .env"), "{}", c.summary);
}

#[test]
fn the_cli_names_keys_in_both_languages_never_values() {
    let dir = project_with(&[("PSC_CLIENT_ID", Some("your_client_Zq7")), ("JWT_SECRET", Some("changeme"))]);
    for (lang, expected) in [("en", "example values left in: JWT_SECRET, PSC_CLIENT_ID"), ("fr", "valeurs d'exemple restées : JWT_SECRET, PSC_CLIENT_ID")] {
        for format in ["human", "json", "nagios", "prometheus"] {
            let out = std::process::Command::new(cli_bin())
                .args(["--project", dir.path().to_str().expect("utf-8"), "--lang", lang, "--format", format, "check", "config.env"])
                .output()
                .expect("runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(2), "{text}");
            assert!(!text.contains("Zq7") && !text.contains("changeme"), "{format}: a value leaked: {text}");
            if format != "prometheus" {
                assert!(text.contains(expected), "{format} {lang}: {text}");
            }
        }
    }
}

#[test]
fn a_broken_env_line_stops_the_run_naming_line_and_key_only() {
    let dir = project_with(&[]);
    let path = dir.path().join(".env");
    let lines = std::fs::read_to_string(&path).expect("read").lines().count();
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("PSC_CLIENT_SECRET=two words-Zq7\n");
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(cli_bin()).args(["--project", dir.path().to_str().expect("utf-8"), "check", "config.env"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!(".env:{} (key PSC_CLIENT_SECRET)", lines + 1)), "{err}");
    assert!(!err.contains("Zq7") && !String::from_utf8_lossy(&out.stdout).contains("Zq7"), "{err}");
}
