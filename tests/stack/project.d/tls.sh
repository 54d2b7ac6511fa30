#!/usr/bin/env bash
# [tls] of the test project: the stack's certificate, key and fullchain copied to the guide's
# layout (config/certificates/server/, mode 600 for the key), its CA (root + intermediate) to
# config/certificates/igc-sante/, and the endpoints the stack serves with them: nginx HTTPS,
# Postfix SMTP and submission (STARTTLS), Dovecot IMAP (STARTTLS).
# The stack's PKI is a TEST IGC Santé hierarchy with its own names: the project declares itself
# a test platform and adds those names to the accepted IGC Santé CAs.
# Usage: tls.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
PROJECT_DIR="$(dirname "$1")"
SERVER="$PROJECT_DIR/config/certificates/server"
CA="$PROJECT_DIR/config/certificates/igc-sante"
mkdir -p "$SERVER" "$CA"
install -m 644 "$SERVER_CERT" "$SERVER/server.crt"
install -m 644 "$FULLCHAIN" "$SERVER/fullchain.pem"
install -m 600 "$SERVER_KEY" "$SERVER/server.key"
install -m 644 "$ROOT_CA" "$CA/root.pem"
install -m 644 "$INTERMEDIATE_CERT" "$CA/intermediate.pem"
root_cn="$(openssl x509 -in "$ROOT_CA" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')"
int_cn="$(openssl x509 -in "$INTERMEDIATE_CERT" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')"
[[ -n "$root_cn" && -n "$int_cn" ]]
cat >>"$1" <<TOML

[tls]
environment = "test"
names = ["$MAIL_HOSTNAME"]
igc_roots = ["AC RACINE IGC-SANTE ELEMENTAIRE", "AC RACINE IGC-SANTE STANDARD", "AC RACINE IGC-SANTE FORT", "$root_cn"]
igc_issuers = ["AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "AC IGC-SANTE STANDARD ORGANISATIONS", "AC IGC-SANTE FORT ORGANISATIONS", "$int_cn"]
endpoints = ["https://$STACK_HOST:$HTTPS_PORT", "smtp://$STACK_HOST:$SMTP_PORT", "smtp://$STACK_HOST:$SUBMISSION_PORT", "imap://$STACK_HOST:$IMAP_PORT"]
TOML
