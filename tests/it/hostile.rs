//! Hung and hostile peers: every probe ends within the timeout with a reason naming the
//! step, never hangs, never panics, never grows its memory with what a peer sends; a tool
//! that outlives the timeout is killed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssante_diag_core::exec::{self, ExecError, Place};
use mssante_diag_core::{Config, Ctx, Selection, Status, TimeoutState};
use mssante_diag_tests::{cli_bin, endless_server, healthy, hostile_server, hung_listener, run, run_measuring_memory, run_only, Stack};

/// A loopback server that plays an SMTP or IMAP server up to STARTTLS, then closes the
/// connection in the middle of the TLS handshake (after reading the ClientHello).
fn closes_mid_handshake(imap: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut w = s.try_clone().expect("clone");
                let mut r = BufReader::new(s);
                let greeting: &[u8] = if imap { b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hostile\r\n" } else { b"220 hostile ESMTP\r\n" };
                if w.write_all(greeting).is_err() {
                    return;
                }
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let tag = line.split_whitespace().next().unwrap_or("*").to_owned();
                    let upper = line.to_ascii_uppercase();
                    let reply = match (imap, upper.contains("STARTTLS"), upper.starts_with("EHLO")) {
                        (false, _, true) => "250-hostile\r\n250 STARTTLS\r\n".to_owned(),
                        (false, true, _) => "220 2.0.0 Ready to start TLS\r\n".to_owned(),
                        (true, true, _) => format!("{tag} OK Begin TLS negotiation now\r\n"),
                        (true, _, _) if upper.contains("CAPABILITY") => format!("* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n"),
                        _ => "500 what\r\n".to_owned(),
                    };
                    let _ = w.write_all(reply.as_bytes());
                    if upper.contains("STARTTLS") && !upper.contains("CAPABILITY") {
                        // Read the ClientHello, then hang up mid-handshake.
                        let _ = std::io::Read::read(r.get_mut(), &mut [0u8; 512]);
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// The hostile peers of the issue: a 1 MiB line without CRLF, silence, a close mid-handshake.
pub(crate) fn hostile_ports(imap: bool) -> Vec<(&'static str, u16, Option<TcpListener>)> {
    static MIB: [u8; 1 << 20] = [b'A'; 1 << 20];
    let (hung, hung_port) = hung_listener();
    vec![("1 MiB line", hostile_server(&MIB, false), None), ("silent", hung_port, Some(hung)), ("closes mid-handshake", closes_mid_handshake(imap), None)]
}

/// One port for every network subsystem.
fn config_all_on(port: u16, timeout: f64) -> Config {
    config_per_subsystem(&Ports { api: port, postgres: port, redis: port, smtp: port, imap: port }, timeout)
}

/// The port each network subsystem is pointed at.
struct Ports {
    api: u16,
    postgres: u16,
    redis: u16,
    smtp: u16,
    imap: u16,
}

fn toml_for(p: &Ports, timeout: f64) -> String {
    let Ports { api, postgres, redis, smtp, imap } = p;
    format!(
        "timeout_secs = {timeout}\n\
         [api]\nurl = \"http://127.0.0.1:{api}/health\"\n\
         [postgres]\nhost = \"127.0.0.1\"\nport = {postgres}\n\
         [redis]\nhost = \"127.0.0.1\"\nport = {redis}\n\
         [smtp]\nhost = \"127.0.0.1\"\nsubmission_port = {smtp}\ninbound_port = {smtp}\n\
         [imap]\nhost = \"127.0.0.1\"\nport = {imap}\n"
    )
}

fn config_per_subsystem(p: &Ports, timeout: f64) -> Config {
    Config::from_toml_str(&toml_for(p, timeout), &std::env::temp_dir()).expect("valid config")
}

/// Every network probe, and the words its summary uses for the step a hung peer stops it at.
const HUNG_AT: &[(&str, &str)] = &[
    ("api.health", "no HTTP response within 1 s"),
    ("postgres.reachable", "accepted the connection, no answer to the startup message within 1 s"),
    ("redis.reachable", "accepted the connection, no answer to AUTH / CLIENT SETINFO within 1 s"),
    ("smtp.inbound", "accepted the connection, no banner within 1 s"),
    ("smtp.submission", "accepted the connection, no banner within 1 s"),
    ("imap.reachable", "accepted the connection, no greeting within 1 s"),
];

#[test]
fn hung_endpoints_end_within_the_timeout() {
    let (_listener, port) = hung_listener();
    let ids: Vec<String> = HUNG_AT.iter().map(|(id, _)| (*id).to_owned()).collect();
    for (state, status) in [(TimeoutState::Critical, Status::Critical), (TimeoutState::Unknown, Status::Unknown)] {
        let mut config = config_all_on(port, 1.0);
        config.timeout_state = state;
        let start = Instant::now();
        let report = run(config, &Selection::Only(ids.clone()));
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1100) + Duration::from_millis(400), "took {took:?}");
        assert_eq!(report.checks.len(), HUNG_AT.len());
        for (id, words) in HUNG_AT {
            let c = report.check(id).expect("ran");
            assert_eq!(c.status, status, "{id}: {}", c.summary);
            assert!(c.summary.contains(words), "{id} should say `{words}`: {}", c.summary);
            assert!(c.summary.contains(&format!("127.0.0.1:{port}")), "{id} names its target: {}", c.summary);
        }
    }
}

#[test]
fn hung_endpoints_say_so_in_french() {
    let (_listener, port) = hung_listener();
    let mut config = config_all_on(port, 1.0);
    config.lang = mssante_diag_core::Lang::Fr;
    let report = run_only(config, &["smtp.inbound", "imap.reachable", "postgres.reachable"]);
    let said = |id: &str| report.check(id).expect("ran").summary.clone();
    assert!(said("smtp.inbound").contains("a accepté la connexion, pas de bannière en 1 s"), "{}", said("smtp.inbound"));
    assert!(said("imap.reachable").contains("pas de message d'accueil en 1 s"), "{}", said("imap.reachable"));
    assert!(said("postgres.reachable").contains("pas de réponse au message de démarrage en 1 s"), "{}", said("postgres.reachable"));
}

#[test]
fn garbage_banners_are_reported_not_fatal() {
    let port = hostile_server(b"\x00\xff garbage \r\nHTTP/1.1 200 OK\r\n\r\n", false);
    let config = config_all_on(port, 2.0);
    let report = run_only(config, &["api.health", "smtp.inbound", "smtp.submission", "imap.reachable", "redis.reachable", "postgres.reachable"]);
    for c in &report.checks {
        assert_eq!(c.status, Status::Critical, "{}: {}", c.id, c.summary);
        assert!(!c.summary.is_empty());
    }
    let said = |id: &str| report.check(id).expect("ran").summary.clone();
    assert!(said("imap.reachable").contains("did not greet as an IMAP server") || said("imap.reachable").contains("protocol"), "{}", said("imap.reachable"));
    assert!(said("postgres.reachable").contains("not a PostgreSQL server (answered 0x00 0xff 0x20 0x67 0x61)"), "{}", said("postgres.reachable"));
    for id in ["smtp.inbound", "smtp.submission"] {
        assert!(said(id).contains("banner: not an SMTP answer (0x00 0xff"), "{id}: {}", said(id));
    }
}

/// Runs the CLI on `toml` and returns its JSON report, its wall time and its peak memory (KiB).
fn cli_run(toml: &str, names: &[&str]) -> (serde_json::Value, Duration, u64) {
    let dir = std::env::temp_dir().join(format!("mssante-diag-hostile-{}-{}", std::process::id(), names.join("-")));
    std::fs::create_dir_all(&dir).expect("temp project");
    std::fs::write(dir.join("mssante-diag.toml"), toml).expect("config written");
    let mut cmd = Command::new(cli_bin());
    cmd.arg("--project").arg(&dir).args(["check", "--format", "json", "--lang", "en"]).args(names);
    let start = Instant::now();
    let (out, peak_kib) = run_measuring_memory(cmd);
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (report, took, peak_kib)
}

#[test]
fn endless_lines_do_not_exhaust_memory() {
    // Peers streaming without end: bare bytes with no newline, and the same behind the first
    // words of each protocol (an HTTP header then an endless body, a banner line that never
    // ends, a PostgreSQL message announcing 2 GiB, a Redis string without its CRLF).
    static CHUNK: [u8; 64 * 1024] = [b'A'; 64 * 1024];
    let bare = endless_server(b"", &CHUNK, false);
    let shaped = Ports {
        api: endless_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"", &CHUNK, true),
        postgres: endless_server(b"R\x7f\xff\xff\xff", &CHUNK, true),
        redis: endless_server(b"+", &CHUNK, true),
        smtp: endless_server(b"220 ", &CHUNK, false),
        imap: endless_server(b"* OK ", &CHUNK, false),
    };
    let names = ["api", "smtp", "imap", "postgres", "redis"];
    let all_bare = Ports { api: bare, postgres: bare, redis: bare, smtp: bare, imap: bare };
    for (label, ports) in [("bare", &all_bare), ("shaped", &shaped)] {
        let (report, took, peak_kib) = cli_run(&toml_for(ports, 3.0), &names);
        let checks = report["checks"].as_array().expect("checks");
        assert!(checks.len() >= 6, "{label}: {report:#}");
        // Each probe gives up on the flood by itself, long before the 3 s timeout (and
        // without burning that time in a parser).
        assert!(took < Duration::from_millis(2000), "{label}: took {took:?}");
        assert!(peak_kib < 64 * 1024, "{label}: peak RSS {peak_kib} KiB");
        assert!(peak_kib > 0, "{label}: memory was measured");
        for c in checks {
            let id = c["id"].as_str().unwrap_or_default();
            // An endless 200 body is read up to its cap, then judged by its status code.
            if label == "shaped" && id == "api.health" {
                assert_eq!(c["details"]["body_truncated"], true, "{c:#}");
                assert!(c["details"]["body"].as_str().is_some_and(|b| b.len() <= 512), "{c:#}");
                continue;
            }
            assert_ne!(c["status"], "ok", "{label} {id}: {}", c["summary"]);
        }
        let pg = checks.iter().find(|c| c["id"] == "postgres.reachable").expect("ran");
        assert!(pg["summary"].as_str().is_some_and(|s| s.contains("not a PostgreSQL server (answered")), "{label}: {pg:#}");
    }
}

#[test]
fn timed_out_host_tools_are_killed() {
    let dir = std::env::temp_dir().join(format!("mssante-diag-hung-tool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tool = dir.join("doveadm");
    let pidfile = dir.join("pid");
    std::fs::write(&tool, format!("#!/bin/sh\necho $$ > {}\nexec sleep 30\n", pidfile.display())).expect("tool written");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut config = Config::from_toml_str("", &dir).expect("config");
    config.timeout_secs = 1.0;
    let ctx = Ctx::new(Arc::new(config));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let start = Instant::now();
    let r = rt.block_on(exec::run(&ctx, &Place::Host, &[tool.to_str().expect("utf-8 path"), "who"]));
    assert_eq!(r, Err(ExecError::TimedOut(1.0)));
    assert!(start.elapsed() < Duration::from_millis(2000), "{:?}", start.elapsed());
    let pid = std::fs::read_to_string(&pidfile).expect("the tool started").trim().to_owned();
    // Killed and reaped: nothing left, not even a zombie.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the hung tool (pid {pid}) still exists");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timed_out_container_tools_are_killed() {
    let stack = Stack::get();
    let _g = healthy();
    let host = stack.var("DOCKER_HOST");
    let container = "mssante-test-postfix-1";
    let docker = |args: &[&str]| {
        let out = Command::new("docker").arg("-H").arg(host).args(args).output().expect("docker CLI runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A `doveadm` that hangs, planted under a private folder of the stack's postfix container.
    let dir = format!("/tmp/mssante-diag-hung-{}", std::process::id());
    docker(&["exec", container, "sh", "-c", &format!("mkdir -p {dir} && printf '#!/bin/sh\\nexec sleep 4711\\n' > {dir}/doveadm && chmod +x {dir}/doveadm")]);
    let mut config = stack.config();
    config.timeout_secs = 1.0;
    let ctx = Ctx::new(Arc::new(config));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let tool = format!("{dir}/doveadm");
    let r = rt.block_on(exec::run(&ctx, &Place::Service("postfix".into()), &[&tool, "who"]));
    assert_eq!(r, Err(ExecError::TimedOut(1.0)));
    let running = || docker(&["exec", container, "ps", "-o", "args"]).lines().filter(|l| l.contains("sleep 4711")).count();
    let deadline = Instant::now() + Duration::from_secs(3);
    while running() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = running();
    docker(&["exec", container, "rm", "-rf", &dir]);
    assert_eq!(left, 0, "the hung tool still runs in the container");
}
