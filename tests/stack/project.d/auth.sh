#!/usr/bin/env bash
# [auth] of the test project and the PSC keys of its .env: the PSC client (id, secret, the
# redirect URI on the platform's domain with the guide's callback path), the issuer served by
# the stack's OIDC stand-in (nginx /oidc/valid, see stack.sh oidc_generate) trusted through
# the stack's CA, and a token for auth.jwt: HS256, signed with the .env's JWT_SECRET, valid
# for a year from now. Usage: auth.sh TOML_FILE (called by write-project.sh, after it wrote .env).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
PROJECT_DIR="$(dirname "$1")"
ENV_FILE="$PROJECT_DIR/.env"

# The PSC client's keys, added once to the .env write-project.sh has just written.
if ! grep -q '^PSC_CLIENT_ID=' "$ENV_FILE"; then
  cat >>"$ENV_FILE" <<ENV
PSC_CLIENT_ID=mssante-diag-test-client
PSC_CLIENT_SECRET=Wq3v9ZkT1mB7xR2pL8sN4cF6hJ0dY5gA
PSC_REDIRECT_URI=https://$MAIL_DOMAIN/auth/psc/callback
ENV
fi

jwt_secret="$(sed -n 's/^JWT_SECRET=//p' "$ENV_FILE" | tail -n 1)"
[[ -n "$jwt_secret" ]]
b64url() { basenc --base64url -w0 | tr -d '='; }
now="$(date +%s)"
header="$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)"
payload="$(printf '{"iss":"https://api.%s","sub":"%s","iat":%d,"exp":%d}' "$MAIL_DOMAIN" "$MAIL_USER" "$((now - 60))" "$((now + 365 * 86400))" | b64url)"
signature="$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$jwt_secret" -binary | b64url)"

cat >>"$1" <<TOML

[auth]
issuer = "$OIDC_BASE/valid"
ca_bundle = "$CA_BUNDLE"
token = "$header.$payload.$signature"
TOML
