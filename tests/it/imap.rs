//! The `imap.*` login checks against the stack's Dovecot: the test account over STARTTLS,
//! the timed session, `doveadm who`, a stopped Dovecot, and hostile servers. (A changed
//! password and a bearer token without XOAUTH2 are tested with SMTP in `smtp.rs`.)

use std::time::{Duration, Instant};

use mssante_diag_core::{Config, Status};
use mssante_diag_tests::{fault, healthy, run_only, Stack};

#[test]
fn auth_latency_and_sessions_are_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["imap"]);
    for c in &r.checks {
        assert_eq!(c.status, Status::Ok, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    let auth = r.check("imap.auth").expect("ran");
    let login = &auth.details["login"];
    assert_eq!(login["accepted"], true);
    assert_eq!(login["method"], "LOGIN");
    assert_eq!(login["plaintext_login_before_tls"], false, "{login:#}");
    assert!(login["session"]["capabilities"].as_array().is_some_and(|c| c.iter().any(|x| x == "LOGINDISABLED")), "{login:#}");
    assert!(auth.summary.contains(stack.var("MAIL_USER")), "{}", auth.summary);
    let latency = r.check("imap.latency").expect("ran");
    let steps: Vec<&str> = latency.details["login"]["steps"].as_array().expect("steps").iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(steps, ["LOGIN", "SELECT", "FETCH", "LOGOUT"]);
    assert_eq!(latency.details["login"]["fetched"], 10, "the seeded INBOX");
    for m in ["total_time", "login_time", "select_time", "fetch_time", "logout_time"] {
        assert!(latency.metrics.iter().any(|x| x.name == m && x.unit == "ms"), "{m}: {:?}", latency.metrics);
    }
    let total = latency.metrics.iter().find(|m| m.name == "total_time").expect("total");
    assert_eq!((total.warn, total.crit), (Some(500.0), Some(2000.0)));
    let sessions = r.check("imap.sessions").expect("ran");
    assert_eq!(sessions.details["ran_in"], "host");
    assert!(sessions.details["total"].as_u64().is_some(), "{:#}", sessions.details);
}

#[test]
fn slow_imap_is_graded_by_the_thresholds() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    // Any real session takes more than a microsecond: the thresholds decide.
    config.imap.latency_warn_ms = 0.001;
    config.imap.latency_crit_ms = 1000.0;
    let r = run_only(config, &["imap.latency"]);
    let c = r.check("imap.latency").expect("ran");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(c.summary.starts_with("slow IMAP") && c.summary.contains("LOGIN") && c.summary.contains("FETCH"), "{}", c.summary);
}

#[test]
fn stopped_dovecot_is_named_by_every_imap_check() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _stopped = stack.stop("dovecot");
        run_only(stack.config(), &["imap", "smtp.auth"])
    };
    for id in ["imap.reachable", "imap.auth", "imap.latency"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Critical, "{id}: {}", c.summary);
        assert!(c.summary.contains("connection refused"), "{id}: {}", c.summary);
    }
    let who = r.check("imap.sessions").expect("ran");
    assert_eq!(who.status, Status::Unknown, "{}", who.summary);
    assert!(who.summary.starts_with("doveadm who failed"), "{}", who.summary);
    // Postfix's SASL goes through Dovecot: AUTH cannot succeed.
    let auth = r.check("smtp.auth").expect("ran");
    assert_eq!(auth.status, Status::Critical, "{}", auth.summary);
}

#[test]
fn doveadm_out_of_reach_is_skipped() {
    let dir = std::env::temp_dir();
    let config = Config::from_toml_str("[imap]\ndoveadm = \"host\"\n", &dir).expect("config");
    // No doveadm on PATH for a bare name? The stack installs it: point at a missing program instead.
    let mut config = config;
    config.imap.doveadm = mssante_diag_core::exec::Place::Service("dovecot".into());
    config.docker.host = "tcp://127.0.0.1:1".into();
    let r = run_only(config, &["imap.sessions", "imap.auth"]);
    let who = r.check("imap.sessions").expect("ran");
    assert_eq!(who.status, Status::Skipped, "{}", who.summary);
    assert!(who.summary.contains("imap.doveadm"), "{}", who.summary);
    let auth = r.check("imap.auth").expect("ran");
    assert_eq!(auth.status, Status::Skipped, "{}", auth.summary);
    assert!(auth.summary.contains("imap.username"), "{}", auth.summary);
}

#[test]
fn hostile_servers_end_every_imap_check_within_its_timeout() {
    for (label, port, _keep) in crate::hostile::hostile_ports(true) {
        let toml = format!("timeout_secs = 1\n[imap]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"u@x.test\"\npassword = \"hostile-pw-Zq9\"\n");
        let config = Config::from_toml_str(&toml, &std::env::temp_dir()).expect("config");
        let start = Instant::now();
        let r = run_only(config, &["imap.reachable", "imap.auth", "imap.latency"]);
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1500), "{label}: took {took:?}");
        for c in &r.checks {
            assert_eq!(c.status, Status::Critical, "{label} {}: {}", c.id, c.summary);
            assert!(c.summary.contains(&format!("127.0.0.1:{port}")), "{label} {}: {}", c.id, c.summary);
            assert!(!format!("{c:?}").contains("Zq9"), "{label} {}", c.id);
            let said = &c.summary;
            let expected = match label {
                "1 MiB line" => said.contains("did not greet") || said.contains("protocol"),
                "silent" => said.contains("no greeting within 1 s"),
                _ => said.contains("TLS handshake after STARTTLS failed"),
            };
            assert!(expected, "{label} {}: {said}", c.id);
        }
    }
}
