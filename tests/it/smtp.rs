//! The `smtp.*` checks against the stack's Postfix: the real sessions (banner, EHLO, STARTTLS,
//! EHLO over TLS, AUTH, RCPT), the peer domains through the stack's NSD, a stopped server,
//! a changed password, an unknown mailbox, an expired certificate, and hostile servers.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use mssante_diag_core::{Config, Lang, Status, TimeoutState};
use mssante_diag_tests::{fault, healthy, hung_listener, run_only, Stack};

#[test]
fn inbound_and_submission_sessions_are_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["smtp"]);
    for c in &r.checks {
        assert_eq!(c.status, Status::Ok, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    for id in ["smtp.inbound", "smtp.submission"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Ok, "{id}: {}\n{:#}", c.summary, c.details);
        assert!(c.details["banner"].as_str().is_some_and(|b| b.starts_with(stack.var("MAIL_HOSTNAME"))), "{id}: {:#}", c.details);
        assert_eq!(c.details["server_name"], stack.var("MAIL_HOSTNAME"));
        assert_eq!(c.details["starttls_offered"], true);
        assert_eq!(c.details["tls_established"], true);
        assert!(c.details["tls"]["version"].as_str().is_some_and(|v| v.contains("TLS")), "{id}: {:#}", c.details);
        assert!(c.details["extensions"].as_array().is_some_and(|e| e.iter().any(|k| k == "PIPELINING")), "{id}: {:#}", c.details);
        // The certificate served: subject, issuer, validity.
        let cert = &c.details["tls"]["certificate"];
        assert!(cert["subject"].as_str().is_some_and(|s| s.contains("CN=mail.mssante.test")), "{id}: {cert:#}");
        assert!(cert["issuer"].as_str().is_some_and(|s| s.contains("TEST AC IGC-SANTE")), "{id}: {cert:#}");
        assert!(cert["days_left"].as_i64().is_some_and(|d| d > 300), "{id}: {cert:#}");
        assert!(cert["dns_names"].as_array().is_some_and(|n| n.iter().any(|x| x == "mail.mssante.test")), "{id}: {cert:#}");
    }
    let inbound = r.check("smtp.inbound").expect("ran");
    let port = stack.var("SMTP_PORT");
    assert!(inbound.summary.contains(&format!(":{port} accepts mail")) && inbound.summary.contains("STARTTLS completed"), "{}", inbound.summary);
}

#[test]
fn inbound_speaks_french() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.lang = Lang::Fr;
    let r = run_only(config, &["smtp.inbound"]);
    let c = r.check("smtp.inbound").expect("ran");
    assert!(c.summary.contains("accepte le courrier") && c.summary.contains("STARTTLS établi"), "{}", c.summary);
}

#[test]
fn stopped_postfix_makes_inbound_critical() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _stopped = stack.stop("postfix");
        run_only(stack.config(), &["smtp.inbound"])
    };
    let c = r.check("smtp.inbound").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("connection refused"), "{}", c.summary);
    let port = stack.var("SMTP_PORT");
    assert!(c.summary.contains(&format!(":{port}")), "{}", c.summary);
    // The remedy cites the configured inbound port and the guide's sections.
    assert!(c.remediation.iter().any(|s| s.command.as_deref().is_some_and(|cmd| cmd.contains(&format!("{}:{port}", stack.var("STACK_HOST"))))), "{:#?}", c.remediation);
    assert!(c.remediation.iter().all(|s| s.guide.contains("Messagerie P2") || s.guide.contains("Réseau P2")));
}

#[test]
fn auth_delivery_and_remote_are_ok_with_their_facts() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["smtp.auth", "smtp.delivery", "smtp.remote"]);
    let auth = r.check("smtp.auth").expect("ran");
    assert_eq!(auth.status, Status::Ok, "{}", auth.summary);
    assert!(auth.summary.contains(stack.var("MAIL_USER")) && auth.summary.contains("PLAIN over TLS"), "{}", auth.summary);
    assert_eq!(auth.details["attempt"]["reply"]["code"], 235);
    assert!(!auth.details.to_string().contains(stack.var("MAIL_PASSWORD")), "the password is never shown");
    let delivery = r.check("smtp.delivery").expect("ran");
    assert_eq!(delivery.status, Status::Ok, "{}", delivery.summary);
    assert_eq!(delivery.details["rcpt_to"]["code"], 250);
    assert_eq!(delivery.details["session"]["tls_established"], true, "probed over STARTTLS like a peer MTA");
    let remote = r.check("smtp.remote").expect("ran");
    assert_eq!(remote.status, Status::Ok, "{}", remote.summary);
    let peers = remote.details["peers"].as_array().expect("peers");
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[1]["host"], "mx.peer.mssante.test");
    assert_eq!(peers[1]["banner"]["code"], 220);
    assert!(remote.summary.contains(&format!("port {}", stack.var("SMTP_PORT"))), "{}", remote.summary);
}

#[test]
fn unknown_mailbox_is_refused_with_550() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    config.smtp.delivery_mailbox = Some("nobody-here@mssante.test".into());
    let r = run_only(config, &["smtp.delivery"]);
    let c = r.check("smtp.delivery").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("does not know the mailbox nobody-here@mssante.test") && c.summary.contains("550"), "{}", c.summary);
    assert_eq!(c.details["rcpt_to"]["code"], 550);
    assert_eq!(c.details["rcpt_to"]["enhanced"], "5.1.1");
}

#[test]
fn remote_failures_name_the_step() {
    let stack = Stack::get();
    let _g = healthy();
    let (_hung, hung_port) = hung_listener();
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let cases: &[(&[&str], u16, &[&str])] = &[
        (&["nowhere.mssante.test"], 25, &["nowhere.mssante.test: MX lookup failed: no such domain (NXDOMAIN)"]),
        (&["broken-peer.mssante.test"], 25, &["MX host nowhere.mssante.test does not resolve"]),
        (&["loopback-peer.mssante.test"], closed, &["MX mx.loopback-peer.mssante.test (127.0.0.1:", "connection refused"]),
        (&["loopback-peer.mssante.test"], hung_port, &["accepted the connection, no banner within 1 s"]),
    ];
    for (domains, port, words) in cases {
        let mut config = stack.config();
        config.timeout_secs = 1.0;
        config.smtp.peer_domains = domains.iter().map(|d| (*d).to_owned()).collect();
        config.smtp.remote_port = *port;
        let start = Instant::now();
        let r = run_only(config, &["smtp.remote"]);
        assert!(start.elapsed() < Duration::from_millis(1500), "{domains:?}: {:?}", start.elapsed());
        let c = r.check("smtp.remote").expect("ran");
        assert_eq!(c.status, Status::Critical, "{domains:?}: {}", c.summary);
        for w in *words {
            assert!(c.summary.contains(w), "{domains:?} should say `{w}`: {}", c.summary);
        }
    }
    // A dead nameserver: the MX lookup is the step that fails.
    let mut config = stack.config();
    config.timeout_secs = 1.0;
    config.smtp.resolver = vec![mssante_diag_core::resolver::Nameserver(format!("127.0.0.1:{closed}").parse().expect("addr"))];
    let r = run_only(config, &["smtp.remote"]);
    let c = r.check("smtp.remote").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("mssante.test") && c.summary.contains("MX lookup"), "{}", c.summary);
}

#[test]
fn no_test_account_or_peer_skips_naming_the_key() {
    let config = Config::from_toml_str("[smtp]\nhost = \"127.0.0.1\"\n", &std::env::temp_dir()).expect("config");
    let r = run_only(config, &["smtp.auth", "smtp.delivery", "smtp.remote"]);
    for (id, key) in [("smtp.auth", "smtp.username"), ("smtp.delivery", "smtp.delivery_mailbox"), ("smtp.remote", "smtp.peer_domains")] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Skipped, "{id}: {}", c.summary);
        assert!(c.summary.contains(key), "{id} names {key}: {}", c.summary);
    }
}

#[test]
fn a_bearer_token_without_xoauth2_offered_is_explained() {
    let stack = Stack::get();
    let _g = healthy();
    let dir = std::env::temp_dir().join(format!("mssante-diag-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let token = dir.join("token");
    std::fs::write(&token, "eyJ-test-bearer-token-Zq9\n").expect("token");
    let mut config = stack.config();
    config.smtp.account.bearer_token_file = Some(token.clone());
    config.imap.account.bearer_token_file = Some(token);
    let r = run_only(config, &["smtp.auth", "imap.auth"]);
    let _ = std::fs::remove_dir_all(&dir);
    for id in ["smtp.auth", "imap.auth"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Critical, "{id}: {}", c.summary);
        assert!(c.summary.contains("mechanism not offered"), "{id}: {}", c.summary);
        assert!(!format!("{c:?}").contains("Zq9"), "{id}: the token is never shown");
    }
    let smtp = r.check("smtp.auth").expect("ran");
    assert!(smtp.summary.contains("AUTH PLAIN LOGIN") && smtp.summary.contains("OAUTHBEARER/XOAUTH2"), "{}", smtp.summary);
}

/// Rewrites the stack's Dovecot users file with another password for the test account, and
/// puts the original back on drop (Dovecot sees the change by size: the lengths differ).
struct ChangedPassword(std::path::PathBuf, String);

/// Dovecot looks at its passwd-file at most once a second: a change is seen by the first
/// lookup of a later second.
fn next_second() {
    let sub = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    std::thread::sleep(Duration::from_millis(u64::from(1010 - sub)));
}

impl ChangedPassword {
    fn new(stack: &Stack) -> Self {
        let path = std::path::PathBuf::from(stack.var("DOVECOT_USERS_FILE"));
        let original = std::fs::read_to_string(&path).expect("users file");
        let pw = stack.var("MAIL_PASSWORD");
        std::fs::write(&path, original.replace(&format!("{{PLAIN}}{pw}:"), "{PLAIN}a-much-longer-changed-password:")).expect("rewrite users file");
        next_second();
        Self(path, original)
    }
}

impl Drop for ChangedPassword {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, &self.1);
        next_second();
    }
}

#[test]
fn a_changed_password_is_explained_and_never_shown() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _changed = ChangedPassword::new(stack);
        run_only(stack.config(), &["smtp.auth", "imap.auth", "imap.latency"])
    };
    let pw = stack.var("MAIL_PASSWORD");
    let smtp = r.check("smtp.auth").expect("ran");
    assert_eq!(smtp.status, Status::Critical, "{}", smtp.summary);
    assert!(smtp.summary.starts_with("wrong credentials") && smtp.summary.contains("535"), "{}\n{:#}", smtp.summary, smtp.details);
    assert_eq!(smtp.details["refusal"], "wrong_credentials");
    for id in ["imap.auth", "imap.latency"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Critical, "{id}: {}", c.summary);
        assert!(c.summary.starts_with("wrong credentials") && c.summary.contains("AUTHENTICATIONFAILED"), "{id}: {}", c.summary);
    }
    assert!(!r.to_json().contains(pw), "the password is never shown");
    // Restored: the account logs in again.
    let r = run_only(stack.config(), &["smtp.auth", "imap.auth"]);
    assert!(r.checks.iter().all(|c| c.status == Status::Ok), "{:#?}", r.checks.iter().map(|c| &c.summary).collect::<Vec<_>>());
}

/// Makes the stack's Postfix serve the expired certificate until dropped.
struct ExpiredCert(&'static Stack);

impl ExpiredCert {
    fn postfix(stack: &'static Stack, args: &[&str]) {
        let dir = stack.var("POSTFIX_CONFIG_DIR");
        let out = Command::new(args[0]).args(["-c", dir]).args(&args[1..]).output().expect("postfix tools run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // Postfix commands wait a second after main.cf was modified within the last one.
        let _ = Command::new("touch").args(["-d", "2 seconds ago", &format!("{dir}/main.cf")]).status();
    }
    /// After a reload, an smtpd already waiting for a client may still take one with the old
    /// settings: wait (bounded) until a new session sees the `expired` certificate, or not.
    fn wait_until_served(stack: &Stack, expired: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = run_only(stack.config(), &["smtp.inbound"]);
            let after = r.check("smtp.inbound").and_then(|c| c.details["tls"]["certificate"]["not_after"].as_str().map(str::to_owned));
            if after.is_some_and(|a| a.starts_with("2021-") == expired) || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn new(stack: &'static Stack) -> Self {
        let chain = format!("smtpd_tls_chain_files = {}, {}", stack.var("EXPIRED_KEY"), stack.var("EXPIRED_CERT"));
        Self::postfix(stack, &["postconf", "-e", &chain]);
        Self::postfix(stack, &["postfix", "reload"]);
        Self::wait_until_served(stack, true);
        Self(stack)
    }
}

impl Drop for ExpiredCert {
    fn drop(&mut self) {
        Self::postfix(self.0, &["postconf", "-X", "smtpd_tls_chain_files"]);
        Self::postfix(self.0, &["postfix", "reload"]);
        Self::wait_until_served(self.0, false);
    }
}

#[test]
fn an_expired_certificate_is_critical() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _expired = ExpiredCert::new(stack);
        run_only(stack.config(), &["smtp.inbound", "smtp.submission"])
    };
    for id in ["smtp.inbound", "smtp.submission"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Critical, "{id}: {}", c.summary);
        assert!(c.summary.contains("serves an expired certificate") && c.summary.contains("2021-01-01"), "{id}: {}", c.summary);
        assert_eq!(c.details["tls"]["certificate"]["not_after"], "2021-01-01T00:00:00+00:00");
    }
    let r = run_only(stack.config(), &["smtp.inbound"]);
    assert_eq!(r.check("smtp.inbound").expect("ran").status, Status::Ok, "restored");
}

#[test]
fn hostile_servers_end_every_smtp_check_within_its_timeout() {
    for (label, port, _keep) in crate::hostile::hostile_ports(false) {
        let toml = format!(
            "timeout_secs = 1\n[smtp]\nhost = \"127.0.0.1\"\ninbound_port = {port}\nsubmission_port = {port}\nusername = \"u@x.test\"\npassword = \"hostile-pw-Zq9\"\n\
             delivery_mailbox = \"u@x.test\"\npeer_domains = [\"loopback-peer.mssante.test\"]\nremote_port = {port}\nresolver = [\"127.0.77.1:10053\"]\n"
        );
        let mut config = Config::from_toml_str(&toml, &std::env::temp_dir()).expect("config");
        config.timeout_state = TimeoutState::Critical;
        let start = Instant::now();
        let r = run_only(config, &["smtp"]);
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1500), "{label}: took {took:?}");
        assert_eq!(r.checks.len(), 5, "{label}");
        for c in &r.checks {
            if label == "closes mid-handshake" && c.id == "smtp.remote" {
                // A peer MX is only asked for its banner, which this one gives.
                assert_eq!(c.status, Status::Ok, "{}", c.summary);
                continue;
            }
            assert_eq!(c.status, Status::Critical, "{label} {}: {}", c.id, c.summary);
            assert!(c.summary.contains("127.0.0.1"), "{label} {} names its target: {}", c.id, c.summary);
            assert!(!c.summary.contains("Zq9") && !c.details.to_string().contains("Zq9"), "{label} {}", c.id);
            let said = &c.summary;
            let expected = match label {
                "1 MiB line" => said.contains("too long") || said.contains("more data than"),
                "silent" => said.contains("no banner within 1 s"),
                _ => said.contains("TLS handshake after STARTTLS failed"),
            };
            assert!(expected, "{label} {}: {said}", c.id);
        }
    }
}
