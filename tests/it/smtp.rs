//! `smtp.inbound` and `smtp.submission` against the stack's Postfix: the real session
//! (banner, EHLO, STARTTLS, EHLO over TLS), and a stopped server.

use mssante_diag_core::{Lang, Status};
use mssante_diag_tests::{fault, healthy, run_only, Stack};

#[test]
fn inbound_and_submission_sessions_are_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["smtp"]);
    for id in ["smtp.inbound", "smtp.submission"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Ok, "{id}: {}\n{:#}", c.summary, c.details);
        assert!(c.details["banner"].as_str().is_some_and(|b| b.starts_with(stack.var("MAIL_HOSTNAME"))), "{id}: {:#}", c.details);
        assert_eq!(c.details["server_name"], stack.var("MAIL_HOSTNAME"));
        assert_eq!(c.details["starttls_offered"], true);
        assert_eq!(c.details["tls_established"], true);
        assert!(c.details["tls"]["version"].as_str().is_some_and(|v| v.contains("TLS")), "{id}: {:#}", c.details);
        assert!(c.details["extensions"].as_array().is_some_and(|e| e.iter().any(|k| k == "PIPELINING")), "{id}: {:#}", c.details);
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
