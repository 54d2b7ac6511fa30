//! Soak of `mssante-diag serve` (issue #17): `/metrics` scraped every 100 ms for a while against
//! the test stack, half of the platform's services (Redis, Dovecot, Postfix, nginx: the API and
//! its proxy) failing and recovering on a timer. Fails (exit 1) when the exporter's file
//! descriptors, threads or resident memory grew, when any scrape failed or took longer than the
//! configured timeout plus 10 %, when the faults never showed in the metrics, or when the
//! report did not come back to the healthy one after the services recovered.
//!
//! How: `mssante-diag serve --listen 127.0.0.1:0 --cache-secs 0` on the stack's project (every
//! scrape asks for a report no older than itself: scrapes arriving during a run share it). A
//! scrape starts every 100 ms on its own connection, whatever the previous ones are doing. After
//! a warm-up on the healthy stack, with no scrape in flight and the runtime's idle blocking
//! threads retired, the exporter's `/proc` figures are the baseline; then each flapping service is stopped for half of every period (staggered, so
//! failures overlap and recover at different times), the figures sampled every second; at the
//! end every service is started again, scrapes go on until the report is the healthy one again,
//! and the figures are taken once more in the same quiet state.
//!
//! The stopped services are always started again: by a bash co-process (`tests/stack/stack.sh`)
//! whose exit trap starts them, however this program ends (even killed: its pipe closes).
//!
//! Run: `cargo build --release -p mssante-diag-cli -p mssante-diag-benches && target/release/soak
//! [--secs 600] [--period 40] [--cli PATH]` (the test stack up; it holds the stack alone: it
//! stops shared services). `tests/run-all.sh` runs a short one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mssante_diag_benches::{secs, Row};
use mssante_diag_tests::{stack_scripts, Stack};

/// The services failing and recovering: half of the platform's (the API and Traefik are nginx).
const FLAPPING: [&str; 4] = ["redis", "dovecot", "postfix", "nginx"];
/// Time between two scrapes' starts.
const SCRAPE_EVERY: Duration = Duration::from_millis(100);
/// Scrapes in flight at most; a tick beyond it is counted as missed (a failure).
const MAX_IN_FLIGHT: usize = 48;
/// File descriptors and threads allowed over the baseline at the end.
const FD_SLACK: usize = 2;
const THREAD_SLACK: usize = 2;
/// Resident memory allowed over the baseline at the end: the larger of the two.
const RSS_SLACK_PCT: u64 = 20;
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// What `/proc` says of the exporter.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    fds: usize,
    threads: usize,
    rss_kib: u64,
}

impl Sample {
    fn of(pid: u32) -> Option<Sample> {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let num = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
        Some(Sample { fds, threads: usize::try_from(num("Threads:")?).ok()?, rss_kib: num("VmRSS:")? })
    }

    fn max(self, o: Sample) -> Sample {
        Sample { fds: self.fds.max(o.fds), threads: self.threads.max(o.threads), rss_kib: self.rss_kib.max(o.rss_kib) }
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} fds, {} threads, RSS {:.1} MiB", self.fds, self.threads, self.rss_kib as f64 / 1024.0)
    }
}

/// One scrape: when it started (since the soak began), how long it took, and what it got.
#[derive(Debug, Clone)]
struct Scrape {
    at: Duration,
    took: Duration,
    /// Checks not ok (status 1, 2 or 3) in the report, or the failure.
    not_ok: Result<usize, String>,
}

/// `GET /metrics` on a new connection: the count of checks not ok in the answer.
fn scrape(addr: SocketAddr, limit: Duration) -> Result<usize, String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut body = Vec::new();
    // Bounded: the exporter's answer is a few hundred KiB at most.
    s.take(64 << 20).read_to_end(&mut body).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("answer: {}", text.lines().next().unwrap_or("(empty)")));
    }
    let statuses: Vec<&str> = text.lines().filter(|l| l.starts_with("mssante_diag_check_status{")).filter_map(|l| l.rsplit(' ').next()).collect();
    if statuses.is_empty() {
        return Err("no mssante_diag_check_status in the answer".into());
    }
    Ok(statuses.iter().filter(|v| matches!(**v, "1" | "2" | "3")).count())
}

/// Starts a scrape every 100 ms while `on` is set; results in `log`.
struct Scraper {
    on: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    missed: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Scrape>>>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Scraper {
    fn new() -> Self {
        Scraper {
            on: Arc::new(AtomicBool::new(false)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            missed: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(Mutex::new(Vec::new())),
            ticker: None,
        }
    }

    fn start(&mut self, addr: SocketAddr, t0: Instant, limit: Duration) {
        self.on.store(true, Ordering::SeqCst);
        let (on, in_flight, missed, log) = (self.on.clone(), self.in_flight.clone(), self.missed.clone(), self.log.clone());
        self.ticker = Some(std::thread::spawn(move || {
            let mut next = Instant::now();
            while on.load(Ordering::SeqCst) {
                if in_flight.load(Ordering::SeqCst) >= MAX_IN_FLIGHT {
                    missed.fetch_add(1, Ordering::SeqCst);
                } else {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let (in_flight, log) = (in_flight.clone(), log.clone());
                    std::thread::spawn(move || {
                        let start = Instant::now();
                        let not_ok = scrape(addr, limit);
                        let s = Scrape { at: start - t0, took: start.elapsed(), not_ok };
                        if let Ok(mut l) = log.lock() {
                            l.push(s);
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                next += SCRAPE_EVERY;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }));
    }

    /// Stops starting scrapes and waits for those in flight (at most `limit` and a second).
    fn pause(&mut self, limit: Duration) {
        self.on.store(false, Ordering::SeqCst);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + limit + Duration::from_secs(1);
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn last(&self) -> Option<Scrape> {
        self.log.lock().ok()?.iter().max_by_key(|s| s.at).cloned()
    }
}

/// The bash co-process that stops and starts services; its exit trap starts every flapping
/// service again, however the soak ends (its stdin closes when this process dies).
struct Flapper {
    child: Child,
    stdin: Option<ChildStdin>,
    acks: Receiver<String>,
}

const FLAPPER: &str = r#"stack="$1"; shift
restore() { for s in "$@"; do bash "$stack" start "$s" >/dev/null 2>&1 || echo "soak: could not start $s again" >&2; done; }
trap 'restore "$@"' EXIT
trap 'exit 130' INT TERM
while read -r cmd svc; do
  if bash "$stack" "$cmd" "$svc" >/dev/null 2>&1; then echo "ok $cmd $svc"; else echo "failed $cmd $svc"; fi
done"#;

impl Flapper {
    fn spawn() -> Flapper {
        let mut child = Command::new("bash")
            .args(["-c", FLAPPER, "soak-flapper"])
            .arg(stack_scripts().join("stack.sh"))
            .args(FLAPPING)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("piped");
        let (tx, acks) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Flapper { child, stdin, acks }
    }

    /// Runs `stack.sh CMD SERVICE` and waits for it (2 minutes at most): whether it worked.
    fn run(&mut self, cmd: &str, service: &str) -> bool {
        let Some(stdin) = self.stdin.as_mut() else { return false };
        if writeln!(stdin, "{cmd} {service}").is_err() {
            return false;
        }
        match self.acks.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line.starts_with("ok "),
            Err(_) => false,
        }
    }
}

impl Drop for Flapper {
    fn drop(&mut self) {
        // EOF: the loop ends, the trap starts every flapping service again.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `mssante-diag serve` under a bash watchdog that stops it when this process's pipe closes.
struct Exporter {
    watchdog: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    addr: SocketAddr,
}

impl Exporter {
    fn spawn(cli: &PathBuf, project: &PathBuf, log: &PathBuf) -> Exporter {
        let script = r#""$@" & p=$!; trap 'kill $p 2>/dev/null; wait $p' EXIT; trap 'exit 130' INT TERM; echo "pid $p"; read -r _ || true"#;
        let mut watchdog = Command::new("bash")
            .args(["-c", script, "soak-serve"])
            .arg(cli)
            .arg("--project")
            .arg(project)
            .args(["serve", "--listen", "127.0.0.1:0", "--cache-secs", "0", "--max-connections", "64"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("serve log"))
            .spawn()
            .expect("bash runs");
        let stdin = watchdog.stdin.take();
        let out = watchdog.stdout.take().expect("piped");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut pid = None;
        let mut addr = None;
        while addr.is_none() {
            let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("serve did not start: see {}", log.display()));
            if let Some(p) = line.strip_prefix("pid ") {
                pid = p.trim().parse().ok();
            } else if let Some(rest) = line.split("http://").nth(1) {
                addr = rest.trim_end_matches("/metrics").parse().ok();
            }
        }
        Exporter { watchdog, stdin, pid: pid.expect("the watchdog names serve's pid"), addr: addr.expect("listening address") }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The exporter's figures with no scrape in flight, once the runtime's idle blocking threads
/// have retired (tokio keeps them 10 s): back to the launch's thread count, or 12 s at most.
fn quiet_sample(pid: u32, launch: Sample) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let s = Sample::of(pid).expect("serve is running");
        if s.threads <= launch.threads || Instant::now() >= deadline {
            return s;
        }
    }
}

#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
fn main() {
    let total = Duration::from_secs_f64(arg("--secs").and_then(|s| s.parse().ok()).unwrap_or(if mssante_diag_benches::quick() { 90.0 } else { 600.0 }));
    let period = Duration::from_secs_f64(arg("--period").and_then(|s| s.parse().ok()).unwrap_or((total.as_secs_f64() / 8.0).clamp(12.0, 60.0)));
    let exe = std::env::current_exe().expect("own path");
    let cli = arg("--cli").map_or_else(|| exe.with_file_name("mssante-diag"), PathBuf::from);
    assert!(cli.exists(), "{} missing: cargo build -p mssante-diag-cli (same profile), or --cli PATH", cli.display());
    let stack = Stack::get();
    let timeout = stack.config().timeout();
    let bound = timeout + timeout / 10;
    let work = PathBuf::from("/tmp/mssante-diag-bench/soak");
    std::fs::create_dir_all(&work).expect("work dir");
    let log = work.join("serve.log");

    let mut flapper = Flapper::spawn();
    let exporter = Exporter::spawn(&cli, &stack.project, &log);
    let pid = exporter.pid;
    let t0 = Instant::now();
    let launch = Sample::of(pid).expect("serve is running");
    println!("serve soak: {:.0} s, a scrape every {} ms on {}, timeout {:.1} s (a scrape may take {:.2} s), {} flapping every {:.0} s",
        total.as_secs_f64(), SCRAPE_EVERY.as_millis(), exporter.addr, timeout.as_secs_f64(), bound.as_secs_f64(), FLAPPING.join(", "), period.as_secs_f64());
    println!("  at launch              {launch}");

    // Warm-up on the healthy stack; then the baseline, with no scrape in flight.
    let warmup = (total / 10).clamp(Duration::from_secs(5), Duration::from_secs(30));
    let mut scraper = Scraper::new();
    scraper.start(exporter.addr, t0, bound + Duration::from_secs(5));
    std::thread::sleep(warmup);
    scraper.pause(bound);
    let healthy = scraper.last().and_then(|s| s.not_ok.ok());
    let base = quiet_sample(pid, launch);
    println!("  after {:>3.0} s warm-up    {base}  (checks not ok on the healthy stack: {})", warmup.as_secs_f64(), healthy.map_or("?".into(), |n| n.to_string()));

    // Faults on a timer: service i is down during the first half of each period, shifted by i/n.
    scraper.start(exporter.addr, t0, bound + Duration::from_secs(5));
    let fault_start = Instant::now();
    let fault_time = total.saturating_sub(warmup * 2);
    let mut down = [false; FLAPPING.len()];
    let mut peak = base;
    let mut flaps = 0;
    let mut flap_errors = Vec::new();
    let mut last_sample = Instant::now();
    while fault_start.elapsed() < fault_time {
        let t = fault_start.elapsed().as_secs_f64();
        for (i, svc) in FLAPPING.iter().enumerate() {
            let phase = (t / period.as_secs_f64() + i as f64 / FLAPPING.len() as f64).fract();
            let want_down = phase < 0.5 && t + period.as_secs_f64() / 2.0 < fault_time.as_secs_f64();
            if want_down != down[i] {
                let cmd = if want_down { "stop" } else { "start" };
                if flapper.run(cmd, svc) {
                    down[i] = want_down;
                    flaps += 1;
                } else {
                    flap_errors.push(format!("{cmd} {svc}"));
                    down[i] = want_down;
                }
            }
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            if let Some(s) = Sample::of(pid) {
                peak = peak.max(s);
            }
            last_sample = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Recovery: every service up, scrapes until the report is the healthy one again.
    for (i, svc) in FLAPPING.iter().enumerate() {
        if down[i] && !flapper.run("start", svc) {
            flap_errors.push(format!("start {svc}"));
        }
    }
    let recovery_start = Instant::now();
    let mut recovered = false;
    while recovery_start.elapsed() < warmup.max(Duration::from_secs(20)) {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(s) = Sample::of(pid) {
            peak = peak.max(s);
        }
        if let (Some(s), Some(h)) = (scraper.last(), healthy) {
            if s.at > recovery_start - t0 && s.not_ok == Ok(h) {
                recovered = true;
                std::thread::sleep(warmup.saturating_sub(recovery_start.elapsed()));
                break;
            }
        }
    }
    scraper.pause(bound);
    let end = quiet_sample(pid, launch);
    let elapsed = t0.elapsed();
    drop(exporter);
    drop(flapper);

    let log = scraper.log.lock().map(|l| l.clone()).unwrap_or_default();
    let missed = scraper.missed.load(Ordering::SeqCst);
    let errors: Vec<&Scrape> = log.iter().filter(|s| s.not_ok.is_err()).collect();
    let slowest = log.iter().max_by_key(|s| s.took).map_or(Duration::ZERO, |s| s.took);
    let mut took: Vec<Duration> = log.iter().map(|s| s.took).collect();
    took.sort();
    let median = took.get(took.len() / 2).copied().unwrap_or_default();
    let faulty_seen = log.iter().filter(|s| matches!((&s.not_ok, healthy), (Ok(n), Some(h)) if *n > h)).count();
    let over = log.iter().filter(|s| s.took > bound).count();
    println!("  at the end ({:>3.0} s)     {end}", elapsed.as_secs_f64());
    println!("  maximum                {peak}");
    println!("  scrapes                {} ({} failed, {missed} missed), median {}, slowest {} (bound {}), {over} over the bound", log.len(), errors.len(), secs(median.as_secs_f64()), secs(slowest.as_secs_f64()), secs(bound.as_secs_f64()));
    println!("  faults                 {flaps} stops and starts, {faulty_seen} scrapes saw more checks failing than on the healthy stack; recovered: {recovered}");
    for e in errors.iter().take(5) {
        println!("  failed scrape at {:.1} s after {}: {}", e.at.as_secs_f64(), secs(e.took.as_secs_f64()), e.not_ok.as_ref().err().map_or("", String::as_str));
    }

    let rss_limit = base.rss_kib + (base.rss_kib * RSS_SLACK_PCT / 100).max(RSS_SLACK_KIB);
    let fds_ok = end.fds <= base.fds + FD_SLACK;
    let threads_ok = end.threads <= base.threads + THREAD_SLACK;
    let rss_ok = end.rss_kib <= rss_limit;
    let scrapes_ok = errors.is_empty() && missed == 0 && over == 0 && !log.is_empty();
    let length = if total.as_secs() >= 120 { format!("{:.0} min", total.as_secs_f64() / 60.0) } else { format!("{} s", total.as_secs()) };
    let label = format!("{length}, a scrape every 100 ms, {} of the platform's services failing and recovering", FLAPPING.len());
    Row::new("serve soak", &format!("{label}: slowest of {} scrapes (median {})", log.len(), secs(median.as_secs_f64())), secs(slowest.as_secs_f64()))
        .target(format!("<= timeout + 10 % = {}, none failed", secs(bound.as_secs_f64())), scrapes_ok)
        .print();
    Row::new("serve soak", "file descriptors of `serve`: baseline → end (max)", format!("{} → {} ({})", base.fds, end.fds, peak.fds)).target(format!("flat (+{FD_SLACK})"), fds_ok).print();
    Row::new("serve soak", "threads of `serve`: baseline → end (max)", format!("{} → {} ({})", base.threads, end.threads, peak.threads))
        .target(format!("flat (+{THREAD_SLACK})"), threads_ok)
        .print();
    Row::new("serve soak", "RSS of `serve`: baseline → end (max)", format!("{:.1} → {:.1} MiB ({:.1})", base.rss_kib as f64 / 1024.0, end.rss_kib as f64 / 1024.0, peak.rss_kib as f64 / 1024.0))
        .target(format!("flat (+{RSS_SLACK_PCT} % or +{} MiB)", RSS_SLACK_KIB / 1024), rss_ok)
        .print();
    let mut failures = Vec::new();
    if !fds_ok {
        failures.push(format!("file descriptors grew: {} -> {}", base.fds, end.fds));
    }
    if !threads_ok {
        failures.push(format!("threads grew: {} -> {}", base.threads, end.threads));
    }
    if !rss_ok {
        failures.push(format!("RSS grew: {} -> {} KiB (limit {rss_limit})", base.rss_kib, end.rss_kib));
    }
    if !scrapes_ok {
        failures.push(format!("{} scrapes failed, {missed} missed, {over} slower than {}", errors.len(), secs(bound.as_secs_f64())));
    }
    if faulty_seen == 0 {
        failures.push("no scrape saw the faults".into());
    }
    if !flap_errors.is_empty() {
        failures.push(format!("stack.sh failed: {}", flap_errors.join(", ")));
    }
    if !recovered {
        failures.push("the report did not come back to the healthy one after the services recovered".into());
    }
    if failures.is_empty() {
        println!("PASS");
    } else {
        println!("FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
}
