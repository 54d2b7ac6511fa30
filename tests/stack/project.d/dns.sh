#!/usr/bin/env bash
# [dns] of the test project: the stack's NSD, the healthy signed zone ok.dns.test (its MX is the
# stack's Postfix, TLSA of the stack's certificate, MTA-STS policy on the stack's nginx), the
# platform address, the stack's DKIM key, a local blocklist with no listing, the zones' trust
# anchors (tests/stack/dns-zones.sh). Makes sure the running NSD and nginx serve the fixtures
# (a stack started before they existed is restarted once).
# Usage: dns.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
STACK="$(dirname "$0")/../stack.sh"
if [[ "$(dig +short +time=1 +tries=2 -p "$DNS_PORT" @"$STACK_HOST" ok.dns.test SOA 2>/dev/null)" != ns1.ok.dns.test.* ]]; then
  bash "$STACK" stop nsd >&2 && bash "$STACK" start nsd >&2
fi
if ! curl -fsS --max-time 3 --cacert "$CA_BUNDLE" --resolve "mta-sts.ok.dns.test:13460:$STACK_HOST" \
  https://mta-sts.ok.dns.test:13460/.well-known/mta-sts.txt >/dev/null 2>&1; then
  bash "$STACK" stop nginx >&2 && bash "$STACK" start nginx >&2
fi
cat >>"$1" <<TOML

[dns]
nameservers = ["$STACK_HOST:$DNS_PORT"]
domains = ["ok.dns.test"]
addresses = ["$STACK_HOST"]
dkim_key = "$DKIM_KEY"
blocklists = ["bl-clean.dns.test"]
smtp_port = $SMTP_PORT
mta_sts_port = 13460
ca_bundle = "$CA_BUNDLE"
trust_anchors = "$STATE/dns/trust-anchors.key"
TOML
