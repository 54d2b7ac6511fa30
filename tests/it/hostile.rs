//! Hung and hostile peers: every probe ends within the timeout with a reason naming the
//! step, never hangs, never panics, never grows its memory with what a peer sends; a tool
//! that outlives the timeout is killed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
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

/// A loopback server that answers every connection (after the client's first bytes when
/// `client_first`) with `bytes` one byte every 200 ms: a slowloris peer whose every read
/// succeeds, so only a deadline over the whole dialogue ends it.
fn drip_server(bytes: &'static [u8], client_first: bool) -> u16 {
    use std::io::Read;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                if client_first {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.read(&mut [0u8; 4096]);
                }
                for b in bytes.iter().cycle().take(50) {
                    if s.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    port
}

/// A loopback server that closes every connection as soon as it is accepted.
fn closing_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            drop(s);
        }
    });
    port
}

/// The network subsystems of [`toml_for`], plus the HTTP clients of `auth.psc` and
/// `network.annuaire`, all at `http://127.0.0.1:{http}`.
fn toml_with_http(p: &Ports, http: u16, timeout: f64) -> String {
    format!(
        "{}[auth]\nissuer = \"http://127.0.0.1:{http}/psc\"\ndiscovery_url = \"http://127.0.0.1:{http}/psc/.well-known/openid-configuration\"\n\
         [annuaire]\nurl = \"http://127.0.0.1:{http}/fhir/v2\"\napi_key = \"hostile-test-key\"\n",
        toml_for(p, timeout)
    )
}

/// The checks a hostile peer of each protocol is put in front of.
const PROBES: &[&str] = &["api.health", "auth.psc", "network.annuaire", "postgres.reachable", "redis.reachable", "smtp.inbound", "smtp.submission", "imap.reachable"];

/// Runs [`PROBES`] and checks what every hostile-peer test relies on: each ends within its
/// deadline (steps x timeout, +5 %) plus a margin, not ok, with a reason; the report.
fn every_probe_ends_with_a_reason(toml: &str, label: &str) -> mssante_diag_core::Report {
    let config = Config::from_toml_str(toml, &std::env::temp_dir()).expect("valid config");
    let timeout = config.timeout_secs;
    let start = Instant::now();
    let report = run_only(config, PROBES);
    let took = start.elapsed();
    let steps = |id: &str| mssante_diag_core::catalogue().iter().find(|d| d.id == id).map_or(1, |d| d.steps);
    let longest = PROBES.iter().map(|id| steps(id)).max().unwrap_or(1);
    assert!(took < Duration::from_secs_f64(timeout * f64::from(longest) * 1.05 + 0.5), "{label}: took {took:?}");
    assert_eq!(report.checks.len(), PROBES.len(), "{label}");
    for c in &report.checks {
        assert!(c.status != Status::Ok, "{label} {}: ok against a hostile peer: {}", c.id, c.summary);
        assert!(c.summary.len() > 10, "{label} {}: a reason: {}", c.id, c.summary);
        let deadline = timeout * f64::from(steps(&c.id)) * 1.05;
        assert!((c.duration_ms as f64) < (deadline + 0.3) * 1000.0, "{label} {}: {} ms for a {deadline} s deadline", c.id, c.duration_ms);
    }
    report
}

#[test]
fn slow_answers_end_within_the_timeout() {
    // Every protocol's first words, dripped one byte every 200 ms: never a complete answer
    // within the 1 s timeout, though every read gets a byte.
    let http = drip_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}", true);
    let ports = Ports {
        api: http,
        postgres: drip_server(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I", true),
        redis: drip_server(b"+OK\r\n", true),
        smtp: drip_server(b"220 slow.mssante.test ESMTP\r\n", false),
        imap: drip_server(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] slow\r\n", false),
    };
    let report = every_probe_ends_with_a_reason(&toml_with_http(&ports, http, 1.0), "1 byte / 200 ms");
    for c in &report.checks {
        assert_eq!(c.status, Status::Critical, "{}: a peer that does not answer in time is down: {}", c.id, c.summary);
        assert!(c.summary.contains("within 1 s"), "{}: names the step it timed out in: {}", c.id, c.summary);
    }
}

#[test]
fn peers_closing_at_once_are_reported() {
    let port = closing_server();
    let ports = Ports { api: port, postgres: port, redis: port, smtp: port, imap: port };
    let report = every_probe_ends_with_a_reason(&toml_with_http(&ports, port, 2.0), "closes at once");
    for c in &report.checks {
        assert!(matches!(c.status, Status::Critical | Status::Unknown), "{}: {}", c.id, c.summary);
        assert!(!c.summary.contains("within 2 s"), "{}: a close is not a timeout: {}", c.id, c.summary);
    }
}

/// A loopback HTTP server that answers every request with a 50 MiB JSON document (a FHIR
/// Bundle of ~800 000 entries, its `Content-Length` announced), written as fast as it is read.
fn huge_json_server() -> u16 {
    use std::io::Read;
    const TOTAL: usize = 50 << 20;
    const HEAD: &[u8] = b"{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[";
    const ENTRY: &[u8] = b"{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"p\"}},";
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.read(&mut [0u8; 4096]);
                let entries: Vec<u8> = ENTRY.iter().copied().cycle().take(ENTRY.len() * 1024).collect();
                let tail = b"{}]}";
                let body = HEAD.len() + (TOTAL - HEAD.len() - tail.len()) / entries.len() * entries.len() + tail.len();
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {body}\r\n\r\n");
                if s.write_all(head.as_bytes()).and_then(|()| s.write_all(HEAD)).is_err() {
                    return;
                }
                for _ in 0..(TOTAL - HEAD.len() - tail.len()) / entries.len() {
                    if s.write_all(&entries).is_err() {
                        return;
                    }
                }
                let _ = s.write_all(tail);
            });
        }
    });
    port
}

#[test]
fn json_of_50_mib_is_cut_at_its_cap_with_memory_bounded() {
    let port = huge_json_server();
    let ports = Ports { api: port, postgres: 9, redis: 9, smtp: 9, imap: 9 };
    let names = ["api.health", "auth.psc", "network.annuaire"];
    let (report, took, peak_kib) = cli_run(&toml_with_http(&ports, port, 3.0), &names);
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), names.len(), "{report:#}");
    assert!(took < Duration::from_secs(3), "each client stops at its cap, not at the end of 50 MiB: {took:?}");
    assert!(peak_kib > 0, "memory was measured");
    // The same checks against a 2-byte document: what the 50 MiB one adds is at most each
    // client's cap (4 MiB for /metadata, 256 KiB for PSC, 512 bytes kept of the API's body).
    let small = hostile_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", false);
    let small_ports = Ports { api: small, postgres: 9, redis: 9, smtp: 9, imap: 9 };
    let (_, _, base_kib) = cli_run(&toml_with_http(&small_ports, small, 3.0), &names);
    assert!(peak_kib < base_kib + 16 * 1024, "peak RSS {peak_kib} KiB against a 50 MiB document, {base_kib} KiB against a small one");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("50 MiB JSON: {took:?}, peak RSS {peak_kib} KiB (small document: {base_kib} KiB)");
    let by_id = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} ran"));
    let api = by_id("api.health");
    assert_eq!(api["details"]["body_truncated"], true, "{api:#}");
    let psc = by_id("auth.psc");
    assert_eq!(psc["status"], "critical", "{psc:#}");
    assert!(psc["summary"].as_str().is_some_and(|s| s.contains("document larger than 256 KiB")), "{psc:#}");
    let annuaire = by_id("network.annuaire");
    assert_ne!(annuaire["status"], "ok", "{annuaire:#}");
    assert!(annuaire["summary"].as_str().is_some_and(|s| s.contains("larger than")), "{annuaire:#}");
}

/// `openssl s_server` on loopback serving the stack's certificate with a chain of `n`
/// certificates (the intermediate CA, `n` times: ~1.4 KB each); killed on drop.
struct HugeChain(std::process::Child, u16, PathBuf);

impl HugeChain {
    fn start(stack: &Stack, n: usize) -> Self {
        let pki = stack.dir.join("pki");
        let dir = std::env::temp_dir().join(format!("mssante-diag-chain{n}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let one = std::fs::read_to_string(pki.join("intermediate.pem")).expect("the stack's intermediate CA");
        std::fs::write(dir.join("chain.pem"), one.repeat(n)).expect("chain written");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(pki.join("server.crt"))
            .arg("-key")
            .arg(pki.join("server.key"))
            .arg("-cert_chain")
            .arg(dir.join("chain.pem"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let ready = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < ready, "openssl s_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port, dir)
    }
}

impl Drop for HugeChain {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

/// Runs `tls.endpoints` (1 s timeout) against a server with a chain of `n` certificates.
fn endpoint_with_chain(n: usize) -> (mssante_diag_core::CheckResult, Duration, u16) {
    let stack = Stack::get();
    let server = HugeChain::start(stack, n);
    let mut config = stack.config();
    config.tls.endpoints = vec![mssante_diag_core::checks::tls::Endpoint::try_from(format!("https://127.0.0.1:{}", server.1)).expect("endpoint")];
    config.timeout_secs = 1.0;
    let start = Instant::now();
    let report = run_only(config, &["tls.endpoints"]);
    let took = start.elapsed();
    let c = report.check("tls.endpoints").expect("ran").clone();
    eprintln!("{n}-certificate chain: {took:?}, {:?}: {}", c.status, c.summary);
    assert!(took < Duration::from_millis(1500), "{n} certificates: took {took:?}");
    assert!(c.summary.contains(&format!("127.0.0.1:{}", server.1)), "names the endpoint: {}", c.summary);
    (c, took, server.1)
}

#[test]
fn a_chain_of_100_certificates_is_refused_within_the_timeout() {
    // ~140 KB of Certificate message: beyond what a TLS handshake message may hold (64 KiB).
    let (c, _, port) = endpoint_with_chain(100);
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains(&format!("https://127.0.0.1:{port}: TLS handshake failed")), "{}", c.summary);
}

#[test]
fn a_chain_of_40_certificates_is_read_and_judged() {
    // ~56 KB: the handshake completes, and the 41 served certificates go through the chain
    // building and ordering of the check (40 copies of one CA are not a valid order).
    let (c, _, _) = endpoint_with_chain(40);
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("serves its chain in the wrong order"), "{}", c.summary);
}

#[test]
fn a_search_page_of_50_mib_stops_at_the_page_cap() {
    let stack = Stack::get();
    let _g = healthy();
    let port = huge_json_server();
    let mut config = stack.config();
    config.annuaire.url = format!("http://127.0.0.1:{port}/fhir/v2");
    config.annuaire.ca_bundle = None;
    config.timeout_secs = 3.0;
    let start = Instant::now();
    let report = run_only(config, &["annuaire.mailboxes"]);
    let took = start.elapsed();
    let c = report.check("annuaire.mailboxes").expect("ran");
    eprintln!("50 MiB search page: {took:?}, {:?}: {}", c.status, c.summary);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_ne!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("16 MiB") || c.summary.contains("larger than"), "the page cap is named: {}", c.summary);
}
