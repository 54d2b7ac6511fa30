//! `postfix.queue` against the stack's own Postfix instance (`postqueue -c DIR` on the host):
//! an empty queue, a message deferred to an unreachable domain (count, age, reason, domain;
//! `-j` and `-p` read alike), Postfix stopped, and postqueue out of reach.

use mssante_diag_core::checks::postfix::{parse_json, parse_text};
use mssante_diag_core::exec::Place;
use mssante_diag_core::Status;
use mssante_diag_tests::{fault, healthy, postqueue, run_only, Deferred, Stack};

#[test]
fn empty_queue_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["postfix.queue"]);
    let c = r.check("postfix.queue").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.summary, "mail queue empty");
    assert_eq!(c.details["format"], "json");
    for q in ["active", "deferred", "hold", "incoming"] {
        assert_eq!(c.details["counts"][q], 0, "{q}");
    }
}

#[test]
fn deferred_mail_is_counted_with_its_age_reason_and_domain() {
    let stack = Stack::get();
    let _g = fault();
    let deferred = Deferred::send(stack, "someone@unreachable.test");
    let mut config = stack.config();
    config.postfix.queue_warn = 1;
    let r = run_only(config, &["postfix.queue"]);
    let c = r.check("postfix.queue").expect("ran");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert_eq!(c.details["counts"]["deferred"], 1, "{:#}", c.details);
    assert_eq!(c.details["oldest_id"], deferred.1.as_str());
    assert!(c.details["oldest_age_secs"].as_i64().is_some_and(|a| (0..60).contains(&a)), "{:#}", c.details);
    let reason = c.details["top_reasons"][0]["value"].as_str().unwrap_or_default();
    assert!(reason.contains("Connection refused"), "{reason}");
    assert_eq!(c.details["top_domains"][0]["value"], "unreachable.test");
    assert!(c.summary.contains("1 message(s) queued") && c.summary.contains("deferred 1") && c.summary.contains("unreachable.test (1)"), "{}", c.summary);
    assert!(c.metrics.iter().any(|m| m.name == "queued" && m.value == 1.0 && m.warn == Some(1.0)), "{:?}", c.metrics);
    // The text form of older Postfix reads the same queue alike.
    let (json, bad_json) = parse_json(&postqueue(stack, "-j"));
    let (text, bad_text) = parse_text(&postqueue(stack, "-p"), chrono::Local::now());
    assert_eq!((bad_json, bad_text), (0, 0));
    assert_eq!(json.len(), text.len());
    for (j, t) in json.iter().zip(&text) {
        assert_eq!((&j.id, &j.queue, j.arrival_time, j.size, &j.recipients), (&t.id, &t.queue, t.arrival_time, t.size, &t.recipients));
    }
    drop(deferred);
    let r = run_only(stack.config(), &["postfix.queue"]);
    assert_eq!(r.check("postfix.queue").expect("ran").status, Status::Ok);
}

#[test]
fn stopped_postfix_is_critical_for_the_queue_and_the_sessions() {
    let stack = Stack::get();
    let _g = fault();
    let r = {
        let _stopped = stack.stop("postfix");
        run_only(stack.config(), &["postfix.queue", "smtp.auth", "smtp.delivery", "smtp.remote"])
    };
    let q = r.check("postfix.queue").expect("ran");
    assert_eq!(q.status, Status::Critical, "{}", q.summary);
    // As root, postqueue still reads the queue files; it warns that the mail system is down.
    assert!(q.summary.starts_with("Postfix is down (queue read directly"), "{}", q.summary);
    assert_eq!(q.details["mail_system_down"], true);
    for id in ["smtp.auth", "smtp.delivery", "smtp.remote"] {
        let c = r.check(id).expect("ran");
        assert_eq!(c.status, Status::Critical, "{id}: {}", c.summary);
        assert!(c.summary.contains("connection refused"), "{id}: {}", c.summary);
    }
}

#[test]
fn postqueue_out_of_reach_is_unknown_naming_the_keys() {
    let stack = Stack::get();
    let _g = healthy();
    let mut config = stack.config();
    // The stack's compose containers are busybox: no postqueue in them.
    config.postfix.place = Place::Service("postfix".into());
    let r = run_only(config, &["postfix.queue"]);
    let c = r.check("postfix.queue").expect("ran");
    assert_eq!(c.status, Status::Unknown, "{}", c.summary);
    assert!(c.summary.contains("postqueue") || c.summary.contains("postfix.place"), "{}", c.summary);
}
