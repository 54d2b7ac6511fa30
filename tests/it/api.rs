//! `api.health` against the stack's nginx (the API stand-in): healthy, a redirect to a login
//! page, a body without end, a stopped server.

use mssante_diag_core::config::CredentialUrl;
use mssante_diag_core::Status;
use mssante_diag_tests::{endless_server, fault, healthy, run_only, Stack};

#[test]
fn health_endpoint_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["api.health"]);
    let c = r.check("api.health").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.details["http_status"], 200);
    assert_eq!(c.details["reported_status"], "ok");
    assert_eq!(c.details["body_truncated"], false);
}

#[test]
fn a_redirect_to_a_login_page_is_not_health() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.api.url = CredentialUrl::new(format!("http://{}:{}/redirect-health", stack.var("STACK_HOST"), stack.var("API_PORT")));
    let r = run_only(config.clone(), &["api.health"]);
    let c = r.check("api.health").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("redirected to /login (HTTP 302): not a health endpoint"), "{}", c.summary);
    assert_eq!(c.details["location"], "/login");
    assert!(!c.remediation.is_empty());
    config.lang = mssante_diag_core::Lang::Fr;
    let fr = run_only(config, &["api.health"]);
    let c = fr.check("api.health").expect("ran");
    assert!(c.summary.contains("redirige vers /login"), "{}", c.summary);
}

#[test]
fn an_endless_body_is_read_up_to_its_cap() {
    static CHUNK: [u8; 16 * 1024] = [b' '; 16 * 1024];
    let port = endless_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", &CHUNK, true);
    let mut config = mssante_diag_core::Config::from_toml_str(&format!("[api]\nurl = \"http://127.0.0.1:{port}/health\"\n"), &std::env::temp_dir()).expect("config");
    config.timeout_secs = 2.0;
    let start = std::time::Instant::now();
    let r = run_only(config, &["api.health"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "stopped at the cap, not at the timeout: {:?}", start.elapsed());
    let c = r.check("api.health").expect("ran");
    assert_eq!(c.details["body_truncated"], true, "{:#}", c.details);
    assert_eq!(c.details["body"].as_str().map(str::len), Some(512));
}

#[test]
fn stopped_api_is_refused() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _stopped = stack.stop("nginx");
        run_only(stack.config(), &["api.health"])
    };
    let c = r.check("api.health").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("connection refused"), "{}", c.summary);
}
