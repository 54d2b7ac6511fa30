//! `mssante-diag dns` on 1,000 generated domains beside checkdmarc (PyPI) on the same domains,
//! in the same run (issue #12: "Target >= 10x faster").
//!
//! Everything stays on loopback: the bench re-executes itself under `unshare --net --mount`
//! (a private network namespace holding only `lo`, and a private `/etc/resolv.conf` naming
//! 127.0.0.53), starts its own NSD on 127.0.0.53:53 serving the 1,000 zones (MX, SPF with an
//! include, DKIM 2048, DMARC with an external report destination, MTA-STS, TLS-RPT, A records;
//! PTR of the platform address; a local DNS blocklist) and nginx on 127.0.80.1:443 serving
//! every domain's MTA-STS policy under a bench CA. Then it times
//! `mssante-diag dns <1,000 domains>` (nameservers = ["127.0.0.53"], blocklists = the local
//! zone) and `checkdmarc -n 127.0.0.53 --skip-tls` on the same domains, and prints wall times,
//! what each tool checked and the ratio.
//!
//! checkdmarc is installed (pinned: [`CHECKDMARC`]) into `target/checkdmarc-venv` when missing,
//! before entering the namespace. Zones, keys and certificates are made once in
//! /tmp/mssante-diag-bench/dns-<count>/ and kept.
//!
//! `MSSANTE_BENCH_QUICK=1` (`benches/run.sh --quick`): 100 domains, ours timed once.
//!
//! Run: `cargo build --release -p mssante-diag-cli -p mssante-diag-benches &&
//! target/release/dns_bench` (as root, or where unprivileged user namespaces are allowed; needs
//! nsd, nginx, openssl, iproute2 and python3 with venv: the test stack's packages). No stack
//! needed. `DNS_BENCH_ROUNDS=N` times ours N times (median; checkdmarc once);
//! `DNS_BENCH_CLI=path` times another `mssante-diag` build (before/after a change).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mssante_diag_benches::{faster, secs, Row};
use serde_json::Value;

/// Domains audited: 1,000 (`--quick`: 100).
fn domain_count() -> usize {
    if mssante_diag_benches::quick() {
        100
    } else {
        1000
    }
}
/// The checkdmarc version compared (PyPI).
const CHECKDMARC: &str = "5.17.5";
/// NSD's address inside the namespace (also the namespace's `/etc/resolv.conf`).
const NS: &str = "127.0.0.53";
/// The platform's address: every MX, the MTA-STS hosts, the PTR.
const PLATFORM: &str = "127.0.80.1";
/// DNS timeout of both tools, seconds.
const TIMEOUT: &str = "2.0";
/// Set in the re-executed bench, inside the namespace.
const INSIDE: &str = "MSSANTE_DIAG_DNS_BENCH_INSIDE";

fn work() -> PathBuf {
    PathBuf::from(format!("/tmp/mssante-diag-bench/dns-{}", domain_count()))
}

fn domains() -> Vec<String> {
    (0..domain_count()).map(|i| format!("d{i:04}.bench.test")).collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn main() -> ExitCode {
    if std::env::var_os(INSIDE).is_some() {
        inside();
        return ExitCode::SUCCESS;
    }
    let exe = std::env::current_exe().expect("own path");
    let bin_dir = exe.parent().expect("bin dir").to_path_buf();
    // DNS_BENCH_CLI: another build to time (e.g. an older one, for a before/after).
    let cli = std::env::var_os("DNS_BENCH_CLI").map_or_else(|| bin_dir.join("mssante-diag"), PathBuf::from);
    if !cli.exists() {
        eprintln!("{} missing: cargo build --release -p mssante-diag-cli -p mssante-diag-benches", cli.display());
        return ExitCode::FAILURE;
    }
    let venv = bin_dir.parent().expect("target dir").join("checkdmarc-venv");
    let checkdmarc = ensure_checkdmarc(&venv);
    prepare(&work());
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    let mut unshare = Command::new("unshare");
    if !root {
        unshare.arg("--map-root-user");
    }
    let status = unshare.args(["--net", "--mount", "--"]).arg(&exe).env(INSIDE, "1").env("DNS_BENCH_CLI", &cli).env("DNS_BENCH_CHECKDMARC", &checkdmarc).status().expect("unshare runs");
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `venv/bin/checkdmarc` at version [`CHECKDMARC`], installed from PyPI when missing.
fn ensure_checkdmarc(venv: &Path) -> PathBuf {
    let bin = venv.join("bin/checkdmarc");
    let pip = venv.join("bin/pip");
    let installed = Command::new(&pip).args(["show", "checkdmarc"]).output().ok().is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == format!("Version: {CHECKDMARC}")));
    if !installed {
        eprintln!("installing checkdmarc {CHECKDMARC} into {}...", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(venv));
        run(Command::new(&pip).args(["install", "--quiet", &format!("checkdmarc=={CHECKDMARC}")]));
    }
    bin
}

/// The zones, NSD and nginx configurations, keys and certificates, made once (a stamp of this
/// bench's generator version and domain count).
fn prepare(w: &Path) {
    let stamp = format!("v1 {} {PLATFORM}", domain_count());
    if std::fs::read_to_string(w.join(".complete")).is_ok_and(|s| s == stamp) {
        return;
    }
    eprintln!("generating {} zones in {} (once)...", domain_count(), w.display());
    let _ = std::fs::remove_dir_all(w);
    for d in ["zones", "pki", "nsd", "nginx/tmp", "project"] {
        std::fs::create_dir_all(w.join(d)).expect("mkdir");
    }
    let pki = w.join("pki");
    // DKIM: one 2048-bit key published by every domain.
    run(Command::new("openssl").args(["genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]).arg(pki.join("dkim.key")));
    let pubkey = run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(pki.join("dkim.key")));
    let b64: String = pubkey.lines().filter(|l| !l.starts_with("-----")).collect();
    let dkim = format!("v=DKIM1; k=rsa; p={b64}");
    let dkim_txt = dkim.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect::<Vec<_>>().join(" ");
    // MTA-STS: a bench CA and one certificate naming every mta-sts.<domain>.
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3650", "-subj", "/CN=mssante-diag dns bench CA"])
        .arg("-keyout")
        .arg(pki.join("ca.key"))
        .arg("-out")
        .arg(pki.join("ca.pem")));
    run(Command::new("openssl").args(["genpkey", "-quiet", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"]).arg(pki.join("mta-sts.key")));
    run(Command::new("openssl").args(["req", "-new", "-subj", "/CN=mta-sts.bench.test", "-key"]).arg(pki.join("mta-sts.key")).arg("-out").arg(pki.join("mta-sts.csr")));
    let sans = domains().iter().map(|d| format!("DNS:mta-sts.{d}")).collect::<Vec<_>>().join(",");
    std::fs::write(pki.join("ext.cnf"), format!("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n")).expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "3650", "-sha256", "-set_serial", "2", "-in"])
        .arg(pki.join("mta-sts.csr"))
        .arg("-CA")
        .arg(pki.join("ca.pem"))
        .arg("-CAkey")
        .arg(pki.join("ca.key"))
        .arg("-extfile")
        .arg(pki.join("ext.cnf"))
        .arg("-out")
        .arg(pki.join("mta-sts.pem")));

    let soa = |origin: &str| format!("$ORIGIN {origin}.\n$TTL 3600\n@ IN SOA ns1.bench.test. hostmaster.bench.test. 2024010101 3600 900 604800 300\n@ IN NS ns1.bench.test.\n");
    let mut nsd_zones = String::new();
    let mut zone = |name: &str, text: String| {
        std::fs::write(w.join(format!("zones/{name}.zone")), text).expect("zone");
        let _ = write!(nsd_zones, "zone:\n    name: \"{name}\"\n    zonefile: \"{name}.zone\"\n\n");
    };
    // The hosting side: nameserver, mail host (PTR target), the SPF include of the provider,
    // the report receiver authorising every domain's reports (RFC 7489 7.1).
    zone(
        "bench.test",
        soa("bench.test")
            + &format!(
                "ns1 IN A {NS}\nmail IN A {PLATFORM}\n_spf.provider IN TXT \"v=spf1 ip4:{PLATFORM} ip4:192.0.2.0/24 -all\"\n\
                 *._report._dmarc.reports IN TXT \"v=DMARC1\"\nreports IN MX 10 mail.bench.test.\n"
            ),
    );
    // The blocklist: the platform is not listed (NXDOMAIN), the conventional test entry is.
    zone("bl.bench.test", soa("bl.bench.test") + "2.0.0.127 IN A 127.0.0.2\n2.0.0.127 IN TXT \"test entry\"\n");
    let rev: Vec<&str> = PLATFORM.split('.').rev().collect();
    zone(&format!("{}.{}.{}.in-addr.arpa", rev[1], rev[2], rev[3]), soa(&format!("{}.{}.{}.in-addr.arpa", rev[1], rev[2], rev[3])) + &format!("{} IN PTR mail.bench.test.\n", rev[0]));
    for d in domains() {
        let text = soa(&d)
            + &format!(
                "@ IN A {PLATFORM}\nwww IN A {PLATFORM}\n@ IN MX 10 mx.{d}.\nmx IN A {PLATFORM}\nmta-sts IN A {PLATFORM}\n\
                 @ IN TXT \"v=spf1 mx include:_spf.provider.bench.test -all\"\n\
                 @ IN TXT \"google-site-verification=bench-{d}\"\n\
                 default._domainkey IN TXT ( {dkim_txt} )\n\
                 _dmarc IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@{d},mailto:rua@reports.bench.test; adkim=s; aspf=s\"\n\
                 _mta-sts IN TXT \"v=STSv1; id=20240101T000000\"\n\
                 _smtp._tls IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{d}\"\n"
            );
        zone(&d, text);
    }
    let n = w.join("nsd");
    std::fs::write(
        n.join("nsd.conf"),
        format!(
            "server:\n    ip-address: {NS}\n    port: 53\n    do-ip6: no\n    server-count: 2\n    tcp-count: 512\n    username: \"\"\n    chroot: \"\"\n    database: \"\"\n\
             \x20   rrl-ratelimit: 0\n    zonesdir: \"{z}\"\n    zonelistfile: \"{n}/zone.list\"\n    xfrdfile: \"{n}/xfrd.state\"\n    xfrdir: \"{n}\"\n\
             \x20   pidfile: \"{n}/nsd.pid\"\n    logfile: \"{n}/nsd.log\"\n    verbosity: 0\n\nremote-control:\n    control-enable: no\n\n{nsd_zones}",
            z = w.join("zones").display(),
            n = n.display()
        ),
    )
    .expect("nsd.conf");
    let g = w.join("nginx");
    std::fs::write(
        g.join("nginx.conf"),
        format!(
            "worker_processes 2;\npid {g}/nginx.pid;\nerror_log {g}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {g}/tmp;\n  proxy_temp_path {g}/tmp;\n  fastcgi_temp_path {g}/tmp;\n  uwsgi_temp_path {g}/tmp;\n  scgi_temp_path {g}/tmp;\n\
             \x20 server {{\n    listen {PLATFORM}:443 ssl;\n    server_name ~^mta-sts\\.(?<d>.+)$;\n    ssl_certificate {p}/mta-sts.pem;\n    ssl_certificate_key {p}/mta-sts.key;\n\
             \x20   location = /.well-known/mta-sts.txt {{\n      default_type text/plain;\n      return 200 \"version: STSv1\\r\\nmode: enforce\\r\\nmx: mx.$d\\r\\nmax_age: 604800\\r\\n\";\n    }}\n\
             \x20   location / {{ return 404; }}\n  }}\n}}\n",
            g = g.display(),
            p = pki.display()
        ),
    )
    .expect("nginx.conf");
    std::fs::write(w.join("resolv.conf"), format!("nameserver {NS}\n")).expect("resolv.conf");
    std::fs::write(
        w.join("project/mssante-diag.toml"),
        format!(
            "timeout_secs = {TIMEOUT}\nsubsystems = [\"dns\"]\n\n[dns]\nnameservers = [\"{NS}\"]\naddresses = [\"{PLATFORM}\"]\n\
             blocklists = [\"bl.bench.test\"]\ndkim_selectors = [\"default\"]\nca_bundle = \"{}\"\n",
            pki.join("ca.pem").display()
        ),
    )
    .expect("project");
    std::fs::write(w.join("domains.txt"), domains().join("\n") + "\n").expect("domains");
    std::fs::write(w.join(".complete"), stamp).expect("stamp");
}

/// Stops the servers this bench started when it ends, however it ends: SIGTERM first, so
/// nginx's master takes its workers down with it (SIGKILL would leave them running), then
/// SIGKILL for whatever is still there after 5 s.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.0 {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Inside the namespace: `lo` up, the private resolv.conf, NSD and nginx, then both tools.
fn inside() {
    let w = work();
    run(Command::new("ip").args(["link", "set", "lo", "up"]));
    run(Command::new("mount").arg("--bind").arg(w.join("resolv.conf")).arg("/etc/resolv.conf"));
    // /proc/self/net/dev lists the interfaces of this process's namespace (sysfs, the host's).
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("interfaces");
    let links: Vec<&str> = dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    assert_eq!(links, ["lo"], "the namespace must hold only lo");
    let quiet = || Stdio::null();
    let nsd = Command::new("nsd").arg("-d").arg("-c").arg(w.join("nsd/nsd.conf")).stdout(quiet()).stderr(quiet()).spawn().expect("nsd starts");
    let nginx = Command::new("nginx")
        .arg("-p")
        .arg(w.join("nginx"))
        .arg("-c")
        .arg(w.join("nginx/nginx.conf"))
        .arg("-e")
        .arg(w.join("nginx/error.log"))
        .args(["-g", "daemon off;"])
        .stdout(quiet())
        .stderr(quiet())
        .spawn()
        .expect("nginx starts");
    let _servers = Servers(vec![nsd, nginx]);
    wait_ready();

    let doms = domains();
    let cli = PathBuf::from(std::env::var_os("DNS_BENCH_CLI").expect("cli path"));
    let rounds: usize = std::env::var("DNS_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(if mssante_diag_benches::quick() { 1 } else { 3 }).max(1);
    let mut times = Vec::new();
    let mut ours = Value::Null;
    for _ in 0..rounds {
        let start = Instant::now();
        let out = Command::new(&cli).arg("--project").arg(w.join("project")).arg("dns").args(&doms).args(["--format", "json"]).output().expect("mssante-diag runs");
        times.push(start.elapsed());
        eprintln!("mssante-diag dns: {:.2} s", start.elapsed().as_secs_f64());
        assert!(matches!(out.status.code(), Some(0..=2)), "mssante-diag dns: {}", String::from_utf8_lossy(&out.stderr));
        ours = serde_json::from_slice(&out.stdout).expect("JSON audit");
    }
    times.sort();
    let ours_time = times[times.len() / 2];

    let checkdmarc = PathBuf::from(std::env::var_os("DNS_BENCH_CHECKDMARC").expect("checkdmarc path"));
    let json = w.join("checkdmarc.json");
    let _ = std::fs::remove_file(&json);
    let start = Instant::now();
    let out = Command::new(&checkdmarc)
        .arg(w.join("domains.txt"))
        .args(["-n", NS, "-t", TIMEOUT, "--skip-tls", "-o"])
        .arg(&json)
        .env("REQUESTS_CA_BUNDLE", w.join("pki/ca.pem"))
        .output()
        .expect("checkdmarc runs");
    let theirs_time = start.elapsed();
    assert!(out.status.success(), "checkdmarc: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Value = serde_json::from_slice(&std::fs::read(&json).expect("checkdmarc output")).expect("checkdmarc JSON");

    report(&ours, ours_time, rounds, &theirs, theirs_time);
}

/// Waits until NSD answers for the last zone and nginx accepts TLS connections (10 s at most).
fn wait_ready() {
    let last = format!("d{:04}.bench.test", domain_count() - 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dns = Command::new("dig").args(["+short", "+time=1", "+tries=1", &format!("@{NS}"), &last, "SOA"]).output().is_ok_and(|o| !o.stdout.is_empty());
        let https = std::net::TcpStream::connect((PLATFORM, 443)).is_ok();
        if dns && https {
            return;
        }
        assert!(Instant::now() < deadline, "NSD (dns {dns}) or nginx (https {https}) not ready within 10 s: see {}/nsd/nsd.log", work().display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Status counts per check of our audit (`ok`, `warning`...): domains for the per-domain
/// checks, 1 for the platform's address checks (run once for the audit).
fn our_counts(ours: &Value) -> Vec<(String, std::collections::BTreeMap<String, usize>)> {
    let mut out: Vec<(String, std::collections::BTreeMap<String, usize>)> = Vec::new();
    let platform = ours["addresses"].as_array().into_iter().flatten();
    let domains = ours["domains"].as_array().into_iter().flatten().flat_map(|d| d["checks"].as_array().into_iter().flatten());
    {
        for c in platform.chain(domains) {
            let id = c["id"].as_str().unwrap_or_default().to_owned();
            let status = c["status"].as_str().unwrap_or_default().to_owned();
            if !out.iter().any(|(i, _)| *i == id) {
                out.push((id.clone(), Default::default()));
            }
            if let Some((_, m)) = out.iter_mut().find(|(i, _)| *i == id) {
                *m.entry(status).or_default() += 1;
            }
        }
    }
    out
}

/// How many of checkdmarc's results have `key.valid == true` (or, for `mx`, hosts without
/// warnings; for `dnssec`, `true`).
fn their_count(theirs: &Value, key: &str) -> usize {
    theirs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| match key {
            "mx" => r["mx"]["hosts"].as_array().is_some_and(|h| !h.is_empty()) && r["mx"]["warnings"].as_array().is_some_and(Vec::is_empty),
            "dnssec" => r["dnssec"] == true,
            "ns" => r["ns"]["hostnames"].as_array().is_some_and(|h| !h.is_empty()),
            "soa" => r["soa"]["record"].is_string() || r["soa"]["values"].is_object(),
            k => r[k]["valid"] == true,
        })
        .count()
}

fn report(ours: &Value, ours_time: Duration, rounds: usize, theirs: &Value, theirs_time: Duration) {
    let n_ours = ours["domains"].as_array().map_or(0, Vec::len);
    let n_theirs = theirs.as_array().map_or(0, Vec::len);
    let n = domain_count();
    assert_eq!((n_ours, n_theirs), (n, n), "both tools audited every domain");
    println!("DNS audit of {n} domains on a local NSD ({NS}, private network namespace: lo only):");
    println!("  mssante-diag dns            {:>8.2} s  (median of {rounds})", ours_time.as_secs_f64());
    println!("  checkdmarc {CHECKDMARC} --skip-tls {:>8.2} s", theirs_time.as_secs_f64());
    let ratio = theirs_time.as_secs_f64() / ours_time.as_secs_f64();
    println!("  ratio checkdmarc/ours       {ratio:>8.1}x  target >= 10x: {}", if ratio >= 10.0 { "met" } else { "NOT met" });
    Row::new("dns", &format!("mail-authentication audit of {n} domains, local NSD, median of {rounds}"), secs(ours_time.as_secs_f64()))
        .peer(&format!("checkdmarc {CHECKDMARC} --skip-tls"), secs(theirs_time.as_secs_f64()))
        .ratio(faster(ours_time.as_secs_f64(), theirs_time.as_secs_f64()))
        .target(">= 10x checkdmarc", ratio >= 10.0)
        .print();
    println!("what each checked (domains per result; ptr and blocklist: the platform's address, once):");
    for (id, counts) in our_counts(ours) {
        let c = counts.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ");
        println!("  ours  {id:<14} {c}");
    }
    for key in ["dnssec", "soa", "ns", "mx", "mta_sts", "spf", "dmarc", "smtp_tls_reporting"] {
        println!("  theirs {key:<19} valid {}", their_count(theirs, key));
    }
    println!("common: MX (hosts resolve; checkdmarc also PTR of MX addresses), SPF (parsed through includes, lookup counts), DMARC (syntax, policy, external rua authorised), MTA-STS (record + policy over HTTPS), TLS-RPT, DNSSEC (unsigned zones here).");
    println!("ours only: DKIM key (2048 RSA parsed), SPF evaluated for the platform address, PTR forward-confirmed + SMTP banner (port 25 closed here), DNS blocklist, DANE (no TLSA here). checkdmarc only: SOA, NS.");
}
