//! The `maillog` fuzz target of `fuzz/` on the stable toolchain: the committed seed corpus
//! (`fuzz/corpus/maillog/`) and deterministic mutations of it (bit flips, inserted and
//! deleted bytes, truncations, lines spliced from another seed, repeated lines) fed to
//! [`super::exercise`]. `MSSANTE_FUZZ_ITERATIONS` sets the number of mutated inputs
//! (default 2 000); a panic saves the input under `target/`.

use std::path::Path;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

const INTERESTING: &[&[u8]] = &[b"\n", b": ", b"[", b"]", b"<", b">", b"\xff", b"\x00", b"status=", b"removed", b"client=", b"(auth failed, ", b"NOQUEUE: reject: ", b" 1 "];

fn mutate(v: &mut Vec<u8>, rng: &mut Rng, other: &[u8]) {
    let len = v.len();
    match rng.below(7) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len + 1);
            let w = INTERESTING[rng.below(INTERESTING.len())];
            v.splice(i..i, w.iter().copied());
        }
        2 if len > 1 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(32));
            v.drain(i..i + n);
        }
        3 => v.truncate(rng.below(len + 1)),
        4 if !other.is_empty() => {
            let from = rng.below(other.len());
            let n = rng.below(other.len() - from + 1);
            let at = rng.below(len + 1);
            v.splice(at..at, other[from..from + n].iter().copied());
        }
        5 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(200));
            let chunk = v[i..i + n].to_vec();
            for _ in 0..1 + rng.below(8) {
                v.splice(i..i, chunk.iter().copied());
            }
        }
        _ => {
            let i = rng.below(len + 1);
            let n = rng.below(64);
            let bytes: Vec<u8> = (0..n).map(|_| u8::try_from(rng.next() & 0xff).unwrap_or(0)).collect();
            v.splice(i..i, bytes);
        }
    }
}

fn run(input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| super::exercise(input)).is_err() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-maillog-crash.bin");
        let _ = std::fs::write(&out, input);
        panic!("maillog panicked on {what}; input saved to {}", out.display());
    }
}

#[test]
fn maillog_fuzz_corpus_and_mutations_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/maillog");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("the seed corpus is committed")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("seed readable")))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 4, "seed corpus: {} files", seeds.len());
    for (p, b) in &seeds {
        run(b, p);
    }
    let n: usize = std::env::var("MSSANTE_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..n {
        let (p, seed) = &seeds[i % seeds.len()];
        let other = seeds[rng.below(seeds.len())].1.clone();
        let mut input = seed.clone();
        for _ in 0..=rng.below(6) {
            mutate(&mut input, &mut rng, &other);
        }
        run(&input, &format!("{p} mutation {i}"));
    }
}
