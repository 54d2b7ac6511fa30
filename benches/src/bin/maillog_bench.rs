//! `mssante-diag logs summarize` on a generated 1 GiB Postfix + Dovecot log, beside the peer
//! tools run on the same file in the same run (issue: ">= 20x pflogsumm and >= 50 % of
//! `grep -c status=deferred`'s throughput, memory independent of the file's size"):
//! - ours: the CLI in JSON, whole file, wall time and peak RSS (best of 3);
//! - `grep -c status=deferred` (output to a pipe: GNU grep stops at the first match when its
//!   output is /dev/null), whole file (best of 3);
//! - pflogsumm (Debian's package) on the first 128 MiB of the file (it needs minutes for the
//!   whole GiB): throughputs are compared, and ours on the same prefix is printed beside it.
//!
//! The log (seeded generator of `mssante_diag_tests::maillog`, 30 days of traffic, every
//! line kind the summary counts plus junk) is made once in /tmp/mssante-diag-bench/ and kept.
//! `MSSANTE_BENCH_QUICK=1` (`benches/run.sh --quick`): a 64 MiB log, its 16 MiB prefix.
//!
//! Run: `cargo build --release -p mssante-diag-cli -p mssante-diag-benches &&
//! target/release/maillog_bench` (no stack needed).

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mssante_diag_benches::{mib, Row};
use mssante_diag_tests::maillog::{generate, Profile};
use mssante_diag_tests::run_measuring_memory;

const MIB: u64 = 1 << 20;

/// The log's size and its prefix's (`--quick`: 64 and 16 MiB).
fn sizes() -> (u64, u64) {
    if mssante_diag_benches::quick() {
        (64 * MIB, 16 * MIB)
    } else {
        (1024 * MIB, 128 * MIB)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The 1 GiB log (made once) and its 128 MiB prefix cut at a line end.
fn make_logs(dir: &Path) -> (PathBuf, PathBuf) {
    let (size, prefix_size) = sizes();
    let full = dir.join(format!("mail-{}m.log", size / MIB));
    let prefix = dir.join(format!("mail-{}m-prefix.log", prefix_size / MIB));
    if std::fs::metadata(&full).map_or(true, |m| m.len() < size) {
        eprintln!("generating {} ...", full.display());
        let t = Instant::now();
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&full).expect("log file"));
        // About 1 KB of log per message (with the other events): a little over the size.
        let messages = usize::try_from(size / 900).unwrap_or(usize::MAX);
        let p = Profile {
            messages,
            deferral_pct: 8,
            bounce_pct: 2,
            sasl_failures: messages / 50,
            dovecot_failures: messages / 80,
            tls_failures: messages / 500,
            rejects: messages / 40,
            junk: true,
            start: now() - 30 * 86_400,
            span_secs: 30 * 86_400 - 600,
            rfc3339: false,
        };
        let e = generate(&p, 42, &mut out).expect("log written");
        out.flush().expect("flushed");
        eprintln!("  {} lines in {:.1} s", e.lines, t.elapsed().as_secs_f64());
    }
    if std::fs::metadata(&prefix).map_or(true, |m| m.len() == 0) {
        let mut buf = vec![0u8; usize::try_from(prefix_size).unwrap_or(usize::MAX)];
        let mut f = std::fs::File::open(&full).expect("log");
        f.read_exact(&mut buf).expect("prefix");
        let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        std::fs::write(&prefix, &buf[..end]).expect("prefix written");
    }
    (full, prefix)
}

fn cli() -> PathBuf {
    let bin = std::env::current_exe().expect("bench path").parent().expect("target dir").join("mssante-diag");
    assert!(bin.exists(), "build the CLI beside this benchmark: cargo build --release -p mssante-diag-cli");
    bin
}

/// Best wall time (s) of `runs` runs of a command (its output saved to `out`), and the peak RSS (KiB).
fn time(runs: usize, mut make: impl FnMut() -> Command, out: &Path) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut peak = 0;
    for _ in 0..runs {
        // Output to a pipe (read by the harness), never /dev/null.
        let t = Instant::now();
        let (res, rss) = run_measuring_memory(make());
        let secs = t.elapsed().as_secs_f64();
        std::fs::write(out, &res.stdout).expect("output file");
        assert!(res.status.success() || res.status.code() == Some(1), "{:?}: {}", make().get_program(), String::from_utf8_lossy(&res.stderr));
        best = best.min(secs);
        peak = peak.max(rss);
    }
    (best, peak)
}

#[allow(clippy::cast_precision_loss)]
fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs
}

fn main() {
    let dir = PathBuf::from("/tmp/mssante-diag-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let (full, prefix) = make_logs(&dir);
    let (size, psize) = (std::fs::metadata(&full).expect("log").len(), std::fs::metadata(&prefix).expect("prefix").len());
    // No write-back of the freshly generated file during the timings; then warm the page
    // cache: every tool reads the file from memory.
    let _ = Command::new("sync").status();
    let _ = Command::new("cat").arg(&full).stdout(Stdio::null()).status();
    let bin = cli();
    let out = dir.join("out.json");
    let ours = |f: &Path| {
        let f = f.to_path_buf();
        let bin = bin.clone();
        move || {
            let mut c = Command::new(&bin);
            c.args(["logs", "summarize", "--format", "json"]).arg(&f);
            c
        }
    };
    let (t_ours, rss_ours) = time(3, ours(&full), &out);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).expect("our output")).expect("JSON");
    let grep_out = dir.join("grep.out");
    let (t_grep, _) = time(
        3,
        || {
            let mut c = Command::new("grep");
            c.args(["-c", "status=deferred"]).arg(&full);
            c
        },
        &grep_out,
    );
    let grep_count: u64 = std::fs::read_to_string(&grep_out).expect("grep output").trim().parse().unwrap_or(0);
    let (t_ours_prefix, rss_ours_prefix) = time(2, ours(&prefix), &out);
    let pfl_out = dir.join("pflogsumm.out");
    let (t_pfl, rss_pfl) = time(
        1,
        || {
            let mut c = Command::new("pflogsumm");
            c.arg(&prefix);
            c
        },
        &pfl_out,
    );
    let (ours_full, grep_full) = (mib_s(size, t_ours), mib_s(size, t_grep));
    let (ours_pre, pfl_pre) = (mib_s(psize, t_ours_prefix), mib_s(psize, t_pfl));
    println!("mail log summary: {:.0} MiB generated log ({} lines read), {} core(s)", size as f64 / MIB as f64, summary["lines"]["total"], std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    println!("  deferrals: ours {} / grep -c {grep_count}", summary["deferred"]);
    println!("  {:<44} {:>8.2} s {:>9.0} MiB/s  peak RSS {:>6} KiB", "mssante-diag logs summarize (1 GiB)", t_ours, ours_full, rss_ours);
    println!("  {:<44} {:>8.2} s {:>9.0} MiB/s", "grep -c status=deferred (1 GiB)", t_grep, grep_full);
    println!("  {:<44} {:>8.2} s {:>9.0} MiB/s  peak RSS {:>6} KiB", "mssante-diag logs summarize (128 MiB prefix)", t_ours_prefix, ours_pre, rss_ours_prefix);
    println!("  {:<44} {:>8.2} s {:>9.0} MiB/s  peak RSS {:>6} KiB", "pflogsumm (128 MiB prefix)", t_pfl, pfl_pre, rss_pfl);
    println!("  ours / grep: {:.0} % (target >= 50 %)", 100.0 * ours_full / grep_full);
    println!("  ours / pflogsumm: {:.1}x on the same 128 MiB prefix, {:.1}x ours on 1 GiB vs pflogsumm on 128 MiB (target >= 20x)", ours_pre / pfl_pre, ours_full / pfl_pre);
    println!("  memory: peak RSS {rss_ours_prefix} KiB on 128 MiB, {rss_ours} KiB on 1 GiB (independent of the size)");
    let (full_mib, pre_mib) = (size / MIB, psize / MIB);
    Row::new("logs summarize", &format!("mail log summary, {full_mib} MiB generated Postfix + Dovecot log, throughput (best of 3)"), format!("{ours_full:.0} MiB/s"))
        .peer("grep -c status=deferred", format!("{grep_full:.0} MiB/s"))
        .ratio(format!("{:.0} % of grep's", 100.0 * ours_full / grep_full))
        .target(">= 50 % of grep -c", ours_full >= grep_full / 2.0)
        .print();
    Row::new("logs summarize", &format!("mail log summary, the same log's first {pre_mib} MiB, throughput"), format!("{ours_pre:.0} MiB/s"))
        .peer("pflogsumm (Debian)", format!("{pfl_pre:.1} MiB/s"))
        .ratio(format!("{:.0}x pflogsumm's", ours_pre / pfl_pre))
        .target(">= 20x pflogsumm", ours_pre >= 20.0 * pfl_pre)
        .print();
    Row::new("logs summarize", &format!("peak memory (RSS) of `logs summarize`: {pre_mib} MiB → {full_mib} MiB log"), format!("{} → {}", mib(rss_ours_prefix), mib(rss_ours)))
        .peer("pflogsumm (RSS)", format!("{} on {pre_mib} MiB", mib(rss_pfl)))
        .target("independent of the log's size (+10 % or +2 MiB)", rss_ours <= rss_ours_prefix * 11 / 10 + 2048)
        .print();
}
