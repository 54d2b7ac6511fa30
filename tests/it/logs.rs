//! The mail log summary (`maillog`, `logs summarize`, `postfix.log`) on generated, realistic
//! Postfix + Dovecot logs whose content is known (exact counts and top reasons), on the
//! stack's real Postfix and Dovecot logs, and on a real container's Docker log.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use mssante_diag_core::maillog::{self, Counted, Options, Summary};
use mssante_diag_core::Status;
use mssante_diag_tests::maillog::{generate, Expected, Profile};
use mssante_diag_tests::{cli_bin, healthy, run_only, Stack};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A fixture spanning the last 50 minutes.
fn recent(p: Profile) -> Profile {
    Profile { start: now() - 3000, span_secs: 2900, ..p }
}

fn write_fixture(dir: &std::path::Path, name: &str, p: &Profile, seed: u64) -> (std::path::PathBuf, Expected) {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("fixture file"));
    let e = generate(p, seed, &mut f).expect("fixture written");
    f.flush().expect("flushed");
    (path, e)
}

fn as_map(list: &[Counted]) -> BTreeMap<String, u64> {
    list.iter().map(|c| (c.value.clone(), c.count)).collect()
}

/// Every count of the summary against what the generator wrote.
fn assert_matches(s: &Summary, e: &Expected) {
    assert_eq!(s.lines.total, e.lines);
    assert_eq!((s.received, s.delivered, s.deferred, s.bounced, s.rejected), (e.received, e.delivered, e.deferred, e.bounced, e.rejected), "{s:#?}");
    assert_eq!(s.bounce_notifications, e.bounce_notifications);
    let m = &s.messages;
    assert_eq!(
        (m.delivered, m.delivered_after_deferral, m.bounced, m.deferred, m.still_queued, m.unjoined),
        (e.msg_delivered, e.msg_delivered_after_deferral, e.msg_bounced, e.msg_deferred, e.msg_still_queued, 0)
    );
    assert_eq!(as_map(&s.top_deferral_reasons), e.deferral_reasons);
    assert_eq!(as_map(&s.top_bounce_reasons), e.bounce_reasons);
    assert_eq!(as_map(&s.top_reject_reasons), e.reject_reasons);
    assert_eq!((s.auth_failures.smtp_sasl, s.auth_failures.dovecot), (e.sasl_failures, e.dovecot_failures));
    assert_eq!(as_map(&s.auth_failures.by_client), e.auth_clients);
    assert_eq!(s.dovecot_logins, e.dovecot_logins);
    assert_eq!((s.tls_failures.handshakes, s.tls_failures.library_problems), (e.tls_handshakes, e.tls_library));
    let sk = &s.lines.skipped;
    assert_eq!([sk.malformed, sk.non_utf8, sk.too_long, sk.unknown_program], e.junk);
    // The most frequent deferral reason is first.
    let top = e.deferral_reasons.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone());
    assert_eq!(s.top_deferral_reasons.first().map(|c| c.value.clone()), top);
}

#[test]
fn generated_log_gives_exact_counts_and_reasons_on_any_number_of_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Profile { messages: 5000, deferral_pct: 12, bounce_pct: 4, start: now() - 86_400, span_secs: 80_000, ..Profile::default() };
    let (path, e) = write_fixture(dir.path(), "mail.log", &p, 7);
    assert!(e.deferred > 50 && e.bounced > 20 && e.msg_still_queued > 10, "{e:?}");
    let one = maillog::summarize_paths(&[&path], &Options { threads: Some(1), ..Options::default() }).expect("read");
    assert_matches(&one, &e);
    let many = maillog::summarize_paths(&[&path], &Options { threads: Some(4), ..Options::default() }).expect("read");
    assert_eq!(one, many);
    // RFC 3339 timestamps read alike.
    let (path3339, e3339) = write_fixture(dir.path(), "mail-3339.log", &Profile { rfc3339: true, ..p }, 7);
    assert_eq!(e3339.received, e.received);
    assert_matches(&maillog::summarize_paths(&[&path3339], &Options::default()).expect("read"), &e3339);
}

#[test]
fn window_keeps_only_its_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = now() - 7200;
    // Two logs of known content, one hour apart; the window takes the second.
    let (old, _) = write_fixture(dir.path(), "old.log", &Profile { start, span_secs: 3000, junk: false, ..Profile::default() }, 1);
    let (new, e) = write_fixture(dir.path(), "new.log", &Profile { start: start + 3600, span_secs: 3000, junk: false, ..Profile::default() }, 2);
    let s = maillog::summarize_paths(&[&old, &new], &Options { since: Some(start + 3500), ..Options::default() }).expect("read");
    assert_eq!((s.received, s.delivered, s.deferred, s.bounced), (e.received, e.delivered, e.deferred, e.bounced));
    assert!(s.lines.outside_window > 0);
}

fn cli_json(args: &[&str], stdin: Option<&std::path::Path>) -> serde_json::Value {
    let mut cmd = Command::new(cli_bin());
    cmd.args(["logs", "summarize", "--format", "json"]).args(args);
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).expect("fixture")),
        None => Stdio::null(),
    });
    let out = cmd.output().expect("CLI runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

#[test]
fn cli_plain_gz_and_stdin_give_the_same_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, e) = write_fixture(dir.path(), "mail.log", &recent(Profile::default()), 11);
    let gz = dir.path().join("mail.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("gz file"), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&path).expect("fixture")).expect("compressed");
    enc.finish().expect("gz closed");
    let plain = cli_json(&[path.to_str().expect("utf-8 path")], None);
    let from_gz = cli_json(&[gz.to_str().expect("utf-8 path")], None);
    let from_stdin = cli_json(&[], Some(&path));
    let from_dash = cli_json(&["-"], Some(&path));
    assert_eq!(plain, from_gz);
    assert_eq!(plain, from_stdin);
    assert_eq!(plain, from_dash);
    assert_eq!(plain["deferred"], e.deferred);
    assert_eq!(plain["bounced"], e.bounced);
    assert_eq!(plain["auth_failures"]["total"], e.sasl_failures + e.dovecot_failures);
    // A relative --since, and masking.
    let masked = cli_json(&["--since", "2h", "--mask-addresses", path.to_str().expect("utf-8 path")], None);
    assert_eq!(masked["lines"]["outside_window"], 0);
    assert_eq!(masked["masked"], true);
    let clients: Vec<&str> = masked["auth_failures"]["by_client"].as_array().expect("list").iter().filter_map(|c| c["value"].as_str()).collect();
    assert!(!clients.is_empty() && clients.iter().all(|c| c.ends_with(".x")), "{clients:?}");
    // Human output in French names the top deferral reason.
    let out = Command::new(cli_bin()).args(["--lang", "fr", "logs", "summarize", path.to_str().expect("utf-8 path")]).output().expect("CLI runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let top = e.deferral_reasons.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone()).unwrap_or_default();
    assert!(text.contains("Principales causes de report") && text.contains(&top), "{text}");
    // Bad input is a usage error.
    let bad = Command::new(cli_bin()).args(["logs", "summarize", "--since", "yesterday", "-"]).stdin(Stdio::null()).output().expect("CLI runs");
    assert_eq!(bad.status.code(), Some(3));
}

fn config_reading(path: &std::path::Path) -> mssante_diag_core::Config {
    let mut c = Stack::get().config();
    c.postfix.log_paths = vec![path.to_string_lossy().into_owned()];
    // The built-in thresholds (the stack's project raises the failed-login ones).
    let d = mssante_diag_core::checks::postfix::Settings::default();
    (c.postfix.auth_failures_warn, c.postfix.auth_failures_crit) = (d.auth_failures_warn, d.auth_failures_crit);
    c
}

#[test]
fn high_deferral_and_bounce_rates_and_sasl_failures_are_critical_with_their_top_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = recent(Profile { messages: 600, deferral_pct: 75, bounce_pct: 25, sasl_failures: 1200, ..Profile::default() });
    let (path, e) = write_fixture(dir.path(), "mail.log", &p, 3);
    let r = run_only(config_reading(&path), &["postfix.log"]);
    let c = r.check("postfix.log").expect("ran");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    let top_deferral = e.deferral_reasons.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone()).unwrap_or_default();
    let top_bounce = e.bounce_reasons.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone()).unwrap_or_default();
    assert!(c.summary.contains(&format!("top reason: {top_deferral} ({})", e.deferral_reasons[&top_deferral])), "{}", c.summary);
    assert!(c.summary.contains(&format!("top reason: {top_bounce}")), "{}", c.summary);
    // The most frequent client (ties: the first address in order, as the summary sorts them).
    let max = e.auth_clients.values().copied().max().expect("failed logins");
    let (client, n) = e.auth_clients.iter().find(|(_, n)| **n == max).expect("a top client");
    assert!(c.summary.contains(&format!("{} failed logins (warn 100), top client: {client} ({n})", e.sasl_failures + e.dovecot_failures)), "{}", c.summary);
    assert_eq!(c.details["summary"]["deferred"], e.deferred);
    assert!(c.remediation.iter().any(|r| r.guide == "Messagerie P1" && r.command.as_deref().is_some_and(|c| c.contains("status=deferred"))));
    assert!(c.remediation.iter().any(|r| r.guide == "Messagerie P3"), "an SPF/DKIM bounce points at Messagerie P3");
    assert!(c.remediation.iter().any(|r| r.guide == "Messagerie P2"));
    assert!(c.metrics.iter().any(|m| m.name == "deferral_rate" && m.value > 20.0));
}

#[test]
fn a_moderate_deferral_rate_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = recent(Profile { messages: 1000, deferral_pct: 80, bounce_pct: 0, sasl_failures: 5, dovecot_failures: 5, ..Profile::default() });
    let (path, e) = write_fixture(dir.path(), "mail.log", &p, 5);
    let r = run_only(config_reading(&path), &["postfix.log"]);
    let c = r.check("postfix.log").expect("ran");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(c.summary.contains(&format!("{} deferral(s)", e.deferred)), "{}", c.summary);
    assert!(c.summary.contains("5 unreadable line(s) skipped"), "{}", c.summary);
}

#[test]
fn healthy_stack_log_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["postfix.log"]);
    let c = r.check("postfix.log").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    // The stack's real Postfix and Dovecot logs, found under data/logs/ with no configuration.
    let files = c.details["source"]["files"].as_array().expect("files");
    assert!(files.iter().any(|f| f == "data/logs/postfix.log"), "{:#}", c.details["source"]);
    assert!(c.details["summary"]["lines"]["postfix"].as_u64().is_some_and(|n| n > 0), "{:#}", c.details["summary"]["lines"]);
}

#[test]
fn no_log_anywhere_is_unknown_naming_the_keys() {
    let mut c = Stack::get().config();
    c.postfix.log_paths = vec!["/nonexistent/mail*.log".into()];
    c.docker.project = format!("mssante-it-nolog-{}", std::process::id());
    let r = run_only(c, &["postfix.log"]);
    let res = r.check("postfix.log").expect("ran");
    assert_eq!(res.status, Status::Unknown, "{}", res.summary);
    assert!(res.summary.contains("postfix.log_paths") && res.summary.contains("no container for service `postfix`"), "{}", res.summary);
}

#[test]
fn docker_log_of_the_postfix_service_is_read_when_no_file_matches() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = recent(Profile { messages: 300, junk: false, ..Profile::default() });
    let (path, e) = write_fixture(dir.path(), "mail.log", &p, 9);
    let host = stack.var("DOCKER_HOST");
    let project = format!("mssante-it-maillog-{}", std::process::id());
    let name = format!("{project}-postfix-1");
    let docker = |args: &[&str]| Command::new("docker").arg("-H").arg(host).args(args).output().expect("docker CLI runs");
    let mount = format!("{}:/mail.log:ro", path.display());
    let out = docker(&[
        "run", "--name", &name, "--network", "none", "--label", &format!("com.docker.compose.project={project}"), "--label", "com.docker.compose.service=postfix", "-v", &mount,
        stack.var("DOCKER_IMAGE"), "cat", "/mail.log",
    ]);
    let cleanup = || docker(&["rm", "-f", &name]);
    if !out.status.success() {
        cleanup();
        panic!("docker run: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut c = stack.config();
    c.postfix.log_paths = Vec::new();
    c.docker.project.clone_from(&project);
    let r = run_only(c, &["postfix.log"]);
    cleanup();
    let res = r.check("postfix.log").expect("ran");
    assert_eq!(res.details["source"]["docker"]["service"], "postfix", "{}: {:#}", res.summary, res.details);
    assert_eq!(res.details["summary"]["received"], e.received, "{}", res.summary);
    assert_eq!(res.details["summary"]["delivered"], e.delivered);
    assert_eq!(res.details["summary"]["deferred"], e.deferred);
}
