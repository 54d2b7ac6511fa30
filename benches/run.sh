#!/usr/bin/env bash
# Runs every benchmark of the project and writes the table benches/README.md: ours beside the
# peer tool measured in the same run, the ratio, the target, and the machine.
#
# Usage: bash benches/run.sh [--quick]
#   --quick   smaller inputs (64 MiB log, 100,000 files, 256 MiB archive, 100 domains, a 90 s
#             soak): a few minutes, for trying it. The committed table comes from full sizes
#             (1 GiB log, 1 million files, 2 GiB archive, 1,000 domains, a 10 min soak: about
#             half an hour, plus the inputs' generation on the first run).
#
# It builds the release binaries once, brings the test stack up (tests/stack/stack.sh up, which
# installs the peer tools: pflogsumm, nsd, ...; checkdmarc goes into target/checkdmarc-venv),
# runs each benchmark (its human output on the terminal and in /tmp/mssante-diag-bench/logs/),
# gathers the RESULT lines they print (benches/src/lib.rs) and renders them with bench_table.
# The soak runs last: it stops and starts shared services of the stack, so nothing else should
# use the stack meanwhile. A benchmark that fails is named under the table; the command then
# exits 1, after writing the table.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=""
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) sed -n '2,/^set -Eeuo/p' "$0" | sed -e '/^set -Eeuo/d' -e 's/^# \{0,1\}//'; exit 2 ;;
esac
if [[ -n "$quick" ]]; then export MSSANTE_BENCH_QUICK=1; else unset MSSANTE_BENCH_QUICK; fi

BENCHES=(quick_bench postgres_bench docker_bench imap_bench annuaire_bench storage_bench backup_bench maillog_bench dns_bench soak)
logs=/tmp/mssante-diag-bench/logs
mkdir -p "$logs"
results="$logs/results.tsv"
: >"$results"

echo "== build (release)"
cargo build --release --locked -p mssante-diag-cli -p mssante-diag-benches
echo "== test stack"
bash tests/stack/stack.sh up
bash tests/stack/write-project.sh >/dev/null

failed=()
for b in "${BENCHES[@]}"; do
  echo "== $b"
  started=$SECONDS
  if "target/release/$b" 2>&1 | tee "$logs/$b.log"; then :; else failed+=("$b"); fi
  grep -a $'^RESULT\t' "$logs/$b.log" >>"$results" || true
  echo "   ($b: $((SECONDS - started)) s)"
done

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] || commit="$commit (with uncommitted changes)"
args=(--commit "$commit" --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --command "bash benches/run.sh${quick:+ --quick}")
[[ -z "$quick" ]] || args+=(--quick)
for b in "${failed[@]}"; do args+=(--failed "$b"); done
target/release/bench_table "${args[@]}" <"$results" >benches/README.md.tmp
mv benches/README.md.tmp benches/README.md
echo "== benches/README.md written ($(grep -c $'^RESULT\t' "$results") rows)"
if ((${#failed[@]})); then
  echo "benches/run.sh: failed: ${failed[*]} (see $logs/)" >&2
  exit 1
fi
