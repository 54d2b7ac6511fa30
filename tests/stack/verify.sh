#!/usr/bin/env bash
# Smoke test of a running stack (tests/stack/stack.sh up): checks that every
# service answers as the Rust tests expect. Prints one "ok"/"FAIL" line per
# check and a closing "N passed, N failed" line; exits non-zero on failure.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="$("$SCRIPT_DIR/stack.sh" env)"
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...
  local desc="$1"
  shift
  if out="$("$@" 2>&1)"; then
    printf 'ok    %s\n' "$desc"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s\n%s\n' "$desc" "$(printf '%s\n' "$out" | tail -n 15 | sed 's/^/      /')"
    failed=$((failed + 1))
  fi
}

psql_as() { # psql_as USER PASSWORD SQL
  PGPASSWORD="$2" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -At -h "$STACK_HOST" -p "$PG_PORT" -U "$1" -d "$PG_DB" -c "$3"
}
expect_eq() { # expect_eq EXPECTED COMMAND...
  local want="$1" got
  shift
  got="$("$@")" || return 1
  [[ "$got" == "$want" ]] || { echo "expected [$want], got [$got]"; return 1; }
}

# ---- PostgreSQL
check "postgres: pg_isready" "$PG_BIN/pg_isready" -h "$STACK_HOST" -p "$PG_PORT"
check "postgres: login as $PG_USER (not superuser)" \
  expect_eq "$PG_USER|f" psql_as "$PG_USER" "$PG_PASSWORD" "select current_user, rolsuper from pg_roles where rolname = current_user"
check "postgres: $PG_SUPERUSER is superuser, pg_stat_statements loaded" \
  expect_eq "t|30|3" psql_as "$PG_SUPERUSER" "$PG_SUPERPASSWORD" \
  "select (select rolsuper from pg_roles where rolname = current_user), current_setting('max_connections'), current_setting('superuser_reserved_connections') from pg_stat_statements limit 1"
check "postgres: wrong password rejected" bash -c '! PGPASSWORD=wrong "$0/psql" -X -h "$1" -p "$2" -U "$3" -d "$4" -c "select 1" 2>/dev/null' \
  "$PG_BIN" "$STACK_HOST" "$PG_PORT" "$PG_USER" "$PG_DB"

# ---- Redis
check "redis: PING with password" expect_eq PONG env REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$STACK_HOST" -p "$REDIS_PORT" ping
check "redis: NOAUTH without password" bash -c 'redis-cli -h "$0" -p "$1" ping | grep -q NOAUTH' "$STACK_HOST" "$REDIS_PORT"

# ---- nginx (API stand-in)
check "api: GET $API_URL" expect_eq '{"status":"ok"}' curl -fsS --max-time 5 "$API_URL"
check "api: content type application/json" bash -c 'curl -fsS -o /dev/null -w "%{content_type}" --max-time 5 "$0" | grep -q "^application/json"' "$API_URL"
check "api: HTTPS with CA bundle (IP SAN)" expect_eq '{"status":"ok"}' curl -fsS --max-time 5 --cacert "$CA_BUNDLE" "$API_HTTPS_URL"
check "api: HTTPS with CA bundle (mail.mssante.test)" expect_eq '{"status":"ok"}' \
  curl -fsS --max-time 5 --cacert "$CA_BUNDLE" --resolve "mail.mssante.test:$HTTPS_PORT:$STACK_HOST" "https://mail.mssante.test:$HTTPS_PORT/health"

# ---- PKI
check "pki: server cert verifies against root via intermediate" \
  openssl verify -CAfile "$ROOT_CA" -untrusted "$INTERMEDIATE_CERT" "$SERVER_CERT"
check "pki: expired cert is expired" bash -c 'openssl verify -CAfile "$0" -untrusted "$1" "$2" 2>&1 | grep -q "certificate has expired"' \
  "$ROOT_CA" "$INTERMEDIATE_CERT" "$EXPIRED_CERT"
check "pki: key modes 600" bash -c '[[ "$(stat -c %a "$0" "$1" "$2")" == $'"'"'600\n600\n600'"'"' ]]' "$SERVER_KEY" "$EXPIRED_KEY" "$DKIM_KEY"

# ---- DNS (NSD)
dig_short() { dig +short +time=2 +tries=1 -p "$DNS_PORT" @"$STACK_HOST" "$@"; }
check "dns: MX" expect_eq "10 mail.mssante.test." dig_short mssante.test MX
check "dns: A mail" expect_eq "$STACK_HOST" dig_short mail.mssante.test A
check "dns: SPF" expect_eq "\"v=spf1 ip4:$STACK_HOST -all\"" dig_short mssante.test TXT
check "dns: DMARC" expect_eq '"v=DMARC1; p=reject; rua=mailto:dmarc@mssante.test"' dig_short _dmarc.mssante.test TXT
check "dns: PTR" expect_eq "mail.mssante.test." dig_short -x "$STACK_HOST"
check "dns: TCP answers" expect_eq "10 mail.mssante.test." dig_short +tcp mssante.test MX
check "dns: DKIM record matches dkim.pub" bash -c '
  got="$(dig +short +time=2 +tries=1 -p "$0" @"$1" default._domainkey.mssante.test TXT | sed -e "s/\" \"//g" -e "s/\"//g")"
  want="v=DKIM1; k=rsa; p=$(grep -v -- "^-----" "$2" | tr -d "\n")"
  [[ "$got" == "$want" ]]' "$DNS_PORT" "$STACK_HOST" "$DKIM_PUB"

# ---- Docker
check "docker: run $DOCKER_IMAGE" expect_eq ok docker -H "$DOCKER_HOST" run --rm --network none "$DOCKER_IMAGE" echo ok

# ---- SMTP / IMAP (python standard library)
check "mail: SMTP, submission, IMAP" python3 - <<'EOF'
import imaplib, os, smtplib, ssl, sys, time

host = os.environ["STACK_HOST"]
user, pw = os.environ["MAIL_USER"], os.environ["MAIL_PASSWORD"]
ctx = ssl.create_default_context(cafile=os.environ["CA_BUNDLE"])
ctx.check_hostname = False  # connecting by IP; the chain is still verified
def fail(msg):
    print(msg); sys.exit(1)

# Inbound port: STARTTLS offered, no AUTH, unknown user 550, relay denied.
s = smtplib.SMTP(host, int(os.environ["SMTP_PORT"]), timeout=10)
s.ehlo("client.test")
if not s.has_extn("starttls"): fail("10025: no STARTTLS")
if s.has_extn("auth"): fail("10025: AUTH offered")
s.mail("sender@example.test")
code, _ = s.rcpt("nobody@mssante.test")
if code != 550: fail(f"10025: unknown user gave {code}, want 550")
code, _ = s.rcpt("someone@example.org")
if code // 100 != 5: fail(f"10025: relay to example.org gave {code}, want 5xx")
code, _ = s.rcpt(user)
if code != 250: fail(f"10025: RCPT {user} gave {code}")
s.quit()

# Submission: no AUTH before TLS, AUTH PLAIN after, delivery via LMTP.
s = smtplib.SMTP(host, int(os.environ["SUBMISSION_PORT"]), timeout=10)
s.ehlo("client.test")
if s.has_extn("auth"): fail("10587: AUTH offered before STARTTLS")
s.starttls(context=ctx)
s.ehlo("client.test")
if "PLAIN" not in s.esmtp_features.get("auth", ""): fail("10587: no AUTH PLAIN after STARTTLS")
s.login(user, pw)
marker = f"verify-{os.getpid()}-{time.time()}"
s.sendmail(user, [user], f"From: <{user}>\r\nTo: <{user}>\r\nSubject: {marker}\r\n\r\nbody\r\n")
s.quit()

# IMAP: STARTTLS, LOGIN, >= 10 messages, FETCH 1:10, the message above arrives.
m = imaplib.IMAP4(host, int(os.environ["IMAP_PORT"]))
m.starttls(ssl_context=ctx)
m.login(user, pw)
typ, data = m.select("INBOX")
if typ != "OK" or int(data[0]) < 10: fail(f"IMAP SELECT INBOX: {typ} {data}")
typ, data = m.fetch("1:10", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
if typ != "OK" or len([d for d in data if isinstance(d, tuple)]) != 10: fail("FETCH 1:10 failed")
for _ in range(100):
    m.noop()
    typ, data = m.search(None, "SUBJECT", f'"{marker}"')
    if data[0]: break
    time.sleep(0.1)
else:
    fail("message sent through submission not delivered to INBOX")
m.logout()
EOF

printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
