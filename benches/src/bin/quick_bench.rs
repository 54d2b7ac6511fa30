//! Runner benchmarks (SPEC targets):
//! 1. every endpoint hung: `quick` ends within the timeout plus 10 %, where the
//!    guide's sequential quick-check.sh takes the sum of its timeouts;
//! 2. a whole `check` on the healthy stack: within 1.2x of its slowest single probe;
//! 3. peak memory of `mssante-diag check` (under 50 MiB), when the CLI binary is beside this one;
//! 4. a healthy `quick` (target <= 0.5 s), beside the guide's quick-check.sh and
//!    `docker stats --no-stream` of the same containers, in the same run.
//!
//! Run: `cargo build --release -p mssante-diag-cli -p mssante-diag-benches &&
//! target/release/quick_bench` (the test stack must be up: `tests/stack/stack.sh up`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mssante_diag_benches::{faster, mib, Row};
use mssante_diag_core::{catalogue, Config, Selection};
use mssante_diag_tests::{hung_listener, run, run_only, Stack};

const ROUNDS: usize = 5;
const HUNG_TIMEOUT: f64 = 2.0;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn hung_config(port: u16, dir: &std::path::Path) -> Config {
    let text = format!(
        "timeout_secs = {HUNG_TIMEOUT}\nsubsystems = [\"system\", \"api\", \"postgres\", \"redis\", \"smtp\", \"imap\"]\n\
         [api]\nurl = \"http://127.0.0.1:{port}/health\"\n[postgres]\nhost = \"127.0.0.1\"\nport = {port}\n\
         [redis]\nhost = \"127.0.0.1\"\nport = {port}\n[smtp]\nhost = \"127.0.0.1\"\nsubmission_port = {port}\n\
         [imap]\nhost = \"127.0.0.1\"\nport = {port}\n"
    );
    Config::from_toml_str(&text, dir).expect("valid config")
}

fn bench_hung() {
    let (_listener, port) = hung_listener();
    let dir = std::env::temp_dir();
    let ours = median(
        (0..3)
            .map(|_| {
                let start = Instant::now();
                let _ = run(hung_config(port, &dir), &Selection::Quick);
                start.elapsed()
            })
            .collect(),
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/quick-check.sh");
    let p = port.to_string();
    let start = Instant::now();
    let status = Command::new("bash")
        .arg(&script)
        .args(["127.0.0.1", &p, &p, &p, &p, &p, &HUNG_TIMEOUT.to_string()])
        .output()
        .expect("bash runs");
    let theirs = start.elapsed();
    let out = String::from_utf8_lossy(&status.stdout);
    let oks = out.matches("OK").count();
    println!("hung endpoints (timeout {HUNG_TIMEOUT} s):");
    println!("  mssante-diag quick      {:>7.3} s  (target <= {:.3} s)", secs(ours), HUNG_TIMEOUT * 1.1);
    println!("  guide quick-check.sh    {:>7.3} s  ({oks} of 5 probes wrongly say OK on a hung server)", secs(theirs));
    println!("  ratio guide/ours        {:>7.2}x", secs(theirs) / secs(ours));
    let bound = HUNG_TIMEOUT * 1.1;
    Row::new("quick", &format!("every endpoint hung (5 probes, timeout {HUNG_TIMEOUT} s), median of 3"), mssante_diag_benches::secs(secs(ours)))
        .peer("the guide's quick-check.sh", format!("{} ({oks} of 5 wrongly OK)", mssante_diag_benches::secs(secs(theirs))))
        .ratio(faster(secs(ours), secs(theirs)))
        .target(format!("<= timeout + 10 % = {bound:.1} s"), secs(ours) <= bound)
        .print();
}

fn bench_healthy() {
    let stack = Stack::get();
    let ids: Vec<&str> = catalogue().iter().map(|d| d.id).collect();
    let mut slowest = (Duration::ZERO, "");
    for id in &ids {
        let d = median(
            (0..ROUNDS)
                .map(|_| {
                    let start = Instant::now();
                    let _ = run_only(stack.config(), &[id]);
                    start.elapsed()
                })
                .collect(),
        );
        if d > slowest.0 {
            slowest = (d, id);
        }
    }
    let whole = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                let _ = run(stack.config(), &Selection::All);
                start.elapsed()
            })
            .collect(),
    );
    println!("healthy stack, {} checks (median of {ROUNDS}):", ids.len());
    println!("  slowest single probe    {:>7.3} s  ({})", secs(slowest.0), slowest.1);
    println!("  whole check             {:>7.3} s  ratio {:.2}x (target <= 1.2x)", secs(whole), secs(whole) / secs(slowest.0));
    let ratio = secs(whole) / secs(slowest.0);
    Row::new("check", &format!("whole `check` in-process, healthy stack ({} checks), median of {ROUNDS}", ids.len()), mssante_diag_benches::secs(secs(whole)))
        .peer(&format!("its slowest single check ({})", slowest.1), mssante_diag_benches::secs(secs(slowest.0)))
        .ratio(format!("{ratio:.2}x the slowest"))
        .target("<= 1.2x the slowest check", ratio <= 1.2)
        .print();
}

/// The median wall time of `f` over `n` runs.
fn time_median(n: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn bench_healthy_quick() {
    const TARGET: f64 = 0.5;
    let stack = Stack::get();
    let in_process = time_median(ROUNDS, || {
        let _ = run(stack.config(), &Selection::Quick);
    });
    let cli = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("mssante-diag"))).filter(|p| p.exists());
    let cli_time = cli.map(|cli| {
        time_median(ROUNDS, || {
            let out = Command::new(&cli).arg("--project").arg(&stack.project).args(["quick", "--format", "json"]).output().expect("CLI runs");
            assert!(out.status.success(), "healthy quick exits 0: {}", String::from_utf8_lossy(&out.stdout));
        })
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/quick-check.sh");
    let args = [stack.var("STACK_HOST"), stack.var("API_PORT"), stack.var("PG_PORT"), stack.var("REDIS_PORT"), stack.var("SUBMISSION_PORT"), stack.var("IMAP_PORT"), "5"];
    let guide = time_median(ROUNDS, || {
        let _ = Command::new("bash").arg(&script).args(args).output().expect("bash runs");
    });
    let host = stack.var("DOCKER_HOST");
    let filter = "label=com.docker.compose.project=mssante-test";
    let ids = Command::new("docker").args(["-H", host, "ps", "-q", "--filter", filter]).output().expect("docker CLI runs");
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout).lines().map(str::to_owned).collect();
    let stats = time_median(ROUNDS, || {
        let out = Command::new("docker").args(["-H", host, "stats", "--no-stream"]).args(&ids).output().expect("docker CLI runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    });
    println!("healthy stack, quick (median of {ROUNDS}):");
    let verdict = |t: Duration| if secs(t) <= TARGET { "PASS" } else { "FAIL" };
    println!("  mssante-diag quick (in-process) {:>7.3} s  target <= {TARGET} s: {}", secs(in_process), verdict(in_process));
    match cli_time {
        Some(t) => println!("  mssante-diag quick (CLI)        {:>7.3} s  target <= {TARGET} s: {}", secs(t), verdict(t)),
        None => println!("  mssante-diag quick (CLI)        not measured: mssante-diag binary not beside this one"),
    }
    println!("  guide quick-check.sh            {:>7.3} s  (5 reachability probes only)", secs(guide));
    println!("  docker stats --no-stream        {:>7.3} s  ({} containers)", secs(stats), ids.len());
    let target = format!("<= {TARGET} s");
    if let Some(t) = cli_time {
        Row::new("quick", &format!("healthy stack, `mssante-diag quick` (CLI process), median of {ROUNDS}"), mssante_diag_benches::secs(secs(t)))
            .peer("the guide's quick-check.sh (5 reachability probes)", mssante_diag_benches::secs(secs(guide)))
            .ratio(faster(secs(t), secs(guide)))
            .target(&target, secs(t) <= TARGET)
            .print();
    }
    Row::new("quick", &format!("healthy stack, quick in-process, median of {ROUNDS}"), mssante_diag_benches::secs(secs(in_process)))
        .peer(&format!("docker stats --no-stream ({} containers)", ids.len()), mssante_diag_benches::secs(secs(stats)))
        .ratio(faster(secs(in_process), secs(stats)))
        .target(&target, secs(in_process) <= TARGET)
        .print();
}

fn bench_memory() {
    let Some(cli) = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("mssante-diag"))).filter(|p| p.exists()) else {
        println!("peak memory: mssante-diag binary not beside this one; build it in the same profile");
        return;
    };
    let stack = Stack::get();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&cli)
        .arg("--project")
        .arg(&stack.project)
        .args(["check", "--format", "json"])
        .output();
    match out {
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let kib: f64 = err.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(f64::NAN);
            println!("peak memory of `mssante-diag check`: {:.1} MiB (target < 50 MiB)", kib / 1024.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let row = Row::new("check", "peak memory (max RSS) of `mssante-diag check`, healthy stack", if kib.is_nan() { "not measured".into() } else { mib(kib as u64) });
            row.target("< 50 MiB", kib / 1024.0 < 50.0).print();
        }
        Err(e) => println!("peak memory: /usr/bin/time unavailable ({e})"),
    }
}

fn main() {
    bench_hung();
    bench_healthy_quick();
    bench_healthy();
    bench_memory();
}
