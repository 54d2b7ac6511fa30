#!/usr/bin/env bash
# Bounded fuzzing of the certificate and key loading code (the tls.* checks' loaders) and of
# the mail log summary (maillog), SECONDS shared between the two targets:
#   tests/fuzz.sh [SECONDS]        default 60
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`): libFuzzer on
# fuzz/fuzz_targets/load_certificates.rs for SECONDS, seeded by the committed corpus
# fuzz/corpus/load_certificates (new inputs go to a scratch folder, not into the repository;
# a crash is saved under fuzz/artifacts/ and fails the script).
# Without them: the same code on stable, as the bounded mutation test of mssante-diag-core
# (corpus + MSSANTE_FUZZ_ITERATIONS deterministic mutations, about 7,000 per second in a
# debug build), sized to SECONDS.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack/on-error.sh"
cd "$(dirname "$0")/.."
secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }

# cargo-fuzz itself comes from crates.io when the machine has nightly but not the tool.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked --quiet cargo-fuzz --version 0.13.2
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo +nightly fuzz --version >/dev/null 2>&1; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  half=$(( (secs + 1) / 2 ))
  echo "== libFuzzer: load_certificates for ${half}s"
  cd fuzz
  cargo +nightly fuzz run load_certificates "$scratch" corpus/load_certificates -- \
    -max_total_time="$half" -max_len=65536 -rss_limit_mb=1024 -timeout=10
  mkdir -p "$scratch/maillog"
  echo "== libFuzzer: maillog for $((secs - half))s"
  cargo +nightly fuzz run maillog "$scratch/maillog" corpus/maillog -- \
    -max_total_time="$((secs - half > 0 ? secs - half : 1))" -max_len=262144 -rss_limit_mb=1024 -timeout=10
else
  echo "== no nightly/cargo-fuzz: the stable mutation tests, about ${secs}s"
  MSSANTE_FUZZ_ITERATIONS=$((secs * 7000 / 2)) cargo test --locked -p mssante-diag-core tls::fuzz_corpus -- --nocapture
  MSSANTE_FUZZ_ITERATIONS=$((secs * 2000 / 2)) cargo test --locked -p mssante-diag-core maillog::fuzz_corpus -- --nocapture
fi
