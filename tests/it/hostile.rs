//! Hung and hostile peers: every probe ends within the timeout with a reason naming the
//! step, never hangs, never panics, never grows its memory with what a peer sends; a tool
//! that outlives the timeout is killed.
//!
//! Coverage (issue #17): protocol x scenario -> tests. Every `matrix_*` test runs all the
//! columns of its row at once (one CLI run, peak RSS measured; DNS/TCP in a second run).
//!
//! | scenario            | HTTP  SMTP  IMAP  PostgreSQL  Redis  DNS/UDP  DNS/TCP  TLS | also (specific wording, other clients)              |
//! |---------------------|-------------------------------------------------------------|-----------------------------------------------------|
//! | hang after accept   | matrix_hang_after_accept (all 8)                            | hung_endpoints_end_within_the_timeout, ..._in_french, dns::a_silent_nameserver_..., tls::hostile_and_hung_endpoints_..., annuaire::dns_tcp_and_hung_tls_... |
//! | hang mid-handshake  | matrix_hang_mid_handshake (DNS/UDP n/a: a datagram is a whole answer) | smtp/imap::hostile_servers_end_every_..._check (close inside the STARTTLS handshake) |
//! | 10 MiB, no newline  | matrix_ten_mib_without_newline (all 8)                      | endless_lines_do_not_exhaust_memory (endless, HTTP..Redis) |
//! | binary garbage      | matrix_garbage (all 8)                                      | garbage_banners_are_reported_not_fatal, dns::a_garbage_dns_answer_... |
//! | close early         | matrix_close_early (all 8)                                  |                                                     |
//! | 1 byte / 200 ms     | matrix_slow (all 8; DNS/UDP: the answer after the timeout)  |                                                     |
//! | huge answer         | matrix_huge (all 8: JSON 50 MiB, 2 GiB literals/strings, TXT 64 KiB, 100 certs) | json_of_50_mib_..., a_search_page_of_50_mib_..., a_chain_of_100/40_..., dns::a_64_kib_txt_answer_... |
//! | malformed answer    | matrix_malformed (all 8; DNS: cut, wrong id, compression loop, lying counts) |                                     |
//!
//! PostgreSQL, huge: sqlx buffers a whole message before parsing it; every connection goes
//! through the core's relay (`pgwire`), which cuts a message announcing more than 8 MiB before
//! its body, so the 50 MiB that follow never reach the tool's memory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssante_diag_core::exec::{self, ExecError, Place};
use mssante_diag_core::{Config, Ctx, Selection, Status, TimeoutState};
use mssante_diag_tests::{cli_bin, endless_server, healthy, hostile_server, hung_listener, run, run_measuring_memory, run_only, Stack};

/// The hostile peers of the issue: a 1 MiB line without CRLF, silence, a close mid-handshake.
pub(crate) fn hostile_ports(imap: bool) -> Vec<(&'static str, u16, Option<TcpListener>)> {
    static MIB: [u8; 1 << 20] = [b'A'; 1 << 20];
    let (hung, hung_port) = hung_listener();
    vec![("1 MiB line", hostile_server(&MIB, false), None), ("silent", hung_port, Some(hung)), ("closes mid-handshake", starttls_then(imap, drop).port, None)]
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

/// The network subsystems of [`toml_for`], plus the HTTP clients of `auth.psc` and
/// `network.annuaire`, all at `http://127.0.0.1:{http}`.
fn toml_with_http(p: &Ports, http: u16, timeout: f64) -> String {
    format!(
        "{}[auth]\nissuer = \"http://127.0.0.1:{http}/psc\"\ndiscovery_url = \"http://127.0.0.1:{http}/psc/.well-known/openid-configuration\"\n\
         [annuaire]\nurl = \"http://127.0.0.1:{http}/fhir/v2\"\napi_key = \"hostile-test-key\"\n",
        toml_for(p, timeout)
    )
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

// ---------------------------------------------------------------------------------------------
// The matrix: every protocol in front of every hostile scenario of the issue, one table-driven
// test per scenario (all protocols in one CLI run, its peak memory measured).

use mssante_diag_tests::hostile::{self as peer, DnsTcp, Malformed, Peer};

/// A column of the matrix: a protocol, as its checks speak it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// `api.health`, `auth.psc`, `network.annuaire` (plain HTTP clients).
    Http,
    /// `smtp.inbound` (first peer) and `smtp.submission` (second peer, else the first).
    Smtp,
    /// `imap.reachable`.
    Imap,
    /// `postgres.reachable` (its pre-probe, then sqlx).
    Postgres,
    /// `redis.reachable`.
    Redis,
    /// `dns.*` with the hostile nameserver answering over UDP (its TCP side refused).
    DnsUdp,
    /// `dns.*` with UDP answers truncated (TC), so the hostility is on DNS over TCP.
    DnsTcp,
    /// `tls.endpoints` on `https://` endpoints (TLS from the first byte), one per peer.
    Tls,
}

use Proto::{DnsTcp as DnsOverTcp, DnsUdp, Http, Imap, Postgres, Redis, Smtp, Tls};

const ALL: [Proto; 8] = [Http, Smtp, Imap, Postgres, Redis, DnsUdp, DnsOverTcp, Tls];

impl Proto {
    fn checks(self) -> &'static [&'static str] {
        match self {
            Http => &["api.health", "auth.psc", "network.annuaire"],
            Smtp => &["smtp.inbound", "smtp.submission"],
            Imap => &["imap.reachable"],
            Postgres => &["postgres.reachable"],
            Redis => &["redis.reachable"],
            DnsUdp | DnsOverTcp => &["dns.resolver", "dns.mx", "dns.spf", "dns.dmarc", "dns.ptr"],
            Tls => &["tls.endpoints"],
        }
    }

    /// The configuration pointing this protocol's checks at `ports`.
    fn toml(self, ports: &[u16]) -> String {
        let p = ports[0];
        match self {
            Http => format!(
                "[api]\nurl = \"http://127.0.0.1:{p}/health\"\n\
                 [auth]\nissuer = \"http://127.0.0.1:{p}/psc\"\ndiscovery_url = \"http://127.0.0.1:{p}/psc/.well-known/openid-configuration\"\n\
                 [annuaire]\nurl = \"http://127.0.0.1:{p}/fhir/v2\"\napi_key = \"hostile-test-key\"\n"
            ),
            Smtp => format!("[smtp]\nhost = \"127.0.0.1\"\ninbound_port = {p}\nsubmission_port = {}\n", ports.get(1).unwrap_or(&p)),
            Imap => format!("[imap]\nhost = \"127.0.0.1\"\nport = {p}\n"),
            Postgres => format!("[postgres]\nhost = \"127.0.0.1\"\nport = {p}\n"),
            Redis => format!("[redis]\nhost = \"127.0.0.1\"\nport = {p}\n"),
            DnsUdp | DnsOverTcp => format!("[dns]\nnameservers = [\"127.0.0.1:{p}\"]\ndomains = [\"hostile.test\"]\naddresses = [\"127.0.77.1\"]\n"),
            Tls => {
                let eps: Vec<String> = ports.iter().map(|p| format!("\"https://127.0.0.1:{p}\"")).collect();
                format!("[tls]\nendpoints = [{}]\n", eps.join(", "))
            }
        }
    }
}

/// A scenario of the issue (a row of the matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Accepts (or, UDP, receives) and never answers.
    HangAfterAccept,
    /// Starts the dialogue, then stops answering in the middle of it (headers, EHLO, TLS
    /// handshake after STARTTLS or from the first byte, authentication, a DNS answer).
    HangMidHandshake,
    /// 10 MiB without a newline (or, for binary protocols, in one message or record).
    TenMibNoNewline,
    /// Binary garbage.
    Garbage,
    /// Closes the connection at once (DNS/UDP: nothing listens, the port is unreachable).
    CloseEarly,
    /// Answers one byte every 200 ms (DNS/UDP: after the timeout).
    Slow,
    /// Answers too large: 50 MiB of JSON, endless reply lines, literals and strings announcing
    /// 2 GiB, a 50 MiB PostgreSQL message, 64 KiB of DNS TXT, a chain of 100 certificates.
    Huge,
    /// Answers that break the protocol: bad chunk sizes, replies that disagree, short
    /// messages, negative lengths; DNS: cut answers, wrong ids, compression loops, lying counts.
    Malformed,
}

const PG_AUTH_CLEARTEXT: &[u8] = b"R\0\0\0\x08\0\0\0\x03";

/// PostgreSQL's start: refuses SSL (`N`), answers the startup message with a cleartext
/// password request, then hands the connection to `then` after the password arrives.
fn pg_until_password(then: fn(std::net::TcpStream)) -> Peer {
    peer::tcp_peer(move |mut s| {
        let mut buf = [0u8; 4096];
        loop {
            let Ok(n) = std::io::Read::read(&mut s, &mut buf) else { return };
            if n == 0 {
                return;
            }
            if n == 8 && buf[4..8] == [0x04, 0xd2, 0x16, 0x2f] {
                let _ = s.write_all(b"N");
                continue;
            }
            if buf[0] == b'p' {
                return then(s);
            }
            if s.write_all(PG_AUTH_CLEARTEXT).is_err() {
                return;
            }
        }
    })
}

/// An SMTP (or IMAP) server up to STARTTLS and the client's ClientHello, then `then`.
fn starttls_then(imap: bool, then: fn(std::net::TcpStream)) -> Peer {
    peer::tcp_peer(move |s| {
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
                let mut s = r.into_inner();
                peer::read_some(&mut s);
                return then(s);
            }
            line.clear();
        }
    })
}

/// A TCP peer that reads the client's first bytes when it speaks first (HTTP, PostgreSQL,
/// Redis, TLS), then writes `bytes` and holds the connection open.
fn says(p: Proto, bytes: Vec<u8>) -> Peer {
    let client_first = !matches!(p, Smtp | Imap);
    peer::tcp_peer(move |mut s| {
        if client_first {
            peer::read_some(&mut s);
        }
        if s.write_all(&bytes).is_ok() {
            peer::hold(s);
        }
    })
}

/// A TCP peer that reads first when the client speaks first, writes `head`, then floods
/// `total` bytes without a newline, then holds the connection open.
fn floods(p: Proto, head: &'static [u8], total: usize) -> Peer {
    let client_first = !matches!(p, Smtp | Imap);
    peer::tcp_peer(move |mut s| {
        if client_first {
            peer::read_some(&mut s);
        }
        if s.write_all(head).is_ok() {
            peer::flood(&mut s, total);
            peer::hold(s);
        }
    })
}

/// A nameserver answering each UDP query with `f(query)` (nothing when empty), TCP refused.
fn udp_answers(f: fn(&[u8]) -> Vec<u8>) -> Peer {
    peer::dns_peer(
        move |sock, q, from| {
            let a = f(q);
            if !a.is_empty() {
                let _ = sock.send_to(&a, from);
            }
        },
        DnsTcp::Refused,
    )
}

/// A nameserver sending UDP clients to TCP, answering each TCP query with `f(query)` (the
/// bytes as they go on the wire, length prefix included), then holding the connection.
fn tcp_answers(f: fn(&[u8]) -> Vec<u8>) -> Peer {
    peer::over_tcp(move |mut s| {
        while let Some(q) = peer::read_dns_tcp(&mut s) {
            if s.write_all(&f(&q)).is_err() {
                return;
            }
        }
    })
}

/// The malformed DNS answer of the matrix for a query: by question, so each check meets one
/// (MX: compression loop, SPF TXT: wrong id, DMARC TXT: cut short, PTR and A: lying counts).
fn dns_malformed(q: &[u8]) -> Vec<u8> {
    let m = hickory_proto::op::Message::from_vec(q).ok();
    let question = m.as_ref().and_then(|m| m.queries().first().cloned());
    let how = match question.as_ref().map(|q| (q.query_type(), q.name().to_ascii())) {
        Some((hickory_proto::rr::RecordType::MX, _)) => Malformed::CompressionLoop,
        Some((hickory_proto::rr::RecordType::TXT, n)) if n.starts_with("_dmarc.") => Malformed::Truncated,
        Some((hickory_proto::rr::RecordType::TXT, _)) => Malformed::WrongId,
        _ => Malformed::Counts,
    };
    peer::malformed(q, how)
}

/// A TLS ServerHello record, complete (`0x4a` bytes announced and sent).
const SERVER_HELLO: &[u8] = &[
    0x16, 0x03, 0x03, 0x00, 0x4a, 0x02, 0x00, 0x00, 0x46, 0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 32, 0xc0, 0x2f, 0x00,
];

/// The hostile peers of one cell (most cells: one; some protocols take two ways of one
/// scenario at once), or none when the cell does not apply.
fn peers(s: Scenario, p: Proto) -> Vec<Peer> {
    use Scenario::*;
    let one = |peer: Peer| vec![peer];
    match (s, p) {
        (HangAfterAccept, DnsUdp) => one(peer::silent_udp(DnsTcp::Refused)),
        (HangAfterAccept, DnsOverTcp) => one(peer::truncating_udp(DnsTcp::Hung)),
        (HangAfterAccept, _) => one(peer::hung_tcp()),

        (HangMidHandshake, Http) => one(says(Http, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec())),
        // Inbound: banner, then silence after EHLO; submission: silence inside the TLS
        // handshake after STARTTLS (the ClientHello read, never answered).
        (HangMidHandshake, Smtp) => vec![says(Smtp, b"220 hostile ESMTP\r\n".to_vec()), starttls_then(false, peer::hold)],
        (HangMidHandshake, Imap) => one(starttls_then(true, peer::hold)),
        (HangMidHandshake, Postgres) => one(pg_until_password(peer::hold)),
        (HangMidHandshake, Redis) => one(says(Redis, b"+OK\r\n".to_vec())),
        // A datagram is a whole answer: there is no middle of a UDP exchange to hang in.
        (HangMidHandshake, DnsUdp) => Vec::new(),
        // Half of the first answer, then silence (later queries on the connection unread).
        (HangMidHandshake, DnsOverTcp) => one(peer::over_tcp(|mut s| {
            if let Some(q) = peer::read_dns_tcp(&mut s) {
                let a = peer::framed(&peer::reply(&q, peer::plausible, false).unwrap_or_default());
                if s.write_all(&a[..a.len() / 2]).is_ok() {
                    peer::hold(s);
                }
            }
        })),
        // The ClientHello read and never answered; a ServerHello cut after 16 bytes.
        (HangMidHandshake, Tls) => vec![says(Tls, Vec::new()), says(Tls, SERVER_HELLO[..16].to_vec())],

        (TenMibNoNewline, Http) => one(floods(Http, b"HTTP/1.1 200 OK\r\nX-Flood: ", TEN_MIB)),
        (TenMibNoNewline, Smtp) => one(floods(Smtp, b"220 ", TEN_MIB)),
        (TenMibNoNewline, Imap) => one(floods(Imap, b"* OK ", TEN_MIB)),
        // One ErrorResponse of 10 MiB, its field never terminated.
        (TenMibNoNewline, Postgres) => one(floods(Postgres, b"E\x00\xa0\x00\x04S", TEN_MIB)),
        (TenMibNoNewline, Redis) => one(floods(Redis, b"-ERR ", TEN_MIB)),
        (TenMibNoNewline, DnsUdp) => one(peer::dns_peer(
            |sock, _, from| {
                let datagram = vec![b'A'; 65_000];
                for _ in 0..TEN_MIB / datagram.len() + 1 {
                    let _ = sock.send_to(&datagram, from);
                }
            },
            DnsTcp::Refused,
        )),
        (TenMibNoNewline, DnsOverTcp) => one(peer::over_tcp(|mut s| {
            if peer::read_dns_tcp(&mut s).is_some() && s.write_all(&[0xff, 0xff]).is_ok() {
                peer::flood(&mut s, TEN_MIB);
                peer::hold(s);
            }
        })),
        (TenMibNoNewline, Tls) => one(floods(Tls, b"\x16\x03\x03\x40\x00", TEN_MIB)),

        (Garbage, DnsUdp) => one(udp_answers(|q| [&q[..2.min(q.len())], &peer::garbage(510)[..]].concat())),
        (Garbage, DnsOverTcp) => one(tcp_answers(|q| peer::framed(&[&q[..2.min(q.len())], &peer::garbage(510)[..]].concat()))),
        (Garbage, _) => one(says(p, peer::garbage(4096))),

        (CloseEarly, DnsUdp) => {
            // Nothing bound: UDP queries meet ICMP port unreachable, TCP a refusal.
            let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            one(Peer::at(port))
        }
        // The query read, then the connection closed without an answer.
        (CloseEarly, DnsOverTcp) => one(peer::over_tcp(|mut s| {
            let _ = peer::read_dns_tcp(&mut s);
        })),
        (CloseEarly, _) => one(peer::tcp_peer(drop)),

        (Slow, DnsUdp) => one(peer::dns_peer(
            |sock, q, from| {
                let (sock, a) = (sock.try_clone().expect("clone"), peer::reply(q, peer::plausible, false).unwrap_or_default());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(1500));
                    let _ = sock.send_to(&a, from);
                });
            },
            DnsTcp::Refused,
        )),
        (Slow, DnsOverTcp) => one(peer::over_tcp(|mut s| {
            if let Some(q) = peer::read_dns_tcp(&mut s) {
                peer::drip(&mut s, &peer::framed(&peer::reply(&q, peer::plausible, false).unwrap_or_default()));
            }
        })),
        (Slow, _) => {
            let bytes: &'static [u8] = match p {
                Http => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
                Postgres => b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I",
                Redis => b"+OK\r\n",
                Smtp => b"220 slow.mssante.test ESMTP\r\n",
                Imap => b"* OK [CAPABILITY IMAP4rev1 STARTTLS] slow\r\n",
                _ => SERVER_HELLO,
            };
            let client_first = !matches!(p, Smtp | Imap);
            one(peer::tcp_peer(move |mut s| {
                if client_first {
                    peer::read_some(&mut s);
                }
                peer::drip(&mut s, bytes);
            }))
        }

        (Huge, Http) => one(Peer::at(huge_json_server())),
        // EHLO answered by endless continuation lines.
        (Huge, Smtp) => one(peer::tcp_peer(|mut s| {
            if s.write_all(b"220 hostile ESMTP\r\n").is_ok() && peer::read_some(&mut s) > 0 {
                let lines = b"250-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n".repeat(1024);
                while s.write_all(&lines).is_ok() {}
            }
        })),
        // CAPABILITY answered with a literal announcing 2 GiB, then 10 MiB of it.
        (Huge, Imap) => one(peer::tcp_peer(|mut s| {
            if s.write_all(b"* OK hostile\r\n").is_ok() && peer::read_some(&mut s) > 0 && s.write_all(b"* CAPABILITY {2147483647}\r\n").is_ok() {
                peer::flood(&mut s, TEN_MIB);
                peer::hold(s);
            }
        })),
        // After the password: a ParameterStatus message announcing 2 GiB, 50 MiB of it sent
        // (cut by the relay at its header: sqlx would reserve what a message announces).
        (Huge, Postgres) => one(pg_until_password(|mut s| {
            if s.write_all(b"S\x7f\xff\xff\xff").is_ok() {
                peer::flood(&mut s, 50 << 20);
                peer::hold(s);
            }
        })),
        // A bulk string announcing 2 GiB, 10 MiB of it sent.
        (Huge, Redis) => one(floods(Redis, b"$2147483000\r\n", TEN_MIB)),
        (Huge, DnsUdp) => one(udp_answers(|q| peer::reply(q, |q| peer::huge_txt(q, 60_000), false).unwrap_or_default())),
        (Huge, DnsOverTcp) => one(tcp_answers(|q| peer::framed(&peer::reply(q, |q| peer::huge_txt(q, 62_000), false).unwrap_or_default()))),
        (Huge, Tls) => {
            let chain = HugeChain::start(Stack::get(), 100);
            let port = chain.1;
            one(Peer::keeping(port, Box::new(chain)))
        }

        (Malformed, Http) => one(says(
            Http,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n{}".to_vec(),
        )),
        // A banner whose lines disagree on their code.
        (Malformed, Smtp) => one(says(Smtp, b"220-hostile\r\n554 5.7.1 no, 250 yes\r\n".to_vec())),
        // A greeting with an unclosed response code, then completions with the wrong tag.
        (Malformed, Imap) => one(peer::tcp_peer(|mut s| {
            if s.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS\r\n").is_ok() {
                while peer::read_some(&mut s) > 0 && s.write_all(b"zz9 OK done\r\n").is_ok() {}
            }
        })),
        // A message whose length (2) is shorter than its own length field.
        (Malformed, Postgres) => one(says(Postgres, b"R\0\0\0\x02\0\0\0\x03".to_vec())),
        // Negative lengths and a non-number.
        (Malformed, Redis) => one(says(Redis, b"*-5\r\n%-1\r\n:notanumber\r\n$-7\r\n".to_vec())),
        (Malformed, DnsUdp) => one(udp_answers(dns_malformed)),
        (Malformed, DnsOverTcp) => one(tcp_answers(|q| peer::framed(&dns_malformed(q)))),
        // A ServerHello shorter than its fixed fields.
        (Malformed, Tls) => one(says(Tls, b"\x16\x03\x03\x00\x08\x02\x00\x00\x04\x03\x03\x00\x00".to_vec())),
    }
}

const TEN_MIB: usize = 10 << 20;

/// The only `ok` a hostile peer may get: a health endpoint answering 200 with a body cut at
/// its cap (judged by its status code), and a nameserver answering `dns.resolver`'s SOA
/// question with a parseable message (only TXT answers are huge).
fn ok_allowed(s: Scenario, id: &str, c: &serde_json::Value) -> bool {
    match (s, id) {
        (Scenario::Huge, "api.health") => c["details"]["body_truncated"] == true,
        (Scenario::Huge, "dns.resolver") => true,
        _ => false,
    }
}

/// What a reason says by scenario: a silence is `critical` naming the step it timed out in
/// (DNS lookups: `unknown`, no answer in time); a close is not reported as a timeout.
fn assert_words(s: Scenario, p: Proto, id: &str, c: &serde_json::Value) {
    use Scenario::*;
    let (status, summary) = (c["status"].as_str().unwrap_or_default(), c["summary"].as_str().unwrap_or_default());
    let dns = matches!(p, DnsUdp | DnsOverTcp);
    match s {
        HangAfterAccept | HangMidHandshake | Slow if !dns => {
            assert_eq!(status, "critical", "{s:?} {p:?} {id}: a peer that does not answer in time is down: {summary}");
            assert!(summary.contains("within 1 s"), "{s:?} {p:?} {id}: names the step it timed out in: {summary}");
        }
        HangAfterAccept | HangMidHandshake | Slow | Garbage | Malformed | TenMibNoNewline if dns && id != "dns.resolver" => {
            assert_eq!(status, "unknown", "{s:?} {p:?} {id}: {summary}");
            assert!(summary.contains("no nameserver answered in time"), "{s:?} {p:?} {id}: {summary}");
        }
        CloseEarly if !dns => assert!(!summary.contains("within"), "{s:?} {p:?} {id}: a close is not a timeout: {summary}"),
        _ => {}
    }
    if (s, p) == (Huge, Postgres) {
        assert!(summary.contains("announced a message of 2147483647 bytes (cap 8.0 MiB): not read"), "{id}: says what was refused: {summary}");
    }
    // The redis client only says its connection ended: the probe tells at which step, and what came.
    if p == Redis && matches!(s, Garbage | TenMibNoNewline | CloseEarly | Huge | Malformed) {
        assert!(summary.contains(", setup: "), "{s:?} {id}: names the step: {summary}");
    }
}

/// What one cell's run gave: each check's JSON result, the run's wall time and peak memory.
struct Cells {
    checks: Vec<serde_json::Value>,
    took: Duration,
    peak_kib: u64,
}

/// Runs the CLI (JSON report) on `toml` for `names`, in its own temporary project.
fn cli_json(label: &str, toml: &str, names: &[&str]) -> Cells {
    let dir = std::env::temp_dir().join(format!("mssante-diag-matrix-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp project");
    std::fs::write(dir.join("mssante-diag.toml"), toml).expect("config written");
    let mut cmd = Command::new(cli_bin());
    cmd.arg("--project").arg(&dir).args(["check", "--format", "json", "--lang", "en"]).args(names);
    let start = Instant::now();
    let (out, peak_kib) = run_measuring_memory(cmd);
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{label}: JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    Cells { checks: report["checks"].as_array().cloned().unwrap_or_default(), took, peak_kib }
}

/// The step timeout of the matrix runs, seconds.
const MATRIX_TIMEOUT: f64 = 1.0;

/// A protocol and its hostile peers.
type Cell = (Proto, Vec<Peer>);

/// Runs every protocol of `protos` against its hostile peers of scenario `s` (the DNS/TCP
/// column in a second, concurrent run: one `[dns]` section per run) and asserts what a user
/// relies on: each check ends within its deadline (steps x timeout, +5 %) plus a margin, is
/// `critical` or `unknown`, with a reason naming its target; the run stays under 64 MiB of
/// resident memory whatever the peers send.
fn matrix(s: Scenario, protos: &[Proto]) {
    let cells: Vec<Cell> = protos.iter().map(|&p| (p, peers(s, p))).filter(|(_, v)| !v.is_empty()).collect();
    let runs: Vec<Vec<&Cell>> = [cells.iter().filter(|(p, _)| *p != DnsOverTcp).collect(), cells.iter().filter(|(p, _)| *p == DnsOverTcp).collect()]
        .into_iter()
        .filter(|r: &Vec<_>| !r.is_empty())
        .collect();
    let results: Vec<(Cells, Vec<&Cell>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .enumerate()
            .map(|(i, run)| {
                scope.spawn(move || {
                    let mut toml = format!("timeout_secs = {MATRIX_TIMEOUT}\n");
                    let mut names = Vec::new();
                    for (p, peers) in &run {
                        toml.push_str(&p.toml(&peers.iter().map(|x| x.port).collect::<Vec<_>>()));
                        names.extend_from_slice(p.checks());
                    }
                    (cli_json(&format!("{s:?}-{i}"), &toml, &names), run)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("run")).collect()
    });
    let steps = |id: &str| mssante_diag_core::catalogue().iter().find(|d| d.id == id).map_or(1, |d| d.steps);
    for (cells, run) in results {
        let longest = run.iter().flat_map(|(p, _)| p.checks()).map(|id| steps(id)).max().unwrap_or(1);
        let deadline = MATRIX_TIMEOUT * f64::from(longest) * 1.05;
        eprintln!("{s:?} {:?}: {:?}, peak RSS {} KiB", run.iter().map(|(p, _)| *p).collect::<Vec<_>>(), cells.took, cells.peak_kib);
        assert!(cells.took < Duration::from_secs_f64(deadline + 0.7), "{s:?}: the run took {:?}", cells.took);
        assert!(cells.peak_kib > 0 && cells.peak_kib < 64 * 1024, "{s:?}: peak RSS {} KiB", cells.peak_kib);
        for (p, peers) in run {
            for id in p.checks() {
                let c = cells.checks.iter().find(|c| c["id"] == *id).unwrap_or_else(|| panic!("{s:?} {p:?}: {id} did not run"));
                let summary = c["summary"].as_str().unwrap_or_default();
                eprintln!("  {s:?} {p:?} {id}: {} {summary}", c["status"]);
                assert!(summary.len() < 1000, "{s:?} {p:?} {id}: a reason, not the peer's answer: {} bytes", summary.len());
                if c["status"] == "ok" && ok_allowed(s, id, c) {
                    continue;
                }
                assert!(c["status"] == "critical" || c["status"] == "unknown", "{s:?} {p:?} {id}: {} against a hostile peer: {summary}", c["status"]);
                assert_words(s, *p, id, c);
                let budget = MATRIX_TIMEOUT * f64::from(steps(id)) * 1.05 + 0.3;
                assert!(c["duration_ms"].as_f64().is_some_and(|ms| ms < budget * 1000.0), "{s:?} {p:?} {id}: {} ms", c["duration_ms"]);
                let names_target = peers.iter().any(|x| summary.contains(&format!("127.0.0.1:{}", x.port))) || summary.contains("hostile.test") || summary.contains("127.0.77.1");
                assert!(names_target, "{s:?} {p:?} {id}: the reason names its target: {summary}");
            }
        }
    }
}

#[test]
fn matrix_hang_after_accept() {
    matrix(Scenario::HangAfterAccept, &ALL);
}

#[test]
fn matrix_hang_mid_handshake() {
    matrix(Scenario::HangMidHandshake, &ALL);
}

#[test]
fn matrix_ten_mib_without_newline() {
    matrix(Scenario::TenMibNoNewline, &ALL);
}

#[test]
fn matrix_garbage() {
    matrix(Scenario::Garbage, &ALL);
}

#[test]
fn matrix_close_early() {
    matrix(Scenario::CloseEarly, &ALL);
}

#[test]
fn matrix_slow() {
    matrix(Scenario::Slow, &ALL);
}

#[test]
fn matrix_huge() {
    matrix(Scenario::Huge, &ALL);
}

#[test]
fn matrix_malformed() {
    matrix(Scenario::Malformed, &ALL);
}
