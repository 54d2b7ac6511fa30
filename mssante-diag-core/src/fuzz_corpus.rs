//! The parser fuzz targets of `fuzz/` (every parser of outside input but the certificate
//! loaders and the mail log, which have their own) on the stable toolchain: each committed seed
//! corpus `fuzz/corpus/<target>/` and deterministic mutations of it (bit flips, inserted
//! structure bytes, deletions, truncations, splices, repeats, random bytes) fed to the target's
//! `exercise` function. `MSSANTE_FUZZ_ITERATIONS` sets the mutated inputs per target (default
//! 1 000); a panic saves the input under `target/fuzz-<target>-crash.bin`.

use std::path::Path;

/// A target's `exercise` function.
type Exercise = fn(&[u8]);

/// Each target: its corpus folder (= the `fuzz/` target name) and the function it drives.
const TARGETS: &[(&str, Exercise)] = &[
    ("mailqueue", crate::mailqueue::exercise),
    ("env", crate::config::EnvFile::exercise),
    ("spf", crate::checks::dns::spf::exercise),
    ("dmarc", crate::checks::dns::dmarc::exercise),
    ("dkim", crate::checks::dns::dkim::exercise),
    ("jwt", crate::checks::auth::jwt::exercise),
    ("oidc", crate::checks::auth::psc::exercise),
    ("whitelist", crate::checks::mssante::whitelist::exercise),
    ("fhir", crate::annuaire::exercise),
];

/// xorshift64*: deterministic, good enough to pick mutations.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// Bytes that matter to one of the formats (JSON, XML, tag lists, PEM, JWT, `.env`).
const INTERESTING: &[&[u8]] = &[
    b"\n",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b";",
    b"=",
    b".",
    b"/",
    b"<",
    b">",
    b"</",
    b"&",
    b"'",
    b"\\",
    b"$",
    b"#",
    b"%",
    b"\xff",
    b"\x00",
    b"\xc3\xa9",
    b"-----BEGIN ",
    b"-----END ",
    b"v=spf1 ",
    b"v=DMARC1;",
    b"p=",
    b"null",
    b"1e999",
    b"-1",
    b"99999999999999999999",
];

/// One mutation of `v`: a bit flip, an `interesting` token inserted, bytes deleted, a
/// truncation, a piece of `other` spliced in, a piece repeated, or random bytes inserted.
pub(crate) fn mutate(v: &mut Vec<u8>, rng: &mut Rng, other: &[u8], interesting: &[&[u8]]) {
    let len = v.len();
    match rng.below(7) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len + 1);
            v.splice(
                i..i,
                interesting[rng.below(interesting.len())].iter().copied(),
            );
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
            let n = 1 + rng.below((len - i).min(64));
            let chunk = v[i..i + n].to_vec();
            for _ in 0..1 + rng.below(8) {
                v.splice(i..i, chunk.iter().copied());
            }
        }
        _ => {
            let i = rng.below(len + 1);
            let bytes: Vec<u8> = (0..rng.below(32))
                .map(|_| u8::try_from(rng.next() & 0xff).unwrap_or(0))
                .collect();
            v.splice(i..i, bytes);
        }
    }
}

/// Runs `f` on `input`; a panic saves the input under `target/fuzz-<target>-crash.bin` and
/// fails the test naming `what`.
fn run(target: &str, f: &(dyn Fn(&[u8]) + std::panic::RefUnwindSafe), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/fuzz-{target}-crash.bin"));
        let _ = std::fs::write(&out, input);
        panic!(
            "{target} panicked on {what}; input saved to {}",
            out.display()
        );
    }
}

/// Feeds `f` every committed seed of `fuzz/corpus/<target>/` (at least `min_seeds`), then
/// `MSSANTE_FUZZ_ITERATIONS` (default `default_n`) inputs made of a seed and a few `mutate`
/// calls (given another seed to splice from).
pub(crate) fn drive(
    target: &str,
    f: &(dyn Fn(&[u8]) + std::panic::RefUnwindSafe),
    min_seeds: usize,
    default_n: usize,
    mut mutate: impl FnMut(&mut Vec<u8>, &mut Rng, &[u8]),
) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {} is committed: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).expect("seed readable"),
            )
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= min_seeds,
        "{target} seed corpus: {} files",
        seeds.len()
    );
    for (p, b) in &seeds {
        run(target, f, b, p);
    }
    let n: usize = std::env::var("MSSANTE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_n);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..n {
        let (p, seed) = &seeds[i % seeds.len()];
        let other = &seeds[rng.below(seeds.len())].1;
        let mut input = seed.clone();
        mutate(&mut input, &mut rng, other);
        run(target, f, &input, &format!("{p} mutation {i}"));
    }
}

#[test]
fn parser_fuzz_corpus_and_mutations_never_panic() {
    for (target, f) in TARGETS {
        drive(target, f, 3, 1_000, |v, rng, other| {
            for _ in 0..=rng.below(6) {
                mutate(v, rng, other, INTERESTING);
            }
        });
    }
}

/// Every target of `fuzz/Cargo.toml` but the two with their own stable test is listed here.
#[test]
fn every_fuzz_target_has_a_stable_run_and_a_corpus() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    for name in manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "mssante-diag-fuzz")
    {
        let here = TARGETS.iter().any(|(t, _)| *t == name)
            || ["load_certificates", "maillog"].contains(&name);
        assert!(here, "fuzz target {name} has no stable mutation run");
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus")
                .join(name)
                .is_dir(),
            "fuzz target {name} has no corpus"
        );
    }
}
