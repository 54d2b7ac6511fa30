#!/usr/bin/env bash
# Mail logs of the test project for postfix.log (zero-config: the mail logs under data/logs/):
# links to the stack's real Postfix and Dovecot log files.
# Usage: logs.sh TOML_FILE (called by write-project.sh). Idempotent; writes no TOML.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
mkdir -p "$STATE/project/data/logs"
ln -sfn "$POSTFIX_LOG" "$STATE/project/data/logs/postfix.log"
ln -sfn "$DOVECOT_LOG" "$STATE/project/data/logs/dovecot.log"
