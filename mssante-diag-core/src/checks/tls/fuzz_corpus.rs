//! The fuzz target of `fuzz/` on the stable toolchain: the committed seed corpus
//! (`fuzz/corpus/load_certificates/`) and deterministic mutations of it (bit flips, byte
//! insertions and deletions, truncations, splices, ASN.1 length edits, and the same on the DER
//! inside a PEM block so that the X.509 parser sees them) fed to [`super::load::exercise`].
//! A panic names the seed and iteration and saves the input under `target/`.
//! `MSSANTE_FUZZ_ITERATIONS` sets the number of mutated inputs (default 10 000).


use base64::Engine;

use super::load::exercise;
use crate::fuzz_corpus::{drive, Rng};

const INTERESTING: [u8; 9] = [0x00, 0xff, 0x7f, 0x80, 0x30, 0x82, 0x81, 0x84, 0x06];

fn mutate_bytes(v: &mut Vec<u8>, rng: &mut Rng, other: &[u8]) {
    let len = v.len();
    match rng.below(8) {
        0 if len > 0 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
        }
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            v.splice(i..i, bytes);
        }
        3 if len > 1 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            v.drain(i..i + n);
        }
        4 => v.truncate(rng.below(len + 1)),
        5 if len > 1 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(256));
            let chunk = v[i..i + n].to_vec();
            for _ in 0..1 + rng.below(4) {
                v.splice(i..i, chunk.iter().copied());
            }
        }
        6 if !other.is_empty() => {
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            v.truncate(cut);
            v.extend_from_slice(&other[from..]);
        }
        _ => {
            // An ASN.1 length: the byte after a SEQUENCE or OCTET STRING tag.
            let tags: Vec<usize> = v
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == 0x30 || **b == 0x04 || **b == 0x03)
                .map(|(i, _)| i + 1)
                .filter(|i| *i < len)
                .collect();
            if !tags.is_empty() {
                let i = tags[rng.below(tags.len())];
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
        }
    }
}

/// The DER of the first PEM block, mutated, put back in PEM (base64 stays valid).
fn mutate_inside_pem(v: &[u8], rng: &mut Rng, other: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(v).ok()?;
    let begin = text.find("-----BEGIN ")?;
    let body_start = begin + text[begin..].find('\n')? + 1;
    let body_end = body_start + text[body_start..].find("-----END ")?;
    let b64: String = text[body_start..body_end].split_whitespace().collect();
    let mut der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    for _ in 0..=rng.below(3) {
        mutate_bytes(&mut der, rng, other);
    }
    let enc = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = enc
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Some(
        format!(
            "{}{}\n{}",
            &text[..body_start],
            lines.join("\n"),
            &text[body_end..]
        )
        .into_bytes(),
    )
}

#[test]
fn fuzz_corpus_and_mutations_never_panic() {
    drive("load_certificates", &exercise, 5, 10_000, |input, rng, other| {
        if rng.below(2) == 0 {
            if let Some(m) = mutate_inside_pem(input, rng, other) {
                *input = m;
            }
        }
        for _ in 0..=rng.below(3) {
            mutate_bytes(input, rng, other);
        }
    });
}
