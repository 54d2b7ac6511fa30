#!/usr/bin/env bash
# Bounded fuzzing of every parser of outside input, SECONDS shared between the targets:
#   tests/fuzz.sh [SECONDS]        default 60 (tests/run-all.sh gives 30)
# Targets (fuzz/fuzz_targets/, each seeded by its committed corpus fuzz/corpus/<target>/):
# load_certificates (PEM/DER certificates and keys), maillog (mail log lines), mailqueue
# (postqueue -j / -p), env (.env), spf, dmarc, dkim (records and key files), jwt, oidc
# (discovery and JWKS JSON), whitelist (trust space XML), fhir (Annuaire Santé JSON).
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`): ONE `cargo fuzz build`
# of all targets, then each libFuzzer binary for its share of SECONDS (at least 2 s); new
# inputs go to a scratch folder, not into the repository; a crash is saved under
# fuzz/artifacts/<target>/ and fails the script.
# Without them: the same code on stable, as the bounded mutation tests of mssante-diag-core
# (corpus + MSSANTE_FUZZ_ITERATIONS deterministic mutations), sized to SECONDS.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack/on-error.sh"
cd "$(dirname "$0")/.."
secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }

targets=(load_certificates maillog mailqueue env spf dmarc dkim jwt oidc whitelist fhir)
# Inputs longer than this are cut: the mail log summary reads by chunks, so it gets more.
max_len() { [[ "$1" == maillog ]] && echo 262144 || echo 65536; }

# cargo-fuzz itself comes from crates.io when the machine has nightly but not the tool.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked --quiet cargo-fuzz --version 0.13.2
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo +nightly fuzz --version >/dev/null 2>&1; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  # A fixed seed by default, so a CI run is reproducible; MSSANTE_FUZZ_SEED=0 draws one.
  seed="${MSSANTE_FUZZ_SEED:-1}"
  # libFuzzer overruns -max_total_time by about a second: floor, not ceiling.
  share=$(( secs / ${#targets[@]} ))
  (( share >= 2 )) || share=2
  echo "== cargo fuzz build (all ${#targets[@]} targets, once)"
  (cd fuzz && cargo +nightly fuzz build -O)
  bin="fuzz/target/x86_64-unknown-linux-gnu/release"
  for t in "${targets[@]}"; do
    echo "== libFuzzer: $t for ${share}s"
    mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
    "$bin/$t" "$scratch/$t" "fuzz/corpus/$t" -artifact_prefix="fuzz/artifacts/$t/" \
      -seed="$seed" -max_total_time="$share" -max_len="$(max_len "$t")" -rss_limit_mb=1024 -timeout=10 -print_final_stats=0 2>"$scratch/$t.log" \
      || { tail -40 "$scratch/$t.log" >&2; echo "fuzz target $t failed: see fuzz/artifacts/$t/" >&2; exit 1; }
    grep -E '^Done [0-9]+ runs' "$scratch/$t.log" | tail -1 || true
  done
else
  echo "== no nightly/cargo-fuzz: the stable mutation tests, about ${secs}s"
  MSSANTE_FUZZ_ITERATIONS=$((secs * 7000 / 3)) cargo test --locked -p mssante-diag-core tls::fuzz_corpus -- --nocapture
  MSSANTE_FUZZ_ITERATIONS=$((secs * 2000 / 3)) cargo test --locked -p mssante-diag-core maillog::fuzz_corpus -- --nocapture
  MSSANTE_FUZZ_ITERATIONS=$((secs * 300 / 3)) cargo test --locked -p mssante-diag-core --lib fuzz_corpus::parser -- --nocapture
fi
