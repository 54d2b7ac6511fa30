//! Hung and hostile peers: every probe ends within the timeout with a reason,
//! never hangs, never panics.

use std::time::{Duration, Instant};

use mssante_diag_core::{Config, Selection, Status};
use mssante_diag_tests::{hostile_server, hung_listener, run, run_only};

fn config_all_on(port: u16, timeout: f64) -> Config {
    let text = format!(
        "timeout_secs = {timeout}\n\
         [api]\nurl = \"http://127.0.0.1:{port}/health\"\n\
         [postgres]\nhost = \"127.0.0.1\"\nport = {port}\n\
         [redis]\nhost = \"127.0.0.1\"\nport = {port}\n\
         [smtp]\nhost = \"127.0.0.1\"\nsubmission_port = {port}\ninbound_port = {port}\n\
         [imap]\nhost = \"127.0.0.1\"\nport = {port}\n"
    );
    let dir = std::env::temp_dir();
    Config::from_toml_str(&text, &dir).expect("valid config")
}

#[test]
fn hung_endpoints_end_within_the_timeout() {
    let (_listener, port) = hung_listener();
    let config = config_all_on(port, 1.0);
    let start = Instant::now();
    let report = run(config, &Selection::Only(vec!["api".into(), "postgres.reachable".into(), "redis".into(), "smtp.submission".into(), "imap".into()]));
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1100) + Duration::from_millis(400), "took {took:?}");
    for c in &report.checks {
        assert!(matches!(c.status, Status::Unknown | Status::Critical), "{}: {:?}", c.id, c.status);
        assert!(c.summary.contains("timed out after 1 s"), "{}: {}", c.id, c.summary);
    }
}

#[test]
fn garbage_banners_are_reported_not_fatal() {
    let port = hostile_server(b"\x00\xff garbage \r\nHTTP/1.1 200 OK\r\n\r\n", false);
    let config = config_all_on(port, 2.0);
    let report = run_only(config, &["smtp.submission", "imap.reachable", "redis.reachable", "postgres.reachable"]);
    for c in &report.checks {
        assert!(matches!(c.status, Status::Critical | Status::Unknown), "{}: {:?} {}", c.id, c.status, c.summary);
        assert!(!c.summary.is_empty());
    }
    let imap = report.check("imap.reachable").expect("ran");
    assert!(imap.summary.contains("did not greet as an IMAP server") || imap.summary.contains("protocol"), "{}", imap.summary);
}

#[test]
fn endless_lines_do_not_exhaust_memory() {
    // A server streaming one line that never ends.
    static CHUNK: [u8; 64 * 1024] = [b'A'; 64 * 1024];
    let port = hostile_server(&CHUNK, true);
    let config = config_all_on(port, 2.0);
    let start = Instant::now();
    let report = run_only(config, &["imap.reachable"]);
    assert!(start.elapsed() < Duration::from_secs(3));
    let imap = report.check("imap.reachable").expect("ran");
    assert!(matches!(imap.status, Status::Critical | Status::Unknown), "{}", imap.summary);
}
