#!/usr/bin/env bash
# Installs and starts everything the tests need, then runs every test of the
# workspace: Rust (unit, integration, CLI), the Python binding, the Node binding, the packages.
# This is the README's test command, and what CI runs.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack/on-error.sh"
cd "$(dirname "$0")/.."
export MSSANTE_STACK_DIR="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"

echo "== test stack (install + start on 127.0.77.1)"
bash tests/stack/stack.sh up
bash tests/stack/write-project.sh >/dev/null
bash tests/stack/selftest.sh
# Every test's scratch folder lives on the stack's own filesystem, so what a healthy
# test measures (disk and inode usage of a temporary project) never depends on how
# full the host's /tmp is.
export TMPDIR="$MSSANTE_STACK_DIR/scratch"
mkdir -p "$TMPDIR" && chmod 1777 "$TMPDIR"

echo "== Rust tests"
# Fault tests stop shared services: they take the suite's write lock (tests/support),
# so they never run beside a test that needs the stack healthy.
cargo test --locked 2>&1

echo "== serve soak (60 s; ~95 s with its warm-up and quiet samples)"
# After the Rust tests, alone on the stack: it stops and starts Redis, Dovecot, Postfix and
# nginx on a timer while /metrics is scraped every 100 ms (benches/src/bin/soak.rs; the
# 10-minute run is in `bash benches/run.sh`).
cargo build --locked -p mssante-diag-benches --bin soak 2>&1
target/debug/soak --secs 60 --cli target/debug/mssante-diag

echo "== fuzzing (bounded)"
bash tests/fuzz.sh 30

for binding in bindings-python bindings-node; do
  # A binding without its test script is a broken checkout, not a binding to skip.
  [ -x "$binding/run-tests.sh" ] || { echo "run-all.sh: ERROR: $binding/run-tests.sh is missing or not executable" >&2; exit 1; }
  echo "== $binding"
  bash "$binding/run-tests.sh"
done

echo "== packages (.deb, tarball, wheel, npm tarball: built from the debug builds above, installed, run)"
bash tests/packaging.sh
echo "== all tests passed"
