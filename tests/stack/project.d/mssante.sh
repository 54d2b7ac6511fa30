#!/usr/bin/env bash
# [mssante] of the test project: the espace de confiance list served by the stack's nginx
# (stack.sh whitelist_generate: the stack's domain, generated at `stack.sh up`), trusted
# through the stack's CA; the operator domain is DOMAIN of .env (the default).
# Usage: mssante.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"

cat >>"$1" <<TOML

[mssante]
whitelist = "$WHITELIST_URL"
ca_bundle = "$CA_BUNDLE"
TOML
