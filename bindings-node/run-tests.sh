#!/usr/bin/env bash
# Builds and tests the Node binding against the real test stack: npm ci (whose
# install script builds the addon with cargo), the generated-files check, tsc of
# the usage example, then node --test. Brings the stack up if it is not (idempotent).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/stack/on-error.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

bash "$repo/tests/stack/stack.sh" up
bash "$repo/tests/stack/write-project.sh" >/dev/null
# The CLI whose JSON, list and schema the tests compare with.
cargo build --manifest-path "$repo/Cargo.toml" -p mssante-diag-cli

cd "$here"
npm ci --no-audit --no-fund --foreground-scripts
npm run check-types
npm run typecheck
npm test
