//! IMAP latency benchmark (issue target): `imap.latency` on the local Dovecot completes in
//! under 200 ms. Prints the median of each step (LOGIN, SELECT INBOX, FETCH 1:10 (FLAGS),
//! LOGOUT, after connect + STARTTLS), the whole check as the runner runs it, and beside it the
//! guide's own measurement (Messagerie P4): `time openssl s_client -starttls imap -quiet`
//! fed the same four commands.
//!
//! Run: `cargo build --release -p mssante-diag-benches && target/release/imap_bench [ROUNDS]`
//! (the test stack must be up: `tests/stack/stack.sh up`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use mssante_diag_benches::{faster, Row};
use mssante_diag_core::account::Login;
use mssante_diag_core::checks::imap::{login_session, Then};
use mssante_diag_core::{Lang, Selection, Status};
use mssante_diag_tests::Stack;

/// The budget for the whole check.
const BUDGET_MS: f64 = 200.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The guide's script: openssl s_client with the four commands on its standard input.
fn openssl_session(stack: &Stack) -> f64 {
    let start = Instant::now();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("{}:{}", stack.var("STACK_HOST"), stack.var("IMAP_PORT")), "-starttls", "imap", "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    let script = format!(
        "a001 LOGIN {} {}\r\na002 SELECT INBOX\r\na003 FETCH 1:10 (FLAGS)\r\na004 LOGOUT\r\n",
        stack.var("MAIL_USER"),
        stack.var("MAIL_PASSWORD")
    );
    let _ = child.stdin.as_mut().expect("stdin").write_all(script.as_bytes());
    drop(child.stdin.take());
    let _ = child.wait();
    start.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let stack = Stack::get();
    let config = Arc::new(stack.config());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let c = &config.imap;
    let login = Login::resolve(&c.account, "imap", &config, Lang::En).expect("the stack's project has a test account");
    let mut steps: Vec<(&'static str, Vec<f64>)> = Vec::new();
    let mut sessions = Vec::new();
    let mut checks = Vec::new();
    let only = Selection::Only(vec!["imap.latency".into()]);
    rt.block_on(async {
        for _ in 0..rounds {
            let l = login_session(&c.host, c.port, &c.tls_name, &login, Then::Latency, config.timeout(), Lang::En).await.expect("session");
            assert!(l.accepted, "the test account logs in");
            for t in &l.steps {
                match steps.iter_mut().find(|(s, _)| *s == t.step) {
                    Some((_, v)) => v.push(t.ms),
                    None => steps.push((t.step, vec![t.ms])),
                }
            }
            sessions.push(l.session.latency_ms);
            let start = Instant::now();
            let report = mssante_diag_core::run(config.clone(), &only).await.expect("imap is a subsystem");
            checks.push(start.elapsed().as_secs_f64() * 1000.0);
            let check = report.check("imap.latency").expect("ran");
            assert_eq!(check.status, Status::Ok, "{}", check.summary);
        }
    });
    let peer: Vec<f64> = (0..rounds).map(|_| openssl_session(stack)).collect();
    println!("imap.latency on {}:{} ({rounds} rounds, medians)", c.host, c.port);
    for (step, v) in &steps {
        println!("  {step:<8} {:8.2} ms", median(v.clone()));
    }
    let total: f64 = steps.iter().map(|(_, v)| median(v.clone())).sum();
    println!("  {:<8} {:8.2} ms  (the check's total_time metric)", "steps", total);
    println!("  {:<8} {:8.2} ms  (connect, STARTTLS, CAPABILITY and the steps)", "session", median(sessions));
    let check = median(checks);
    println!("  {:<8} {:8.2} ms  (mssante-diag run of imap.latency, budget {BUDGET_MS} ms)", "check", check);
    println!("  {:<8} {:8.2} ms  (guide: openssl s_client -starttls imap -quiet, same commands)", "openssl", median(peer.clone()));
    let pass = check < BUDGET_MS;
    let openssl = median(peer);
    Row::new("imap", &format!("imap.latency check (STARTTLS, LOGIN, SELECT, FETCH 1:10, LOGOUT), median of {rounds}"), format!("{check:.1} ms"))
        .peer("the guide's openssl s_client -starttls imap, same commands", format!("{openssl:.1} ms"))
        .ratio(faster(check, openssl))
        .target(format!("< {BUDGET_MS} ms"), pass)
        .print();
    println!("{}", if pass { "PASS" } else { "FAIL" });
    std::process::exit(i32::from(!pass));
}
