#!/usr/bin/env bash
# [smtp], [imap] and [postfix] of the test project: the stack's Postfix and Dovecot, their
# own instances' tools on the host (postqueue -c, doveadm -c), and the peer domains of
# smtp.remote, resolved by the stack's NSD to an MX that is this Postfix (remote_port).
# The test account comes from .env (SMTP_TEST_USER / SMTP_TEST_PASSWORD, the defaults).
# Also makes sure the running NSD serves the peer-domain records of the zone template
# (zone files are written once; an older stack lacks them).
# Usage: mail.sh TOML_FILE (called by write-project.sh). Idempotent.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"

cat >>"$1" <<TOML

[smtp]
host = "$STACK_HOST"
inbound_port = $SMTP_PORT
submission_port = $SUBMISSION_PORT
tls_name = "$MAIL_HOSTNAME"
peer_domains = ["$MAIL_DOMAIN", "peer.$MAIL_DOMAIN"]
remote_port = $SMTP_PORT
resolver = ["$STACK_HOST:$DNS_PORT"]

[imap]
host = "$STACK_HOST"
port = $IMAP_PORT
tls_name = "$MAIL_HOSTNAME"
doveadm = "host"
doveadm_config = "$DOVECOT_CONFIG"

[postfix]
place = "host"
config_dir = "$POSTFIX_CONFIG_DIR"
# postfix.log reads the stack's real logs (project.d/logs.sh links them under data/logs/);
# the suite's own fault tests fail SMTP AUTH and IMAP LOGIN on purpose, about 200 times an hour.
auth_failures_warn = 5000
auth_failures_crit = 50000
TOML

# Peer-domain records in the live zone (the template's tail, each line added once), then
# NSD reloads the zone.
zone="$DNS_ZONE_DIR/mssante.test.zone"
template="$(dirname "$0")/../templates/mssante.test.zone"
added=0
if [[ -f "$zone" ]]; then
  while IFS= read -r line; do
    [[ -z "$line" || "$line" == \;* ]] && continue
    grep -qxF -- "$line" "$zone" || { printf '%s\n' "$line" >>"$zone"; added=1; }
  done < <(sed -n '/^; Peer domain of smtp.remote/,$p' "$template" | sed "s|@HOST@|$STACK_HOST|g")
fi
if ((added)); then
  pid="$(head -n 1 "$NSD_PIDFILE" 2>/dev/null | tr -d '[:space:]')"
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == nsd* ]]; then
    kill -HUP "$pid"
    for _ in $(seq 1 50); do
      [[ -n "$(dig +short +time=1 +tries=1 -p "$DNS_PORT" @"$STACK_HOST" mx.loopback-peer.mssante.test A 2>/dev/null)" ]] && break
      sleep 0.1
    done
  fi
fi
