#!/usr/bin/env bash
# [postgres.reserved] of the test project: the stack's superuser, used by the postgres.*
# checks only when the server refuses the platform's role with "too many clients".
# Test-only password, inline. Usage: postgres.sh TOML_FILE (called by write-project.sh).
set -euo pipefail
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
cat >>"$1" <<TOML

[postgres.reserved]
user = "$PG_SUPERUSER"
password = "$PG_SUPERPASSWORD"
TOML
