//! The `maillog` fuzz target of `fuzz/` on the stable toolchain: the committed seed corpus
//! (`fuzz/corpus/maillog/`) and deterministic mutations of it (bit flips, inserted and
//! deleted bytes, truncations, lines spliced from another seed, repeated lines) fed to
//! [`super::exercise`]. `MSSANTE_FUZZ_ITERATIONS` sets the number of mutated inputs
//! (default 2 000); a panic saves the input under `target/`.

use crate::fuzz_corpus::{drive, mutate};

/// Tokens of Postfix and Dovecot lines.
const INTERESTING: &[&[u8]] = &[
    b"\n",
    b": ",
    b"[",
    b"]",
    b"<",
    b">",
    b"\xff",
    b"\x00",
    b"status=",
    b"removed",
    b"client=",
    b"(auth failed, ",
    b"NOQUEUE: reject: ",
    b" 1 ",
];

#[test]
fn maillog_fuzz_corpus_and_mutations_never_panic() {
    drive("maillog", &super::exercise, 4, 2_000, |v, rng, other| {
        for _ in 0..=rng.below(6) {
            mutate(v, rng, other, INTERESTING);
        }
    });
}
