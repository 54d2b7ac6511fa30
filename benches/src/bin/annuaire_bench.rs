//! `annuaire.mailboxes`' reconciliation of 50,000 local mailboxes against 50,000 published BALs
//! (issue #15: "takes under 2 s after the fetch; a benchmark prints it"). No peer tool
//! reconciles FHIR BALs; the nearest by hand is `sort` + `comm` on the two address lists
//! (addresses only: no types, no unlisted flag), timed on the same lists for scale.
//!
//! The lists: 50,000 local mailboxes, 47,000 of them published (1,000 with another type, 2,000
//! unlisted), plus 3,000 published BALs with no local mailbox, in a shuffled order. Each round
//! times [`reconcile`] (after a warm-up), then the pipeline; the median of five is printed.
//!
//! Run: `cargo build --release -p mssante-diag-benches --bin annuaire_bench && target/release/annuaire_bench`
//! (no stack needed).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use mssante_diag_benches::{faster, Row};
use mssante_diag_core::annuaire::Bal;
use mssante_diag_core::checks::annuaire::{reconcile, LocalMailbox};

const N: usize = 50_000;
const ROUNDS: usize = 5;
const TARGET_SECS: f64 = 2.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // A fixed permutation (multiplicative, coprime with N) so both sides are in different orders.
    let shuffled = |i: usize| (i * 7919 + 13) % N;
    let types = ["PER", "ORG", "APP", "CAB"];
    let local: Vec<LocalMailbox> = (0..N)
        .map(|i| LocalMailbox {
            address: format!("user{}@mssante.test", shuffled(i)),
            bal_type: Some(types[shuffled(i) % 4].to_owned()),
        })
        .collect();
    let mut published: Vec<Bal> = (0..N)
        .filter_map(|i| {
            let k = (i * 104_729 + 7) % N;
            if k < 3000 {
                return None; // missing from the Annuaire
            }
            let ty = if k % 50 == 0 {
                types[(k + 1) % 4]
            } else {
                types[k % 4]
            };
            Some(Bal {
                address: format!("user{k}@mssante.test"),
                bal_type: Some(ty.to_owned()),
                unlisted: k % 25 == 1,
                resource: "Practitioner",
            })
        })
        .collect();
    published.extend((0..3000).map(|k| Bal {
        address: format!("extra{k}@mssante.test"),
        bal_type: Some("PER".into()),
        unlisted: false,
        resource: "Organization",
    }));

    let r = reconcile(&local, &published, true);
    println!(
        "lists: {} local, {} published; found {} missing, {} extra, {} mismatched, {} unlisted ({} unlisted mismatched)",
        r.local,
        r.published,
        r.missing.len(),
        r.extra.len(),
        r.mismatched.len(),
        r.unlisted.published,
        r.unlisted.mismatched
    );
    let ours = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let r = reconcile(&local, &published, true);
                std::hint::black_box(&r);
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );

    let dir = std::env::temp_dir().join("mssante-diag-bench-annuaire");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let write = |name: &str, lines: &mut dyn Iterator<Item = &str>| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name)).expect("create"));
        for l in lines {
            writeln!(f, "{l}").expect("write");
        }
    };
    write("local.txt", &mut local.iter().map(|m| m.address.as_str()));
    write(
        "published.txt",
        &mut published.iter().map(|b| b.address.as_str()),
    );
    let pipeline = "export LC_ALL=C; sort local.txt >l.s && sort published.txt >p.s && comm -3 l.s p.s | wc -l >/dev/null";
    let peer = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let ok = Command::new("bash")
                    .arg("-c")
                    .arg(pipeline)
                    .current_dir(&dir)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "sort/comm pipeline failed");
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!("reconcile (types, unlisted, sorted lists): {:.1} ms (median of {ROUNDS}; target < {TARGET_SECS} s)", ours * 1000.0);
    println!(
        "sort + comm -3 (addresses only, LC_ALL=C): {:.1} ms",
        peer * 1000.0
    );
    println!("ratio: {:.1}x the pipeline's speed", peer / ours);
    println!("{}", if ours < TARGET_SECS { "PASS" } else { "FAIL" });
    Row::new("annuaire", &format!("reconcile {N} local mailboxes with {} published BALs (types, unlisted), median of {ROUNDS}", published.len()), format!("{:.1} ms", ours * 1000.0))
        .peer("sort + comm -3 (addresses only)", format!("{:.1} ms", peer * 1000.0))
        .ratio(faster(ours, peer))
        .target(format!("< {TARGET_SECS} s"), ours < TARGET_SECS)
        .print();
}
