//! `backup.integrity` on a 2 GiB tar.gz (issue: "reading a 2 GiB archive stops at the time
//! bound and reports progress; memory stays flat"), beside the peer tools `gzip -t` and
//! `tar -tzf` reading the same file:
//! 1. with a short bound (2 s): elapsed, progress reported, peak RSS of the CLI;
//! 2. with a bound long enough to read it all: elapsed and throughput, peak RSS.
//!
//! The archive (one tar of 2.25 GiB of data, 7/8 pseudo-random, 1/8 text, gzip level 1) is
//! made once in /tmp/mssante-diag-bench/ and kept for the next runs.
//!
//! `MSSANTE_BENCH_QUICK=1` (`benches/run.sh --quick`): 256 MiB of data.
//!
//! Run: `cargo build --release -p mssante-diag-cli -p mssante-diag-benches &&
//! target/release/backup_bench` (no stack needed).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mssante_diag_benches::{mib, Row};
use mssante_diag_tests::run_measuring_memory;

const MIB: u64 = 1 << 20;
/// Data in the tar: 2.25 GiB, so the compressed archive is about 2 GiB (`--quick`: 256 MiB).
fn raw() -> u64 {
    if mssante_diag_benches::quick() {
        256 * MIB
    } else {
        2304 * MIB
    }
}
const SHORT_BOUND: f64 = 2.0;

/// 7/8 xorshift bytes, 1/8 SQL-like text: incompressible-ish, as a data backup is.
struct Data {
    state: u64,
    left: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Data {
    fn refill(&mut self) {
        self.block.clear();
        for _ in 0..(7 * 1024 * 1024 / 8 / 8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.block.extend_from_slice(&self.state.to_le_bytes());
        }
        while self.block.len() < MIB as usize {
            self.block.extend_from_slice(b"INSERT INTO audit_logs (action) VALUES ('login');\n");
        }
        self.block.truncate(MIB as usize);
        self.pos = 0;
    }
}

impl Read for Data {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.pos == self.block.len() {
            self.refill();
        }
        #[allow(clippy::cast_possible_truncation)]
        let n = buf.len().min(self.block.len() - self.pos).min(self.left as usize);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        self.left -= n as u64;
        Ok(n)
    }
}

fn make_archive(path: &Path) {
    if path.metadata().is_ok_and(|m| m.len() > raw() / 2) {
        return;
    }
    eprintln!("making {} (once)...", path.display());
    let start = Instant::now();
    let tmp = path.with_extension("partial");
    let file = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create archive"));
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(raw());
    header.set_mode(0o644);
    header.set_cksum();
    let data = Data { state: 0x9E37_79B9_7F4A_7C15, left: raw(), block: Vec::new(), pos: 0 };
    tar.append_data(&mut header, "data/mail/blob.bin", data).expect("append");
    let mut out = tar.into_inner().expect("tar").finish().expect("gzip");
    out.flush().expect("flush");
    drop(out);
    std::fs::rename(&tmp, path).expect("rename");
    eprintln!("made in {:.1} s", start.elapsed().as_secs_f64());
}

fn cli() -> PathBuf {
    let bin = std::env::current_exe().expect("exe").with_file_name("mssante-diag");
    assert!(bin.exists(), "build the CLI beside this benchmark: cargo build --release -p mssante-diag-cli");
    bin
}

/// Runs `check backup.integrity` with a bound; returns (seconds, summary, read bytes, peak RSS KiB).
fn ours(dir: &Path, bound: f64) -> (f64, String, u64, u64) {
    let toml = dir.join(format!("bound-{bound}.toml"));
    // The bound is capped at 8 timeouts: give the timeout room for the long read.
    let timeout = (bound / 8.0).max(5.0);
    std::fs::write(&toml, format!("timeout_secs = {timeout}\n[backup]\npaths = [\"{}\"]\nintegrity_max_secs = {bound}\n", dir.join("archives").display()))
        .expect("config");
    let mut cmd = Command::new(cli());
    cmd.arg("--project").arg(dir).arg("--config").arg(&toml).args(["--lang", "en", "check", "backup.integrity", "--format", "json"]);
    let start = Instant::now();
    let (out, peak) = run_measuring_memory(cmd);
    let secs = start.elapsed().as_secs_f64();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let check = &doc["checks"][0];
    let read = check["details"]["archives"][0]["read_bytes"].as_u64().unwrap_or(0);
    (secs, format!("{}: {}", check["status"], check["summary"].as_str().unwrap_or_default()), read, peak)
}

fn peer(program: &str, args: &[&str], file: &Path) -> f64 {
    let start = Instant::now();
    let status = Command::new(program).args(args).arg(file).stdout(std::process::Stdio::null()).status().expect("peer runs");
    assert!(status.success(), "{program} failed");
    start.elapsed().as_secs_f64()
}

#[allow(clippy::cast_precision_loss)]
fn main() {
    let dir = PathBuf::from(format!("/tmp/mssante-diag-bench/backup-{}m", raw() / MIB));
    std::fs::create_dir_all(dir.join("archives")).expect("bench folder");
    let archive = dir.join("archives/data-1.tar.gz");
    make_archive(&archive);
    let size = archive.metadata().expect("archive").len();
    println!("archive: {} ({:.2} GiB, {:.2} GiB of data)", archive.display(), size as f64 / (1u64 << 30) as f64, raw() as f64 / (1u64 << 30) as f64);
    println!();
    let (secs, summary, read, peak) = ours(&dir, SHORT_BOUND);
    println!("mssante-diag, bound {SHORT_BOUND} s : {secs:6.2} s wall, read {} MiB of {} MiB, peak RSS {:.1} MiB", read / MIB, size / MIB, peak as f64 / 1024.0);
    println!("  {summary}");
    let gib = size as f64 / (1u64 << 30) as f64;
    // The bound, plus the process's start and the report (half a second).
    Row::new("backup", &format!("backup.integrity on a {gib:.2} GiB tar.gz with a {SHORT_BOUND} s bound: wall time, read when stopped"), format!("{secs:.2} s, {} MiB read", read / MIB))
        .target(format!("stops at the bound (<= {:.1} s), progress reported", SHORT_BOUND + 0.5), secs <= SHORT_BOUND + 0.5 && read > 0 && read < size)
        .print();
    let short_peak = peak;
    let (secs, summary, read, peak) = ours(&dir, 600.0);
    println!(
        "mssante-diag, whole   : {secs:6.2} s wall, {:7.1} MiB/s, read {} MiB, peak RSS {:.1} MiB",
        size as f64 / MIB as f64 / secs,
        read / MIB,
        peak as f64 / 1024.0
    );
    println!("  {summary}");
    let gz = peer("gzip", &["-t"], &archive);
    println!("gzip -t               : {gz:6.2} s wall, {:7.1} MiB/s", size as f64 / MIB as f64 / gz);
    let t = peer("tar", &["-tzf"], &archive);
    println!("tar -tzf              : {t:6.2} s wall, {:7.1} MiB/s", size as f64 / MIB as f64 / t);
    let speed = |s: f64| format!("{:.0} MiB/s", size as f64 / MIB as f64 / s);
    for (name, theirs) in [("gzip -t", gz), ("tar -tzf", t)] {
        Row::new("backup", &format!("backup.integrity reading the whole {gib:.2} GiB tar.gz: throughput"), speed(secs))
            .peer(name, speed(theirs))
            .ratio(mssante_diag_benches::faster(secs, theirs))
            .print();
    }
    Row::new("backup", &format!("peak memory (RSS) of `check backup.integrity`: {SHORT_BOUND} s bound → whole archive"), format!("{} → {}", mib(short_peak), mib(peak)))
        .target("flat (+10 % or +2 MiB)", peak <= short_peak * 11 / 10 + 2048)
        .print();
}
