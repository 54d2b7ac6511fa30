#!/usr/bin/env bash
# Builds the wheel in a fresh virtualenv, installs it, and runs mypy (over the tests and
# examples, with the shipped stubs) and pytest against the real test stack.
# Usage: bash bindings-python/run-tests.sh [PYTEST ARGS...]
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/stack/on-error.sh"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET/python-venv"
WHEELS="$TARGET/python-wheels"
PIP=("$VENV/bin/pip" --quiet --disable-pip-version-check)

echo "== fresh virtualenv in $VENV"
rm -rf "$VENV" "$WHEELS"
python3 -m venv "$VENV"
"${PIP[@]}" install maturin==1.16.0 pytest==9.2.0 mypy==2.4.1 ansible-core==2.19.14

echo "== building the CLI (the JSON comparison runs it) and the wheel"
(cd "$ROOT" && cargo build --quiet -p mssante-diag-cli)
# The dev profile keeps CI time down; the wheel is abi3 all the same (cp39-abi3).
(cd "$HERE" && "$VENV/bin/maturin" build --quiet --profile dev --strip --out "$WHEELS")
"${PIP[@]}" install --no-index "$WHEELS"/mssante_diag-*-abi3-*.whl

echo "== test stack"
bash "$ROOT/tests/stack/stack.sh" up >/dev/null

cd "$HERE"
echo "== mypy"
"$VENV/bin/mypy" --cache-dir "$TARGET/mypy-cache" tests examples stubgen.py
echo "== pytest"
MSSANTE_DIAG_CLI="$TARGET/debug/mssante-diag" "$VENV/bin/pytest" -p no:cacheprovider -v "$@"
