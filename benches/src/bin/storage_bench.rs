//! `storage.usage` on a tree of 1 million small files (issue #14: "finishes in under 5 s;
//! the benchmark prints it beside `du -s` on the same tree").
//!
//! The tree (a platform folder: `data/mail/<1000 mailboxes>/cur/<1000 messages>`, 100 bytes
//! each, plus `data/logs` with old logs and a `backup` folder with dumps) is made once in
//! /tmp/mssante-diag-bench/storage/ and kept for the next runs. Each round times the
//! `storage.usage` check (through the runner, as the CLI runs it) and `du -s` on the same
//! folders; after one warm-up of each, three rounds, the median printed.
//!
//! `MSSANTE_BENCH_QUICK=1` (`benches/run.sh --quick`): 100,000 files.
//!
//! Run: `cargo build --release -p mssante-diag-benches && target/release/storage_bench`
//! (no stack needed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mssante_diag_benches::{secs, Row};
use mssante_diag_core::{Config, Selection, Status};

const MESSAGES: usize = 1000;

/// Mailboxes of the tree: 1,000 (1 million files); 100 with `--quick`.
fn mailboxes() -> usize {
    if mssante_diag_benches::quick() {
        100
    } else {
        1000
    }
}
const ROUNDS: usize = 3;
const TARGET_SECS: f64 = 5.0;

fn root() -> PathBuf {
    if mssante_diag_benches::quick() {
        PathBuf::from("/tmp/mssante-diag-bench/storage-100k")
    } else {
        PathBuf::from("/tmp/mssante-diag-bench/storage")
    }
}

/// Builds the tree once (a `.complete` marker says it is whole).
fn tree() -> PathBuf {
    let p = root();
    if p.join(".complete").exists() {
        return p;
    }
    let _ = std::fs::remove_dir_all(&p);
    eprintln!(
        "building {} ({} files, once)...",
        p.display(),
        mailboxes() * MESSAGES
    );
    let started = Instant::now();
    let body = [b'm'; 100];
    std::thread::scope(|s| {
        for part in 0..8 {
            let p = &p;
            s.spawn(move || {
                for mb in (part..mailboxes()).step_by(8) {
                    let dir = p.join(format!("data/mail/user{mb:04}/cur"));
                    std::fs::create_dir_all(&dir).expect("mkdir");
                    for m in 0..MESSAGES {
                        let mut f =
                            std::fs::File::create(dir.join(format!("{m}.M{mb}P1.mssante:2,S")))
                                .expect("create");
                        f.write_all(&body).expect("write");
                    }
                }
            });
        }
    });
    std::fs::create_dir_all(p.join("data/logs")).expect("mkdir");
    std::fs::create_dir_all(p.join("backup")).expect("mkdir");
    for d in 0..60 {
        let log = p.join(format!("data/logs/api-{d:02}.log"));
        std::fs::write(&log, vec![b'l'; 64 * 1024]).expect("log");
        let f = std::fs::File::options()
            .write(true)
            .open(&log)
            .expect("open");
        f.set_modified(SystemTime::now() - Duration::from_secs(d * 86_400))
            .expect("mtime");
    }
    std::fs::write(p.join("backup/mssante-20261101.sql"), vec![b's'; 1 << 20]).expect("dump");
    std::fs::write(
        p.join("mssante-diag.toml"),
        "timeout_secs = 30.0\n[storage]\nsmart = false\nbackup_dirs = [\"backup\"]\n",
    )
    .expect("toml");
    std::fs::write(p.join(".complete"), b"").expect("marker");
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    p
}

fn usage_check(p: &Path) -> (f64, String, bool) {
    let config = Arc::new(Config::load(p, None).expect("bench config"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let report = rt
        .block_on(mssante_diag_core::run(
            config,
            &Selection::Only(vec!["storage.usage".into()]),
        ))
        .expect("run");
    let secs = started.elapsed().as_secs_f64();
    let c = report.check("storage.usage").expect("ran");
    let partial = c.details["partial"].as_bool().unwrap_or(true);
    assert!(
        matches!(c.status, Status::Ok | Status::Warning),
        "{}",
        c.summary
    );
    (secs, c.summary.clone(), partial)
}

fn du(p: &Path) -> (f64, String) {
    let started = Instant::now();
    let out = Command::new("du")
        .arg("-s")
        .arg(p.join("data"))
        .arg(p.join("backup"))
        .output()
        .expect("du runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "du: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        secs,
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let p = tree();
    // Warm-up: the first walk of a tree reads its inodes from disk; both tools get one.
    let _ = du(&p);
    let _ = usage_check(&p);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut summary, mut kib, mut partial) = (String::new(), String::new(), false);
    for _ in 0..ROUNDS {
        let (s, text, part) = usage_check(&p);
        ours.push(s);
        summary = text;
        partial |= part;
        let (s, k) = du(&p);
        theirs.push(s);
        kib = k;
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "storage.usage on {} files ({cpus} CPUs), median of {ROUNDS} warm runs:",
        mailboxes() * MESSAGES
    );
    println!("  storage.usage   {ours:>7.2} s   {summary}");
    println!("  du -s           {theirs:>7.2} s   ({kib} KiB for data/)");
    Row::new("storage", &format!("storage.usage on {} files (a platform folder), median of {ROUNDS} warm runs", mailboxes() * MESSAGES), secs(ours))
        .peer("du -s, same folders", secs(theirs))
        .ratio(mssante_diag_benches::faster(ours, theirs))
        .target(format!("< {TARGET_SECS} s, whole tree"), ours < TARGET_SECS && !partial)
        .print();
    println!(
        "  ratio           {:>7.2}x du's time; target < {TARGET_SECS} s: {}",
        ours / theirs,
        if ours < TARGET_SECS && !partial {
            "met"
        } else {
            "NOT met"
        }
    );
}
