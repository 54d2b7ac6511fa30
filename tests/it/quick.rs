//! The guide's quick-check, done properly: each probe healthy on the stack, and
//! each stopped service turning exactly its own check critical.

use mssante_diag_core::config::CredentialUrl;
use mssante_diag_core::Status;
use mssante_diag_tests::{fault, healthy, run_only, Stack};

/// The first checks of the foundation: everything the guide's quick-check.sh probes.
const PROBES: &[&str] = &["system.disk", "api.health", "postgres.reachable", "redis.reachable", "smtp.submission", "imap.reachable"];

#[test]
fn healthy_stack_is_all_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let report = run_only(stack.config(), PROBES);
    assert_eq!(report.checks.len(), PROBES.len());
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    assert_eq!(report.status, Status::Ok);
    let pg = report.check("postgres.reachable").expect("ran");
    assert!(pg.details["server_version"].as_str().is_some_and(|v| v.starts_with("15")), "{:#}", pg.details);
    let smtp = report.check("smtp.submission").expect("ran");
    assert_eq!(smtp.details["tls_established"], true);
    assert!(smtp.details["auth_before_tls"].as_array().is_some_and(Vec::is_empty));
    let imap = report.check("imap.reachable").expect("ran");
    assert!(imap.details["tls"]["version"].as_str().is_some_and(|v| v.contains("TLS")), "{:#}", imap.details);
}

/// Stops `service`, runs the probes, and checks that `id` alone is critical with `cause` in its summary.
fn stopped_service_is_named(service: &'static str, id: &str, cause: &str) {
    let stack = Stack::get();
    let _g = fault();
    let report = {
        let _stopped = stack.stop(service);
        run_only(stack.config(), PROBES)
    };
    let hit = report.check(id).expect("ran");
    assert_eq!(hit.status, Status::Critical, "{id}: {}", hit.summary);
    assert!(hit.summary.contains(cause), "{id} summary should name the cause `{cause}`: {}", hit.summary);
    assert!(!hit.remediation.is_empty(), "{id} should carry the guide's remedy");
    for c in report.checks.iter().filter(|c| c.id != id) {
        assert_ne!(c.status, Status::Critical, "only {id} should be critical, but {}: {}", c.id, c.summary);
    }
}

#[test]
fn stopped_postgres_is_named() {
    stopped_service_is_named("postgres", "postgres.reachable", "connection refused");
}

#[test]
fn stopped_redis_is_named() {
    stopped_service_is_named("redis", "redis.reachable", "connection refused");
}

#[test]
fn stopped_postfix_is_named() {
    stopped_service_is_named("postfix", "smtp.submission", "connection refused");
}

#[test]
fn stopped_dovecot_is_named() {
    stopped_service_is_named("dovecot", "imap.reachable", "connection refused");
}

#[test]
fn stopped_api_is_named() {
    stopped_service_is_named("nginx", "api.health", "connection refused");
}

#[test]
fn wrong_credentials_are_told_apart() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.postgres.credential.password = Some(mssante_diag_core::Secret::new("not-the-password"));
    config.redis.credential.password = Some(mssante_diag_core::Secret::new("not-the-password"));
    let report = run_only(config.clone(), &["postgres.reachable", "redis.reachable"]);
    let pg = report.check("postgres.reachable").expect("ran");
    assert_eq!(pg.status, Status::Critical);
    assert!(pg.summary.contains("refused the password"), "{}", pg.summary);
    let redis = report.check("redis.reachable").expect("ran");
    assert_eq!(redis.status, Status::Critical);
    assert!(redis.summary.contains("authentication"), "{}", redis.summary);
    let json = report.to_json();
    assert!(!json.contains("not-the-password") && !json.contains(stack.var("PG_PASSWORD")), "a secret leaked into the report");

    config.postgres.credential.password = None;
    config.postgres.database = "no_such_db".into();
    let report = run_only(config, &["postgres.reachable"]);
    let pg = report.check("postgres.reachable").expect("ran");
    assert_eq!(pg.status, Status::Critical);
    assert!(pg.summary.contains("\"no_such_db\" does not exist"), "{}", pg.summary);
}

#[test]
fn api_error_status_is_critical() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.api.url = CredentialUrl::new(config.api.url.expose().replace("/health", "/no-such-endpoint"));
    let report = run_only(config, &["api.health"]);
    let api = report.check("api.health").expect("ran");
    assert_eq!(api.status, Status::Critical);
    assert!(api.summary.contains("HTTP 404"), "{}", api.summary);
}

#[test]
fn french_summaries() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.lang = mssante_diag_core::Lang::Fr;
    let (_hung, port) = mssante_diag_tests::hung_listener();
    config.redis.host = "127.0.0.1".into();
    config.redis.port = port;
    let report = run_only(config, &["api.health", "redis.reachable"]);
    assert!(report.check("api.health").expect("ran").summary.contains("bonne santé"));
    let redis = &report.check("redis.reachable").expect("ran").summary;
    assert!(redis.contains("pas de réponse"), "{redis}");
}

#[test]
fn slow_redis_is_graded_on_its_ping_latency() {
    let stack = Stack::get();
    let _g = healthy();
    // The real Redis, judged against a threshold below any real round trip.
    let config = stack.config().with_overrides(&serde_json::json!({"redis": {"latency_warn_ms": 0.000_1, "latency_crit_ms": 60_000.0}})).expect("valid");
    let report = run_only(config, &["redis.reachable"]);
    let r = report.check("redis.reachable").expect("ran");
    assert_eq!(r.status, Status::Warning, "{}", r.summary);
    let latency = r.metrics.iter().find(|m| m.name == "latency").expect("latency metric");
    assert_eq!(latency.warn, Some(0.000_1));
    assert!(latency.value > 0.0);
}

#[test]
fn disk_path_that_does_not_exist_is_a_finding() {
    let stack = Stack::get();
    let _g = healthy();
    let config = stack
        .config()
        .with_overrides(&serde_json::json!({"system": {"disk_paths": ["data", "/nonexistent/mssante-data"]}}))
        .expect("valid");
    let report = run_only(config, &["system.disk"]);
    let d = report.check("system.disk").expect("ran");
    // The existing path is measured, the missing one is named, and the check is not ok.
    assert_eq!(d.status, Status::Warning, "{}", d.summary);
    assert!(d.summary.contains("/nonexistent/mssante-data"), "{}", d.summary);
    assert!(d.metrics.iter().any(|m| m.name == "space_used"), "the existing path is still measured");
}
