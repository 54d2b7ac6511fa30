#!/usr/bin/env bash
# mssante-diag real-service test stack.
#
# Runs private instances of PostgreSQL, Redis, Postfix, Dovecot, nginx (API
# stand-in), NSD and dockerd, all listening ONLY on 127.0.77.1 with
# non-standard ports, with every file they write under one state dir:
#   ${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}
# Nothing system-wide is changed besides installing Debian packages.
#
# Usage: stack.sh COMMAND
#   install          apt-get install what is missing (fast no-op otherwise)
#   up               install, generate the PKI (once), start every service and
#                    wait until each answers (idempotent)
#   down             stop every service (by pid file)
#   stop SERVICE     stop one service (fault injection)
#   start SERVICE    start one service and wait until it answers
#   status           one line per service: "NAME up" or "NAME down"
#   env              write (if needed) and print the path of the env file
# SERVICE is one of: postgres redis postfix dovecot nginx nsd dockerd
#
# Commands that change state take a lock (flock on $STATE.lock), so parallel
# test processes may all call "up" safely.
#
# The state dir is a filesystem of its own (a tmpfs of $MSSANTE_STACK_SIZE,
# 4g by default, mounted by "up"/"start"): the disk and inode usage that the
# healthy checks measure (the project's folders, Docker's data-root) is then
# the stack's own, whatever else fills the host's disk.
set -Eeuo pipefail
# Every failed step names itself: line, command and exit status.
source "$(dirname "${BASH_SOURCE[0]}")/on-error.sh"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATES="$SCRIPT_DIR/templates"

# --------------------------------------------------------------------------
# Fixed parameters of the stack
# --------------------------------------------------------------------------
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
STATE_SIZE="${MSSANTE_STACK_SIZE:-4g}"
HOST=127.0.77.1
API_PORT=13000
HTTPS_PORT=13443
PG_PORT=15432
REDIS_PORT=16379
SMTP_PORT=10025
SUBMISSION_PORT=10587
IMAP_PORT=10143
DNS_PORT=10053
# network.proxy: the forward proxy (tinyproxy, see tinyproxy_start).
PROXY_PORT=13128

PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=mssante
PG_PASSWORD=mssante-test-pw
PG_DB=mssante
PG_SUPERUSER=diagadmin
PG_SUPERPASSWORD=diagadmin-pw
# Least privilege: a role with only pg_monitor and CONNECT (postgres_monitor_role).
PG_MONITOR_USER=diagmonitor
PG_MONITOR_PASSWORD=diagmonitor-pw
# The same with the two column-narrow SELECT grants of docs/least-privilege.md (given on the
# platform's tables by tests/stack/project.d/postgres.sh, once they exist).
PG_GRANTED_USER=diaggranted
PG_GRANTED_PASSWORD=diaggranted-pw
REDIS_PASSWORD=redis-test-pw
MAIL_DOMAIN=mssante.test
MAIL_USER=test@mssante.test
MAIL_PASSWORD=test-mail-pw
DOCKER_IMAGE=mssante-busybox:latest

# Derived paths (everything under $STATE).
LOGS="$STATE/logs"
PKI="$STATE/pki"
ENV_FILE="$STATE/stack.env"
PG_DIR="$STATE/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/run"
PF_CONFIG="$STATE/postfix/etc"
PF_QUEUE="$STATE/postfix/queue"
DOVECOT_CONF="$STATE/dovecot/dovecot.conf"
MAIL_HOME="$STATE/mail/mssante.test/test"
NGINX_CONF="$STATE/nginx/nginx.conf"
NSD_CONF="$STATE/nsd/nsd.conf"
DOCKER_SOCK="$STATE/docker.sock"
DOCKER_HOST_URL="unix://$DOCKER_SOCK"
DOCKER_PIDFILE="$STATE/docker.pid"
DOCKER_EXEC_ROOT="$STATE/docker-exec"

SERVICES=(postgres redis dovecot postfix nginx nsd dockerd ntp tinyproxy)

# Debian packages: the services, their peer tools used by benchmarks, and the
# clients this script uses for readiness checks (dig, curl, flock/runuser).
PACKAGES=(postgresql-15 redis-server postfix dovecot-core dovecot-imapd
  dovecot-lmtpd nginx nsd docker.io busybox-static openssl ca-certificates
  pflogsumm monitoring-plugins hyperfine time dnsutils curl util-linux procps
  smartmontools)
# The dns.* test zones are DNSSEC-signed at set-up (ldns-keygen, ldns-signzone).
PACKAGES+=(ldnsutils)
# system.clock: an NTP client (chronyd) synchronised to a local NTP server (see ntp_start).
PACKAGES+=(chrony)
# Monitoring outputs: promtool (check metrics/rules, test rules) and a real Prometheus server
# that scrapes `mssante-diag serve` in tests/it/outputs.rs.
PACKAGES+=(prometheus)
# network.proxy: a forward proxy on loopback that refuses one host (tinyproxy_start).
PACKAGES+=(tinyproxy)
# Least privilege (tests/it/privilege.rs): setfacl grants read access to .env without widening it.
PACKAGES+=(acl)
# Read-only guarantee (tests/it/readonly.rs): every check traced for writes by strace.
PACKAGES+=(strace)

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

# fail_service NAME LOGFILE MESSAGE: report a service that did not come up,
# with the tail of its log, and exit non-zero.
fail_service() {
  local name="$1" logfile="$2" msg="$3"
  printf 'stack: ERROR: %s: %s\n' "$name" "$msg" >&2
  if [[ -f "$logfile" ]]; then
    printf 'stack: ---- last lines of %s ----\n' "$logfile" >&2
    tail -n 40 "$logfile" >&2 || true
    printf 'stack: ----\n' >&2
  fi
  exit 1
}

# render TEMPLATE DEST: copy a template, substituting @NAME@ placeholders.
render() {
  local src="$TEMPLATES/$1" dest="$2"
  local tmp="$dest.tmp.$$"
  sed -e "s|@STATE@|$STATE|g" -e "s|@LOGS@|$LOGS|g" -e "s|@PKI@|$PKI|g" \
    -e "s|@HOST@|$HOST|g" -e "s|@API_PORT@|$API_PORT|g" \
    -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" -e "s|@PG_PORT@|$PG_PORT|g" \
    -e "s|@PG_SOCKET_DIR@|$PG_SOCKET_DIR|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
    -e "s|@REDIS_PASSWORD@|$REDIS_PASSWORD|g" -e "s|@SMTP_PORT@|$SMTP_PORT|g" \
    -e "s|@SUBMISSION_PORT@|$SUBMISSION_PORT|g" -e "s|@IMAP_PORT@|$IMAP_PORT|g" \
    -e "s|@DNS_PORT@|$DNS_PORT|g" -e "s|@PF_CONFIG@|$PF_CONFIG|g" \
    -e "s|@PF_QUEUE@|$PF_QUEUE|g" -e "s|@MAIL_UID@|${MAIL_UID:-8}|g" \
    -e "s|@MAIL_GID@|${MAIL_GID:-8}|g" -e "s|@CADB@|${CADB:-}|g" \
    -e "s|@DKIM_TXT@|${DKIM_TXT:-}|g" \
    "$src" >"$tmp"
  # Replace only when the content changed: keeping the mtime matters (Postfix
  # spends ~2 s in "postfix start/check" after main.cf was just modified).
  if cmp -s "$tmp" "$dest" 2>/dev/null; then rm -f "$tmp"; else mv -f "$tmp" "$dest"; fi
}

# alive PID: the process exists and is not a zombie.
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # drop "pid (comm) ", leaving "STATE ppid ..."
  [[ "${stat:0:1}" != Z ]]
}

# pid_of PIDFILE COMM: print the pid recorded in PIDFILE if that process is
# alive and its command name starts with COMM (guards against stale pid files
# whose pid was reused; NSD renames its processes "nsd: xfrd", ...).
pid_of() {
  local file="$1" comm="$2" pid
  [[ -r "$file" ]] || return 1
  pid="$(head -n 1 "$file" 2>/dev/null | tr -d '[:space:]')" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm"* ]] || return 1
  printf '%s\n' "$pid"
}

# kill_and_wait PID TIMEOUT_SECONDS [SIGNAL]: signal a process and wait for it
# to exit; SIGKILL after the timeout.
kill_and_wait() {
  local pid="$1" timeout="$2" sig="${3:-TERM}" i
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${timeout}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
}

# descendants PID: every process below PID (by parent pid, recursively).
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
    printf '%s\n' "$child"
    descendants "$child"
  done
}

# stop_tree PID TIMEOUT [SIGNAL]: stop a daemon's main process, then any of
# its (former) children still alive. Dovecot's auth/log/anvil/stats processes,
# for instance, outlive the master while Postfix holds an auth connection.
stop_tree() {
  local pid="$1" timeout="$2" sig="${3:-TERM}" kids child
  kids="$(descendants "$pid")"
  kill_and_wait "$pid" "$timeout" "$sig"
  for child in $kids; do
    if alive "$child"; then kill -TERM "$child" 2>/dev/null || true; fi
  done
  for child in $kids; do
    wait_pid_gone "$child" 5 || kill_and_wait "$child" 1 KILL
  done
}

# wait_pid_gone PID TIMEOUT_SECONDS: wait for a process to exit (no signal).
wait_pid_gone() {
  local pid="$1" timeout="$2" i
  for ((i = 0; i < timeout * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# wait_until TIMEOUT_SECONDS COMMAND...: retry COMMAND every 0.1 s.
wait_until() {
  local timeout="$1" i
  shift
  for ((i = 0; i < timeout * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# tcp_greeting PORT EXPECTED_PREFIX QUIT_COMMAND: connect to HOST:PORT, check
# the first line starts with EXPECTED_PREFIX, then say goodbye politely.
tcp_greeting() {
  local port="$1" expect="$2" quit="$3"
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf "%s\r\n" "$3" >&3 || true
    [[ "$line" == "$2"* ]]
  ' "$HOST" "$port" "$expect" "$quit"
}

# --------------------------------------------------------------------------
# install: Debian packages
# --------------------------------------------------------------------------
cmd_install() {
  local missing=() p installed
  # One dpkg-query for all packages (fast path when everything is there).
  # It exits 1 when one of them was never installed: that is an answer, not
  # a failure (the missing ones are simply absent from its output).
  installed=" $({ dpkg-query -W -f='${Package}=${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true; } |
    sed -n 's/=install ok installed$//p' | tr '\n' ' ') "
  for p in "${PACKAGES[@]}"; do
    [[ "$installed" == *" $p "* ]] || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  log "installing: ${missing[*]}"
  # A policy-rc.d that denies every start keeps the distribution's own
  # instances (standard ports) from starting. Removed after, only if ours.
  local created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# mssante-diag stack.sh: deny service starts during install\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  # Postfix: install without any system configuration.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

  local rc=0
  apt_install "${missing[@]}" || rc=$?
  if [[ $rc -ne 0 ]]; then
    log "apt-get install failed (rc=$rc); running apt-get update and retrying"
    apt-get update -q >&2 || true
    rc=0
    apt_install "${missing[@]}" || rc=$?
  fi
  if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  [[ $rc -eq 0 ]] || die "apt-get install failed for: ${missing[*]}"
}

apt_install() {
  # apt output goes to stderr: stdout of this script stays clean.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "$@" >&2
}

# --------------------------------------------------------------------------
# State dir and PKI
# --------------------------------------------------------------------------
# mount_state: give the state dir its own filesystem (once; kept across runs
# so the PKI and the databases are made once).
mount_state() {
  mkdir -p "$STATE"
  mountpoint -q "$STATE" && return 0
  mount -t tmpfs -o "size=$STATE_SIZE,mode=755" mssante-diag-stack "$STATE" ||
    die "cannot mount a tmpfs on $STATE (the stack needs root)"
}

prepare_state() {
  mount_state
  mkdir -p "$STATE" "$LOGS"
  # Daemons dropping privileges (postgres, dovecot's mail user, nginx
  # workers) must be able to traverse it.
  chmod 755 "$STATE" "$LOGS"
  MAIL_UID="$(id -u mail)"
  MAIL_GID="$(id -g mail)"
  # Unix socket paths are limited to 107 bytes; the longest one is
  # containerd's debug socket under the docker exec-root.
  local longest="$DOCKER_EXEC_ROOT/containerd/containerd-debug.sock"
  ((${#longest} <= 100)) || die "state dir path too long for unix sockets: $STATE (set MSSANTE_STACK_DIR shorter)"
}

# pki_generate: root CA -> intermediate CA -> server cert (+ an expired one),
# DKIM key pair and DH parameters. Generated once, atomically (temp dir +
# rename), so a half-made PKI is never used.
pki_generate() {
  [[ -f "$PKI/.complete" ]] && return 0
  log "generating PKI in $PKI"
  local tmp="$STATE/pki.tmp.$$"
  rm -rf "$STATE"/pki.tmp.*
  mkdir -p "$tmp/ca-db/newcerts"
  # A plain subshell (not the left side of || or an if): errexit stays on
  # inside, so any failed openssl step fails the set-up before .complete.
  (
    set -Eeuo pipefail
    cd "$tmp"
    umask 077
    CADB="$tmp/ca-db"
    render openssl.cnf openssl.cnf
    local subj_base="/C=FR/O=TEST MSSANTE DIAG"
    newkey() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }
    serial() { printf '0x%s' "$(openssl rand -hex 16)"; }

    # Root CA (self-signed, 10 years).
    newkey root.key
    openssl req -new -x509 -config openssl.cnf -extensions v3_root -sha256 \
      -days 3650 -key root.key -set_serial "$(serial)" \
      -subj "$subj_base/OU=TEST IGC-SANTE/CN=TEST AC IGC-SANTE ELEMENTAIRE ROOT" \
      -out root.pem

    # Intermediate CA signed by the root (5 years).
    newkey intermediate.key
    openssl req -new -config openssl.cnf -key intermediate.key \
      -subj "$subj_base/OU=TEST IGC-SANTE/CN=TEST AC IGC-SANTE ELEMENTAIRE SERVEURS" \
      -out intermediate.csr
    openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key \
      -set_serial "$(serial)" -days 1825 -sha256 \
      -extfile openssl.cnf -extensions v3_intermediate -out intermediate.pem 2>/dev/null

    # Server certificate signed by the intermediate (365 days).
    newkey server.key
    openssl req -new -config openssl.cnf -key server.key \
      -subj "$subj_base/CN=mail.mssante.test" -out server.csr
    openssl x509 -req -in server.csr -CA intermediate.pem -CAkey intermediate.key \
      -set_serial "$(serial)" -days 365 -sha256 \
      -extfile openssl.cnf -extensions v3_server -out server.crt 2>/dev/null

    # Expired server certificate (valid 2020-01-01 .. 2021-01-01): OpenSSL 3.0
    # "x509" has no -not_before/-not_after, "openssl ca" has -startdate/-enddate.
    newkey expired.key
    openssl req -new -config openssl.cnf -key expired.key \
      -subj "$subj_base/CN=mail.mssante.test" -out expired.csr
    : >ca-db/index.txt
    openssl rand -hex 16 >ca-db/serial
    openssl ca -batch -notext -config openssl.cnf -name ca_intermediate \
      -extensions v3_server -startdate 20200101000000Z -enddate 20210101000000Z \
      -in expired.csr -out expired.crt 2>/dev/null

    # Bundles.
    cat intermediate.pem root.pem >ca-bundle.pem
    cat server.crt intermediate.pem >fullchain.pem

    # DKIM key pair (selector "default"), PEM private key + PEM public key.
    newkey dkim.key
    openssl pkey -in dkim.key -pubout -out dkim.pub

    # Fixed RFC 7919 DH group for Dovecot (instant, unlike dhparam).
    openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh.pem

    rm -f ./*.csr
    chmod 600 ./*.key
    chmod 644 ./*.pem ./*.crt dkim.pub
    touch .complete
  )
  [[ -f "$tmp/.complete" ]] || die "PKI generation failed"

  rm -rf "$PKI"
  mv "$tmp" "$PKI"
  chmod 755 "$PKI"
}

# pki_cases_generate: certificates for the tls.* checks' fault tests, in
# $STATE/pki-cases (see tests/it/tls.rs): leaves for another name, self-signed,
# 1024-bit, SHA-1, clientAuth only, expiring soon, not yet valid, EC; an
# intermediate expiring before its leaf; IGC Santé-named hierarchies (TEST and
# production names), a non-IGC one, a CA loop; an encrypted key; the chains
# nginx serves on its fault ports (13444+). Generated once, atomically, after
# pki_generate, with errexit on: any failed openssl step fails the set-up.
pki_cases_generate() {
  local cases="$STATE/pki-cases"
  [[ -f "$cases/.complete" ]] && return 0
  log "generating the TLS test cases in $cases"
  local tmp="$STATE/pki-cases.tmp.$$"
  rm -rf "$STATE"/pki-cases.tmp.*
  mkdir -p "$tmp/ca-db/newcerts"
  (
    set -Eeuo pipefail
    cd "$tmp"
    umask 077
    cp "$PKI/root.pem" "$PKI/root.key" "$PKI/intermediate.pem" "$PKI/intermediate.key" .
    local base="/C=FR/O=TEST MSSANTE DIAG" asip="/C=FR/O=ASIP-SANTE"
    local san="DNS:mail.mssante.test, DNS:mssante.test, DNS:localhost, IP:$HOST"
    cat >cases.cnf <<CNF
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = $san
[ v3_other ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:other.example.test
[ v3_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = clientAuth
subjectAltName         = $san
[ v3_self ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
subjectAltName         = $san
[ ca ]
default_ca = ca_intermediate
[ ca_intermediate ]
database        = $tmp/ca-db/index.txt
serial          = $tmp/ca-db/serial
new_certs_dir   = $tmp/ca-db/newcerts
certificate     = $tmp/intermediate.pem
private_key     = $tmp/intermediate.key
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
[ policy_any ]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
CNF
    rsa() { openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:${2:-2048}" -out "$1"; }
    ec() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
    serial() { printf '0x%s' "$(openssl rand -hex 16)"; }
    # (One command per line: a failed step on the left of && would not stop the set-up.)
    # sign OUT.crt SUBJECT KEY CA_PEM CA_KEY DAYS EXTENSIONS [DIGEST]
    sign() {
      openssl req -new -config cases.cnf -key "$3" -subj "$2" -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA "$4" -CAkey "$5" -set_serial "$(serial)" -days "$6" \
        "-${8:-sha256}" -extfile cases.cnf -extensions "$7" -out "$1" 2>/dev/null
      rm -f "$1.csr"
    }
    # selfsigned OUT.pem SUBJECT KEY DAYS EXTENSIONS
    selfsigned() {
      openssl req -new -x509 -config cases.cnf -extensions "$5" -sha256 -days "$4" -key "$3" \
        -set_serial "$(serial)" -subj "$2" -out "$1"
    }
    int=(intermediate.pem intermediate.key)

    # Leaves under the stack's intermediate, one fault each.
    rsa wrongname.key
    sign wrongname.crt "$base/CN=other.example.test" wrongname.key "${int[@]}" 365 v3_other
    rsa selfsigned.key
    selfsigned selfsigned.crt "$base/CN=mail.mssante.test" selfsigned.key 365 v3_self
    rsa rsa1024.key 1024
    sign rsa1024.crt "$base/CN=mail.mssante.test" rsa1024.key "${int[@]}" 365 v3_server
    rsa sha1.key
    sign sha1.crt "$base/CN=mail.mssante.test" sha1.key "${int[@]}" 365 v3_server sha1
    rsa clientonly.key
    sign clientonly.crt "$base/CN=mail.mssante.test" clientonly.key "${int[@]}" 365 v3_client
    rsa soon.key
    sign soon.crt "$base/CN=mail.mssante.test" soon.key "${int[@]}" 20 v3_server
    ec ec.key
    sign ec.crt "$base/CN=mail.mssante.test" ec.key "${int[@]}" 365 v3_server
    # Not yet valid (from in a year, for a year: within the intermediate's life): "openssl ca"
    # sets the dates.
    rsa future.key
    openssl req -new -config cases.cnf -key future.key -subj "$base/CN=mail.mssante.test" -out future.csr
    : >ca-db/index.txt
    openssl rand -hex 16 >ca-db/serial
    local start end
    start="$(date -u -d '+1 year' +%Y%m%d%H%M%SZ)"
    end="$(date -u -d '+2 years' +%Y%m%d%H%M%SZ)"
    openssl ca -batch -notext -config cases.cnf -name ca_intermediate -extfile cases.cnf \
      -extensions v3_server -startdate "$start" -enddate "$end" \
      -in future.csr -out future.crt 2>/dev/null
    # The stack's key, passphrase-protected (passphrase "test").
    openssl pkey -in "$PKI/server.key" -aes256 -passout pass:test -out server-encrypted.key

    # An intermediate of the same name as the stack's, expiring (60 days) before its leaf.
    rsa shortint.key
    sign shortint.pem "$base/OU=TEST IGC-SANTE/CN=TEST AC IGC-SANTE ELEMENTAIRE SERVEURS" shortint.key root.pem root.key 60 v3_ca
    rsa shortint-leaf.key
    sign shortint-leaf.crt "$base/CN=mail.mssante.test" shortint-leaf.key shortint.pem shortint.key 365 v3_server

    # Hierarchies named as the IGC Santé's (test and production names) and a foreign one:
    # DIR/{root.pem,intermediate.pem,server.crt,server.key}.
    hierarchy() {
      local dir="$1" root_subj="$2" int_subj="$3" keytype="$4"
      mkdir -p "$dir"
      rsa "$dir/root.key"
      selfsigned "$dir/root.pem" "$root_subj" "$dir/root.key" 3650 v3_ca
      rsa "$dir/intermediate.key"
      sign "$dir/intermediate.pem" "$int_subj" "$dir/intermediate.key" "$dir/root.pem" "$dir/root.key" 1825 v3_ca
      "$keytype" "$dir/server.key"
      sign "$dir/server.crt" "$base/CN=mail.mssante.test" "$dir/server.key" "$dir/intermediate.pem" "$dir/intermediate.key" 365 v3_server
      rm -f "$dir/root.key" "$dir/intermediate.key"
    }
    hierarchy igc-test "$asip/OU=IGC-SANTE TEST/CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE" \
      "$asip/OU=IGC-SANTE TEST/CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" rsa
    hierarchy igc-prod "$asip/CN=AC RACINE IGC-SANTE ELEMENTAIRE" "$asip/CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" ec
    hierarchy foreign "/C=FR/O=Example/CN=Example Root CA" "/C=FR/O=Example/CN=Example Issuing CA" rsa

    # Two CAs certifying each other (A by B, B by A), a leaf under A: loop/{ca/a.pem,ca/b.pem,server.*}.
    mkdir -p loop/ca
    rsa loop/a.key
    rsa loop/b.key
    selfsigned loop/a-self.pem "$base/CN=LOOP CA A" loop/a.key 3650 v3_ca
    selfsigned loop/b-self.pem "$base/CN=LOOP CA B" loop/b.key 3650 v3_ca
    sign loop/ca/a.pem "$base/CN=LOOP CA A" loop/a.key loop/b-self.pem loop/b.key 3650 v3_ca
    sign loop/ca/b.pem "$base/CN=LOOP CA B" loop/b.key loop/a-self.pem loop/a.key 3650 v3_ca
    rsa loop/server.key
    sign loop/server.crt "$base/CN=mail.mssante.test" loop/server.key loop/a-self.pem loop/a.key 365 v3_server
    rm -f loop/a.key loop/b.key loop/a-self.pem loop/b-self.pem

    # Chain files: fullchains in the wrong order or incomplete, and what nginx serves on its
    # fault ports (leaf + intermediate unless the case is the chain itself).
    cat intermediate.pem "$PKI/server.crt" >wrongorder-fullchain.pem
    cat "$PKI/server.crt" root.pem intermediate.pem >served-wrongorder.pem
    cat "$PKI/expired.crt" intermediate.pem >served-expired.pem
    cat wrongname.crt intermediate.pem >served-wrongname.pem

    rm -rf ca-db ./*.csr root.key intermediate.key root.pem intermediate.pem
    chmod 600 ./*.key ./*/*.key
    chmod 644 ./*.pem ./*.crt ./*/*.pem ./*/*.crt loop/ca/*.pem
    chmod 755 igc-test igc-prod foreign loop loop/ca
    touch .complete
  )
  [[ -f "$tmp/.complete" ]] || die "TLS test case generation failed"
  rm -rf "$cases"
  mv "$tmp" "$cases"
  chmod 755 "$cases"
}

# dkim_txt: the DKIM TXT record as quoted strings of at most 255 characters
# (resolvers concatenate them): "v=DKIM1; k=rsa; p=<base64 DER public key>".
dkim_txt() {
  local b64 txt out="" i
  b64="$(grep -v '^-----' "$PKI/dkim.pub" | tr -d '\n')"
  txt="v=DKIM1; k=rsa; p=$b64"
  for ((i = 0; i < ${#txt}; i += 255)); do
    out+="${out:+ }\"${txt:i:255}\""
  done
  printf '%s' "$out"
}

# --------------------------------------------------------------------------
# auth.psc / auth.jwt: an OIDC discovery stand-in served by nginx (HTTPS port,
# /oidc/<case>/...), see tests/it/auth.rs. An RSA (2048) and an EC P-256 key pair
# whose public halves the JWKS publishes (kid rsa-1, ec-1); the tests sign tokens
# with the private keys ($STATE/oidc/rsa.key, ec.key). Generated once, atomically.
# --------------------------------------------------------------------------
oidc_generate() {
  local dir="$STATE/oidc"
  [[ -f "$dir/.complete" ]] && return 0
  log "generating the OIDC stand-in in $dir"
  local tmp="$STATE/oidc.tmp.$$"
  rm -rf "$STATE"/oidc.tmp.*
  mkdir -p "$tmp"
  (
    set -Eeuo pipefail
    cd "$tmp"
    b64url() { basenc --base64url -w0 | tr -d '='; }
    umask 077
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key
    local n x y
    n="$(openssl rsa -in rsa.key -noout -modulus | cut -d= -f2 | perl -ne 'chomp; print pack("H*", $_)' | b64url)"
    # SubjectPublicKeyInfo of a P-256 key ends with the point 04 || X || Y.
    openssl pkey -in ec.key -pubout -outform DER -out ec.pub.der
    x="$(tail -c 64 ec.pub.der | head -c 32 | b64url)"
    y="$(tail -c 32 ec.pub.der | b64url)"
    rm -f ec.pub.der
    umask 022
    local base="https://$HOST:$HTTPS_PORT/oidc" www="www/oidc"
    local jwks="{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"n\":\"$n\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crv\":\"P-256\",\"x\":\"$x\",\"y\":\"$y\"}]}"
    # doc ISSUER ENDPOINTS_BASE JWKS_URI: a Keycloak-shaped discovery document.
    doc() {
      printf '{"issuer":"%s","authorization_endpoint":"%s/protocol/openid-connect/auth","token_endpoint":"%s/protocol/openid-connect/token","userinfo_endpoint":"%s/protocol/openid-connect/userinfo","end_session_endpoint":"%s/protocol/openid-connect/logout","jwks_uri":"%s","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256","ES256"]}\n' \
        "$1" "$2" "$2" "$2" "$2" "$3"
    }
    # put CASE FILE CONTENT
    put() { mkdir -p "$www/$1/$(dirname "$2")"; printf '%s\n' "$3" >"$www/$1/$2"; }
    local wk=".well-known/wallet-openid-configuration" std=".well-known/openid-configuration"
    local certs="protocol/openid-connect/certs"
    # valid: PSC's own path, RSA and EC keys.
    put valid "$wk" "$(doc "$base/valid" "$base/valid" "$base/valid/$certs")"
    put valid "$certs" "$jwks"
    # standard: only the standard path answers.
    put standard "$std" "$(doc "$base/standard" "$base/standard" "$base/valid/$certs")"
    # missing: no document at all (404 on both paths): nothing to write.
    # badjson: a truncated document.
    put badjson "$wk" "{\"issuer\": \"$base/badjson\", \"jwks_uri\": "
    # emptyjwks: a JWKS without keys.
    put emptyjwks "$wk" "$(doc "$base/emptyjwks" "$base/emptyjwks" "$base/emptyjwks/$certs")"
    put emptyjwks "$certs" '{"keys":[]}'
    # badkeys: keys that do not parse (bad modulus, a symmetric key, a point of the wrong size).
    put badkeys "$wk" "$(doc "$base/badkeys" "$base/badkeys" "$base/badkeys/$certs")"
    put badkeys "$certs" '{"keys":[{"kty":"RSA","kid":"bad-n","n":"!!not-base64!!","e":"AQAB"},{"kty":"oct","kid":"sym","k":"c2VjcmV0"},{"kty":"EC","kid":"short","crv":"P-256","x":"AAAA","y":"AAAA"}]}'
    # mismatch: the document names PSC's production issuer, not the one configured.
    put mismatch "$wk" "$(doc "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet" "$base/mismatch" "$base/valid/$certs")"
    # http: endpoints in plain HTTP.
    put http "$wk" "$(doc "$base/http" "http://$HOST:$API_PORT/oidc/http" "$base/valid/$certs")"
    # jwks404: the JWKS URL answers 404.
    put jwks404 "$wk" "$(doc "$base/jwks404" "$base/jwks404" "$base/jwks404/missing-certs")"
    touch .complete
  )
  [[ -f "$tmp/.complete" ]] || die "OIDC stand-in generation failed"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  chmod 755 "$dir"
}

# oidc_nginx_refresh: a running nginx started before the stand-in existed reloads its
# configuration (the template's /oidc/ location), then serves the valid case.
oidc_nginx_refresh() {
  nginx_pid >/dev/null || return 0
  local before after
  before="$(cksum <"$NGINX_CONF" 2>/dev/null || true)"
  render nginx.conf "$NGINX_CONF"
  after="$(cksum <"$NGINX_CONF")"
  [[ "$before" == "$after" ]] && return 0
  log "nginx: reloading for the OIDC stand-in"
  nginx -p "$STATE/nginx" -c "$NGINX_CONF" -e "$LOGS/nginx-error.log" -s reload >>"$LOGS/nginx-start.log" 2>&1 ||
    fail_service nginx "$LOGS/nginx-error.log" "nginx reload failed"
  local url="https://$HOST:$HTTPS_PORT/oidc/valid/.well-known/wallet-openid-configuration"
  wait_until 10 curl -sf --max-time 2 --cacert "$PKI/ca-bundle.pem" -o /dev/null "$url" ||
    fail_service nginx "$LOGS/nginx-error.log" "no OIDC stand-in at $url after reload"
}

# --------------------------------------------------------------------------
# env file
# --------------------------------------------------------------------------
write_env() {
  mkdir -p "$STATE"
  local tmp="$ENV_FILE.tmp.$$"
  cat >"$tmp" <<EOF
# mssante-diag test stack (generated by tests/stack/stack.sh). KEY=VALUE, no quotes.
STACK_DIR=$STATE
STACK_HOST=$HOST
LOG_DIR=$LOGS
API_URL=http://$HOST:$API_PORT/health
API_PORT=$API_PORT
HTTPS_PORT=$HTTPS_PORT
API_HTTPS_URL=https://$HOST:$HTTPS_PORT/health
NGINX_ERROR_LOG=$LOGS/nginx-error.log
NGINX_ACCESS_LOG=$LOGS/nginx-access.log
PG_HOST=$HOST
PG_PORT=$PG_PORT
PG_USER=$PG_USER
PG_PASSWORD=$PG_PASSWORD
PG_DB=$PG_DB
PG_SUPERUSER=$PG_SUPERUSER
PG_SUPERPASSWORD=$PG_SUPERPASSWORD
PG_MONITOR_USER=$PG_MONITOR_USER
PG_MONITOR_PASSWORD=$PG_MONITOR_PASSWORD
PG_GRANTED_USER=$PG_GRANTED_USER
PG_GRANTED_PASSWORD=$PG_GRANTED_PASSWORD
PG_SOCKET_DIR=$PG_SOCKET_DIR
PG_DATA=$PG_DATA
PG_BIN=$PG_BIN
PG_LOG=$LOGS/postgres.log
PG_URL=postgres://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DB
REDIS_PORT=$REDIS_PORT
REDIS_PASSWORD=$REDIS_PASSWORD
REDIS_URL=redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/0
REDIS_LOG=$LOGS/redis.log
MAIL_HOSTNAME=mail.mssante.test
MAIL_DOMAIN=$MAIL_DOMAIN
MAIL_USER=$MAIL_USER
MAIL_PASSWORD=$MAIL_PASSWORD
MAILDIR=$MAIL_HOME/Maildir
SMTP_PORT=$SMTP_PORT
SUBMISSION_PORT=$SUBMISSION_PORT
IMAP_PORT=$IMAP_PORT
POSTFIX_CONFIG_DIR=$PF_CONFIG
POSTFIX_QUEUE_DIR=$PF_QUEUE
POSTFIX_LOG=$LOGS/postfix.log
DOVECOT_CONFIG=$DOVECOT_CONF
DOVECOT_USERS_FILE=$STATE/dovecot/users
DOVECOT_LOG=$LOGS/dovecot.log
DNS_PORT=$DNS_PORT
PROXY_URL=http://$HOST:$PROXY_PORT
PROXY_LOG=$LOGS/tinyproxy.log
PROXY_REFUSED_HOST=refused.proxy.test
WHITELIST_URL=https://$HOST:$HTTPS_PORT/espace-de-confiance/listeblanchemssante.xml
WHITELIST_DIR=$STATE/whitelist/www/espace-de-confiance
DNS_ZONE_DIR=$STATE/nsd/zones
NSD_CONFIG=$NSD_CONF
NSD_PIDFILE=$STATE/nsd/nsd.pid
DKIM_SELECTOR=default
DKIM_KEY=$PKI/dkim.key
DKIM_PUB=$PKI/dkim.pub
DOCKER_HOST=$DOCKER_HOST_URL
DOCKER_IMAGE=$DOCKER_IMAGE
DOCKER_LOG=$LOGS/dockerd.log
PKI_DIR=$PKI
CA_BUNDLE=$PKI/ca-bundle.pem
ROOT_CA=$PKI/root.pem
INTERMEDIATE_CERT=$PKI/intermediate.pem
SERVER_CERT=$PKI/server.crt
SERVER_KEY=$PKI/server.key
FULLCHAIN=$PKI/fullchain.pem
EXPIRED_CERT=$PKI/expired.crt
EXPIRED_KEY=$PKI/expired.key
OIDC_DIR=$STATE/oidc
OIDC_BASE=https://$HOST:$HTTPS_PORT/oidc
EOF
  if ! cmp -s "$tmp" "$ENV_FILE" 2>/dev/null; then mv -f "$tmp" "$ENV_FILE"; else rm -f "$tmp"; fi
}

# --------------------------------------------------------------------------
# Services. Each has: NAME_pidfile, NAME_pid (prints the pid if running),
# NAME_start, NAME_ready (answers?), NAME_stop, NAME_log (log file shown in
# error reports).
# --------------------------------------------------------------------------

# ---- PostgreSQL 15: own cluster, port 15432 ----
postgres_pidfile() { echo "$PG_DATA/postmaster.pid"; }
postgres_pid() { pid_of "$(postgres_pidfile)" postgres; }
postgres_log() { echo "$LOGS/postgres.log"; }
postgres_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2; }
pg_as_postgres() { runuser -u postgres -- "$@"; }
postgres_start() {
  local fresh=0
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb in $PG_DATA"
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
    chown -R postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR" "$PG_DATA"
    # --no-sync: a throw-away test cluster, no need to wait for fsync.
    pg_as_postgres "$PG_BIN/initdb" -D "$PG_DATA" --data-checksums --no-sync -U postgres \
      -E UTF8 --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 \
      >"$LOGS/postgres-initdb.log" 2>&1 ||
      fail_service postgres "$LOGS/postgres-initdb.log" "initdb failed"
    echo "include 'mssante-diag.conf'" >>"$PG_DATA/postgresql.conf"
    fresh=1
  fi
  mkdir -p "$PG_SOCKET_DIR"
  chown postgres:postgres "$PG_SOCKET_DIR"
  render postgresql.conf "$PG_DATA/mssante-diag.conf"
  render pg_hba.conf "$PG_DATA/pg_hba.conf"
  chown postgres:postgres "$PG_DATA/mssante-diag.conf" "$PG_DATA/pg_hba.conf"
  touch "$LOGS/postgres.log"
  chown postgres:postgres "$LOGS/postgres.log"
  pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 30 start \
    >/dev/null 2>>"$LOGS/postgres.log" ||
    fail_service postgres "$LOGS/postgres.log" "pg_ctl start failed"
  if [[ $fresh -eq 1 || ! -f "$PG_DIR/.bootstrapped" ]]; then
    postgres_bootstrap
  fi
  postgres_monitor_role
}
# The monitoring role of docs/least-privilege.md: pg_monitor and CONNECT, nothing else
# (idempotent: run at every start, so a stack bootstrapped before it gets the role too).
postgres_monitor_role() {
  local user password
  for user in "$PG_MONITOR_USER:$PG_MONITOR_PASSWORD" "$PG_GRANTED_USER:$PG_GRANTED_PASSWORD"; do
    password="${user#*:}" user="${user%%:*}"
    pg_as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
      >>"$LOGS/postgres.log" 2>&1 <<EOF ||
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$password';
  END IF;
END
\$\$;
GRANT pg_monitor TO $user;
GRANT CONNECT ON DATABASE $PG_DB TO $user;
EOF
      fail_service postgres "$LOGS/postgres.log" "monitoring role $user failed"
  done
}
# Roles, database and extension (once, right after initdb).
postgres_bootstrap() {
  log "postgres: creating roles $PG_USER, $PG_SUPERUSER and database $PG_DB"
  local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres)
  pg_as_postgres "${psql[@]}" -d postgres >>"$LOGS/postgres.log" 2>&1 <<EOF ||
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$PG_PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_SUPERUSER') THEN
    CREATE ROLE $PG_SUPERUSER LOGIN SUPERUSER PASSWORD '$PG_SUPERPASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
EOF
    fail_service postgres "$LOGS/postgres.log" "role/database bootstrap failed"
  pg_as_postgres "${psql[@]}" -d "$PG_DB" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >>"$LOGS/postgres.log" 2>&1 ||
    fail_service postgres "$LOGS/postgres.log" "CREATE EXTENSION pg_stat_statements failed"
  touch "$PG_DIR/.bootstrapped"
}
postgres_stop() {
  postgres_pid >/dev/null || return 0
  pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || {
    local pid
    pid="$(postgres_pid)" && kill_and_wait "$pid" 10 QUIT
  }
}

# ---- Redis: port 16379, password ----
redis_pidfile() { echo "$STATE/redis/redis.pid"; }
redis_pid() { pid_of "$(redis_pidfile)" redis-server; }
redis_log() { echo "$LOGS/redis.log"; }
redis_ready() {
  [[ "$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}
redis_start() {
  mkdir -p "$STATE/redis"
  render redis.conf "$STATE/redis/redis.conf"
  redis-server "$STATE/redis/redis.conf" >>"$LOGS/redis.log" 2>&1 ||
    fail_service redis "$LOGS/redis.log" "redis-server failed to start"
}
redis_stop() {
  local pid
  pid="$(redis_pid)" || return 0
  stop_tree "$pid" 15
}

# ---- Postfix: own instance (postfix -c DIR), ports 10025 and 10587 ----
postfix_pidfile() { echo "$PF_QUEUE/pid/master.pid"; }
postfix_pid() { pid_of "$(postfix_pidfile)" master; }
postfix_log() { echo "$LOGS/postfix.log"; }
postfix_ready() {
  tcp_greeting "$SMTP_PORT" "220 " QUIT && tcp_greeting "$SUBMISSION_PORT" "220 " QUIT
}
# Config files and queue directories; also needed before Dovecot starts,
# since Dovecot's auth/LMTP sockets live in the queue's private/ dir.
postfix_prepare() {
  mkdir -p "$PF_CONFIG" "$PF_QUEUE" "$STATE/postfix/data"
  render postfix-main.cf "$PF_CONFIG/main.cf"
  render postfix-master.cf "$PF_CONFIG/master.cf"
  # Data files: written once (tests may edit them).
  [[ -f "$PF_CONFIG/vmailbox" ]] || render postfix-vmailbox "$PF_CONFIG/vmailbox"
  [[ -f "$PF_CONFIG/virtual" ]] || render postfix-virtual "$PF_CONFIG/virtual"
  chown postfix:postfix "$STATE/postfix/data"
  # postqueue -c DIR runs for a user other than root only when the default main.cf lists DIR
  # in alternate_config_directories (postfix.queue as the monitoring user). Written only on
  # a machine without a Postfix configuration of its own (never edited).
  [[ -e /etc/postfix/main.cf ]] ||
    printf 'alternate_config_directories = %s\n' "$PF_CONFIG" >/etc/postfix/main.cf
  # Postfix commands sleep 1 s for each config file modified within the last
  # second (timestamp race guard): backdate the files we just wrote.
  local f now
  now="$(date +%s)"
  for f in main.cf master.cf vmailbox virtual; do
    if (($(stat -c %Y "$PF_CONFIG/$f") >= now - 1)); then touch -d "@$((now - 2))" "$PF_CONFIG/$f"; fi
  done
  if [[ ! -d "$PF_QUEUE/private" || ! -d "$PF_QUEUE/maildrop" ]]; then
    # "postfix check" creates missing queue directories with the right owners.
    postfix -c "$PF_CONFIG" check >>"$LOGS/postfix-start.log" 2>&1 ||
      fail_service postfix "$LOGS/postfix-start.log" "postfix check failed"
  fi
}
postfix_start() {
  postfix_prepare
  postfix -c "$PF_CONFIG" start >>"$LOGS/postfix-start.log" 2>&1 ||
    fail_service postfix "$LOGS/postfix-start.log" "postfix start failed (see also $LOGS/postfix.log)"
}
postfix_stop() {
  local pid
  pid="$(postfix_pid)" || return 0
  local kids child
  kids="$(descendants "$pid")"
  postfix -c "$PF_CONFIG" stop >>"$LOGS/postfix-start.log" 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  wait_pid_gone "$pid" 15 || kill_and_wait "$pid" 1 KILL
  for child in $kids; do
    wait_pid_gone "$child" 5 || kill_and_wait "$child" 1 KILL
  done
}

# ---- Dovecot: IMAP 10143 (STARTTLS), LMTP + SASL sockets for Postfix ----
dovecot_pidfile() { echo "$STATE/dovecot/run/master.pid"; }
dovecot_pid() { pid_of "$(dovecot_pidfile)" dovecot; }
dovecot_log() { echo "$LOGS/dovecot.log"; }
dovecot_ready() {
  [[ -S "$PF_QUEUE/private/auth" && -S "$PF_QUEUE/private/dovecot-lmtp" ]] &&
    tcp_greeting "$IMAP_PORT" "* OK" "a LOGOUT"
}
dovecot_start() {
  # The sockets for Postfix go into its queue dir: make sure it exists.
  [[ -d "$PF_QUEUE/private" ]] || postfix_prepare
  mkdir -p "$STATE/dovecot/run" "$STATE/dovecot/state"
  render dovecot.conf "$DOVECOT_CONF"
  # Users file: data, written once (tests may rewrite it).
  if [[ ! -f "$STATE/dovecot/users" ]]; then
    printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$MAIL_USER" "$MAIL_PASSWORD" \
      "$MAIL_UID" "$MAIL_GID" "$MAIL_HOME" >"$STATE/dovecot/users"
  fi
  # Read by the auth process, which runs as the "dovecot" user.
  chown root:dovecot "$STATE/dovecot/users"
  chmod 640 "$STATE/dovecot/users"
  seed_maildir
  dovecot -c "$DOVECOT_CONF" >>"$LOGS/dovecot-start.log" 2>&1 ||
    fail_service dovecot "$LOGS/dovecot-start.log" "dovecot failed to start (see also $LOGS/dovecot.log)"
}
# Pre-seed the INBOX with 10 messages (maildir files written directly), once.
seed_maildir() {
  local md="$MAIL_HOME/Maildir" i f
  [[ -d "$md/cur" ]] && return 0
  mkdir -p "$md/cur" "$md/new" "$md/tmp"
  for i in $(seq 1 10); do
    # Odd messages are \Seen, even ones unseen.
    if ((i % 2)); then f="$md/cur/$((1700000000 + i)).M${i}P1.mail.mssante.test:2,S"
    else f="$md/cur/$((1700000000 + i)).M${i}P1.mail.mssante.test:2,"; fi
    {
      printf 'Return-Path: <sender%d@example.test>\r\n' "$i"
      printf 'Date: %s\r\n' "$(LC_ALL=C date -u -d "@$((1700000000 + i * 3600))" '+%a, %d %b %Y %H:%M:%S +0000')"
      printf 'From: Sender %d <sender%d@example.test>\r\n' "$i" "$i"
      printf 'To: <%s>\r\n' "$MAIL_USER"
      printf 'Subject: Test message %d\r\n' "$i"
      printf 'Message-ID: <seed-%d@mssante.test>\r\n' "$i"
      printf 'MIME-Version: 1.0\r\n'
      printf 'Content-Type: text/plain; charset=utf-8\r\n'
      printf '\r\n'
      printf 'This is pre-seeded test message number %d.\r\n' "$i"
      printf 'It exists so that FETCH 1:10 has something to return.\r\n'
    } >"$f"
  done
  chown -R "$MAIL_UID:$MAIL_GID" "$STATE/mail"
  chmod -R go-rwx "$STATE/mail"
  chmod 755 "$STATE/mail"
}
dovecot_stop() {
  local pid
  pid="$(dovecot_pid)" || return 0
  stop_tree "$pid" 15
}

# ---- nginx: API stand-in, HTTP 13000 and HTTPS 13443 ----
nginx_pidfile() { echo "$STATE/nginx/nginx.pid"; }
nginx_pid() { pid_of "$(nginx_pidfile)" nginx; }
nginx_log() { echo "$LOGS/nginx-error.log"; }
nginx_ready() {
  curl -fsS --max-time 2 "http://$HOST:$API_PORT/health" &&
    curl -fsS --max-time 2 --cacert "$PKI/ca-bundle.pem" \
      --resolve "mail.mssante.test:$HTTPS_PORT:$HOST" "https://mail.mssante.test:$HTTPS_PORT/health"
}
nginx_start() {
  mkdir -p "$STATE/nginx/tmp"
  dns_fixtures
  render nginx.conf "$NGINX_CONF"
  # nginx repeats on stderr what it writes to its error log (-e).
  nginx -p "$STATE/nginx" -c "$NGINX_CONF" -e "$LOGS/nginx-error.log" \
    >>"$LOGS/nginx-start.log" 2>&1 ||
    fail_service nginx "$LOGS/nginx-error.log" "nginx failed to start"
}
nginx_stop() {
  local pid
  pid="$(nginx_pid)" || return 0
  stop_tree "$pid" 15 QUIT
}

# ---- NSD: authoritative DNS on 10053 (udp+tcp) ----
nsd_pidfile() { echo "$STATE/nsd/nsd.pid"; }
nsd_pid() { pid_of "$(nsd_pidfile)" nsd; }
nsd_log() { echo "$LOGS/nsd.log"; }
# (dig +short prints its errors on stdout too: match the answer itself.)
nsd_ready() {
  local proto
  for proto in +notcp +tcp; do
    [[ "$(dig +short "$proto" +time=1 +tries=1 -p "$DNS_PORT" @"$HOST" mssante.test SOA 2>/dev/null)" == "ns1.mssante.test. "* ]] ||
      return 1
  done
}
nsd_start() {
  mkdir -p "$STATE/nsd/zones" "$STATE/nsd/xfr"
  dns_fixtures
  render nsd.conf "$NSD_CONF"
  # Zone files: data, written once (tests may edit them and SIGHUP NSD).
  if [[ ! -f "$STATE/nsd/zones/mssante.test.zone" ]]; then
    DKIM_TXT="$(dkim_txt)"
    render mssante.test.zone "$STATE/nsd/zones/mssante.test.zone"
  fi
  [[ -f "$STATE/nsd/zones/77.0.127.in-addr.arpa.zone" ]] ||
    render 77.0.127.in-addr.arpa.zone "$STATE/nsd/zones/77.0.127.in-addr.arpa.zone"
  nsd-checkconf "$NSD_CONF" >>"$LOGS/nsd.log" 2>&1 ||
    fail_service nsd "$LOGS/nsd.log" "nsd-checkconf rejected $NSD_CONF"
  nsd -c "$NSD_CONF" >>"$LOGS/nsd.log" 2>&1 ||
    fail_service nsd "$LOGS/nsd.log" "nsd failed to start"
}
# ---- dns.* test zones and MTA-STS policies (tests/stack/dns-zones.sh) ----
# Included by nsd.conf ($STATE/dns/nsd-zones.conf) and nginx.conf (conf.d/dns-mta-sts.conf).
dns_fixtures() {
  STATE="$STATE" PKI="$PKI" HOST="$HOST" DKIM_TXT="$(dkim_txt)" bash "$SCRIPT_DIR/dns-zones.sh" ||
    die "dns-zones.sh failed"
  # The public record beside the private key, as opendkim-genkey writes it (default.txt
  # beside default.private): what dns.dkim reads when the key is kept from the user.
  printf 'default._domainkey\tIN\tTXT\t( %s )  ; ----- DKIM key default for mssante.test\n' \
    "$(dkim_txt)" >"$PKI/dkim.txt"
}
nsd_stop() {
  local pid
  pid="$(nsd_pid)" || return 0
  stop_tree "$pid" 15
}

# ---- ntp: the host's NTP client (chronyd, rtcsync: it clears the kernel's
# STA_UNSYNC once synchronised) against a second chronyd serving NTP on
# $HOST:10123 from the same clock (local stratum 8, no clock control). No
# network needed: the kernel clock is really disciplined, as on a platform.
ntp_pidfile() { echo "$STATE/chrony/client.pid"; }
ntp_pid() { pid_of "$(ntp_pidfile)" chronyd; }
ntp_log() { echo "$LOGS/chrony-client.log"; }
ntp_ready() { chronyc -h "$STATE/chrony/client.sock" waitsync 1 >/dev/null 2>&1; }
ntp_start() {
  local d="$STATE/chrony"
  mkdir -p "$d"
  chmod 700 "$d"
  printf '%s\n' "port 10123" "bindaddress $HOST" "allow 127.0.0.0/8" "local stratum 8" \
    "cmdport 0" "pidfile $d/server.pid" >"$d/server.conf"
  printf '%s\n' "server $HOST port 10123 iburst minpoll -4 maxpoll -4" "port 0" "cmdport 0" \
    "bindcmdaddress $d/client.sock" "rtcsync" "pidfile $d/client.pid" >"$d/client.conf"
  if ! pid_of "$d/server.pid" chronyd >/dev/null; then
    rm -f "$d/server.pid"
    chronyd -x -u root -f "$d/server.conf" -l "$LOGS/chrony-server.log" ||
      fail_service ntp "$LOGS/chrony-server.log" "the NTP server (chronyd) failed to start"
  fi
  chronyd -u root -f "$d/client.conf" -l "$LOGS/chrony-client.log" ||
    fail_service ntp "$LOGS/chrony-client.log" "the NTP client (chronyd) failed to start"
}
ntp_stop() {
  local pid
  if pid="$(ntp_pid)"; then kill_and_wait "$pid" 10; fi
  if pid="$(pid_of "$STATE/chrony/server.pid" chronyd)"; then kill_and_wait "$pid" 10; fi
}

# ---- dockerd: own socket, data-root, exec-root, no networking ----
dockerd_pidfile() { echo "$DOCKER_PIDFILE"; }
dockerd_pid() { pid_of "$(dockerd_pidfile)" dockerd; }
dockerd_log() { echo "$LOGS/dockerd.log"; }
docker_cli() { docker -H "$DOCKER_HOST_URL" "$@"; }
dockerd_ready() {
  [[ "$(curl -sS --max-time 2 --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null)" == OK ]]
}
# Launch dockerd in the background with an optional storage driver.
#
# dockerd runs in a private mount namespace (unshare) where /run is a fresh
# tmpfs and /etc/docker is bound to a dir of the state dir: dockerd 20.10
# writes /etc/docker/key.json, and its containerd/runc keep shim sockets and
# state under /run/containerd whatever their configured dirs. This way nothing
# of ours lands outside the state dir, and a system daemon's /run is untouched.
# Containers' mounts live in that namespace too (invisible from the host).
dockerd_launch() {
  local driver="${1:-}" args=()
  mkdir -p "$STATE/dockerd/etc" "$STATE/docker" "$DOCKER_EXEC_ROOT"
  [[ -f "$STATE/dockerd/daemon.json" ]] || echo '{}' >"$STATE/dockerd/daemon.json"
  [[ -n "$driver" ]] && args+=(--storage-driver "$driver")
  # Own daemon.json, own containerd namespaces (in case a system containerd
  # is running), no bridge/iptables/forwarding: the host network is never
  # touched and containers run with --network none. Stopping dockerd stops
  # running containers first (10 s each unless run with --stop-timeout).
  setsid unshare --mount --propagation private -- bash -c '
      set -e
      mount -n -t tmpfs -o mode=755 mssante-diag-run /run
      if [ -d /etc/docker ]; then mount -n --bind "$0" /etc/docker; fi
      exec "$@"' "$STATE/dockerd/etc" \
    dockerd \
    --host "$DOCKER_HOST_URL" \
    --data-root "$STATE/docker" \
    --exec-root "$DOCKER_EXEC_ROOT" \
    --pidfile "$DOCKER_PIDFILE" \
    --config-file "$STATE/dockerd/daemon.json" \
    --containerd-namespace mssante-diag \
    --containerd-plugins-namespace mssante-diag-plugins \
    --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --userland-proxy=false \
    "${args[@]}" </dev/null >>"$LOGS/dockerd.log" 2>&1 &
  local launcher=$!
  # Wait for the API; give up early if the daemon exits.
  local i
  for ((i = 0; i < 600; i++)); do
    dockerd_ready && return 0
    alive "$launcher" || return 1
    sleep 0.1
  done
  return 1
}
dockerd_start() {
  local driver=""
  [[ -f "$STATE/dockerd/storage-driver" ]] && driver="$(cat "$STATE/dockerd/storage-driver")"
  if ! dockerd_launch "$driver"; then
    if [[ -z "$driver" ]]; then
      # Default driver (overlay2) failed: stop what may be left, retry vfs.
      log "dockerd: default storage driver failed, falling back to vfs"
      dockerd_stop
      driver=vfs
      dockerd_launch vfs ||
        fail_service dockerd "$LOGS/dockerd.log" "dockerd failed to start (also with vfs)"
    else
      fail_service dockerd "$LOGS/dockerd.log" "dockerd failed to start (storage driver $driver)"
    fi
  fi
  if [[ ! -f "$STATE/dockerd/storage-driver" ]]; then
    docker_cli info --format '{{.Driver}}' >"$STATE/dockerd/storage-driver" 2>/dev/null ||
      rm -f "$STATE/dockerd/storage-driver"
  fi
  docker_image
}
# Build mssante-busybox:latest from busybox-static (no registry: docker import).
docker_image() {
  docker_cli image inspect "$DOCKER_IMAGE" >/dev/null 2>&1 && return 0
  log "dockerd: building $DOCKER_IMAGE from busybox-static"
  local rootfs="$STATE/busybox-rootfs" applet
  rm -rf "$rootfs"
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar --numeric-owner -C "$rootfs" -c . |
    docker_cli import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$DOCKER_IMAGE" \
      >>"$LOGS/dockerd.log" 2>&1 ||
    fail_service dockerd "$LOGS/dockerd.log" "docker import of $DOCKER_IMAGE failed"
  local out
  out="$(docker_cli run --rm --network none "$DOCKER_IMAGE" echo ok 2>>"$LOGS/dockerd.log")" || true
  [[ "$out" == ok ]] ||
    fail_service dockerd "$LOGS/dockerd.log" "docker run --network none $DOCKER_IMAGE echo ok failed"
}
dockerd_stop() {
  local pid
  if pid="$(dockerd_pid)"; then
    stop_tree "$pid" 30
  fi
  # The containerd that dockerd supervises normally exits with it.
  if pid="$(pid_of "$DOCKER_EXEC_ROOT/containerd/containerd.pid" containerd)"; then
    kill_and_wait "$pid" 10
  fi
}

# --------------------------------------------------------------------------
# Generic service control
# --------------------------------------------------------------------------
valid_service() {
  local s
  for s in "${SERVICES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  die "unknown service '$1' (expected one of: ${SERVICES[*]})"
}

# ---- tinyproxy: forward proxy of network.proxy on $PROXY_PORT ----
# CONNECT only to 443 and the stack's HTTPS port; its Filter refuses $PROXY_REFUSED_HOST.
tinyproxy_pidfile() { echo "$STATE/tinyproxy/tinyproxy.pid"; }
tinyproxy_pid() { pid_of "$(tinyproxy_pidfile)" tinyproxy; }
tinyproxy_log() { echo "$LOGS/tinyproxy.log"; }
tinyproxy_ready() {
  curl -fsS --max-time 2 -o /dev/null -x "http://$HOST:$PROXY_PORT" "http://$HOST:$API_PORT/health"
}
tinyproxy_start() {
  local d="$STATE/tinyproxy"
  mkdir -p "$d"
  printf '^refused\\.proxy\\.test$\n' >"$d/filter"
  cat >"$d/tinyproxy.conf" <<CONF
# mssante-diag test stack (stack.sh tinyproxy_start)
Port $PROXY_PORT
Listen $HOST
Timeout 30
LogFile "$LOGS/tinyproxy.log"
LogLevel Info
PidFile "$d/tinyproxy.pid"
MaxClients 50
Allow 127.0.0.0/8
Filter "$d/filter"
FilterDefaultDeny No
ConnectPort 443
ConnectPort $HTTPS_PORT
DisableViaHeader Yes
CONF
  touch "$LOGS/tinyproxy.log"
  chmod 666 "$LOGS/tinyproxy.log"
  tinyproxy -c "$d/tinyproxy.conf" >>"$LOGS/tinyproxy-start.log" 2>&1 ||
    fail_service tinyproxy "$LOGS/tinyproxy.log" "tinyproxy failed to start"
}
tinyproxy_stop() {
  local pid
  pid="$(tinyproxy_pid)" || return 0
  stop_tree "$pid" 15
}

# whitelist_generate: the espace de confiance list served by nginx (/espace-de-confiance/,
# mssante.whitelist): the stack's domain and two peers, generated now; and a truncated copy.
whitelist_generate() {
  local dir="$STATE/whitelist/www/espace-de-confiance" now
  mkdir -p "$dir"
  now="$(date --iso-8601=seconds)"
  cat >"$dir/listeblanchemssante.xml.tmp" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
  <DateDeGeneration>$now</DateDeGeneration>
  <ListeDomaines>
    <Domaine><Nom>$MAIL_DOMAIN</Nom><Description>Plateforme de test</Description><DNCertificatOperateur>CN=mail.$MAIL_DOMAIN,O=Test</DNCertificatOperateur><ResponsableContact>admin@$MAIL_DOMAIN</ResponsableContact><SupportContact>support@$MAIL_DOMAIN</SupportContact><DateMAJ>$now</DateMAJ></Domaine>
    <Domaine><Nom>peer.mssante.test</Nom><Description>Pair</Description><DNCertificatOperateur>CN=mx.peer.mssante.test</DNCertificatOperateur><DateMAJ>$now</DateMAJ></Domaine>
    <Domaine><Nom>ch-exemple.mssante.fr</Nom><Description>CH</Description><DNCertificatOperateur>CN=mx.ch-exemple.mssante.fr</DNCertificatOperateur><DateMAJ>$now</DateMAJ></Domaine>
  </ListeDomaines>
</ListeBlancheMSSante>
XML
  mv -f "$dir/listeblanchemssante.xml.tmp" "$dir/listeblanchemssante.xml"
  head -c 200 "$dir/listeblanchemssante.xml" >"$dir/truncated.xml"
  chmod -R a+rX "$STATE/whitelist"
}

# ensure_service NAME: start NAME unless running, then wait until it answers.
ensure_service() {
  local name="$1" timeout=30
  [[ "$name" == dockerd ]] && timeout=60
  if ! "${name}_pid" >/dev/null; then
    # A pid file left by a killed run could name a reused pid, and some
    # daemons (dockerd, dovecot) refuse to start over it.
    rm -f "$("${name}_pidfile")"
    "${name}_start"
  fi
  wait_until "$timeout" "${name}_ready" ||
    fail_service "$name" "$("${name}_log")" "not answering after ${timeout}s"
}

stop_service() {
  local name="$1"
  "${name}_stop"
  if "${name}_pid" >/dev/null; then die "$name: still running after stop"; fi
}

# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------
cmd_up() {
  cmd_install
  prepare_state
  pki_generate
  pki_cases_generate
  oidc_generate
  write_env
  # Order: Postfix's queue dir must exist before Dovecot puts its sockets
  # there; Postfix starts after Dovecot so SASL/LMTP are there at once.
  local s
  for s in postgres redis; do ensure_service "$s"; done
  postfix_prepare
  for s in dovecot postfix nginx nsd dockerd; do ensure_service "$s"; done
  ensure_service ntp
  ensure_service tinyproxy
  whitelist_generate
  oidc_nginx_refresh
  log "all services up; env file: $ENV_FILE"
}

cmd_down() {
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_service "${SERVICES[i]}"; done
  log "all services stopped"
}

cmd_start() {
  valid_service "$1"
  prepare_state
  pki_generate
  pki_cases_generate
  oidc_generate
  write_env
  ensure_service "$1"
  # Postfix smtpd needs Dovecot's sockets: after Dovecot comes back, reload
  # Postfix so new smtpd processes connect again (no throttling delay).
  if [[ "$1" == dovecot ]] && postfix_pid >/dev/null; then
    postfix -c "$PF_CONFIG" reload >>"$LOGS/postfix-start.log" 2>&1 || true
  fi
}

cmd_stop() {
  valid_service "$1"
  stop_service "$1"
}

cmd_status() {
  local s pid
  for s in "${SERVICES[@]}"; do
    if pid="$("${s}_pid")"; then printf '%s up\n' "$s"; else printf '%s down\n' "$s"; fi
  done
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit 2
}

# Serialize state-changing commands across processes. The lock is held by
# flock(1) itself; -o keeps its descriptor away from the daemons we start.
with_lock() {
  if [[ -z "${MSSANTE_STACK_LOCKED:-}" ]]; then
    mkdir -p "$(dirname "$STATE")"
    MSSANTE_STACK_LOCKED=1 exec flock -o -w 900 "$STATE.lock" bash "${BASH_SOURCE[0]}" "$@"
  fi
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install) with_lock "$@"; cmd_install ;;
    up) with_lock "$@"; cmd_up ;;
    down) with_lock "$@"; cmd_down ;;
    start) [[ $# -eq 2 ]] || usage; with_lock "$@"; cmd_start "$2" ;;
    stop) [[ $# -eq 2 ]] || usage; with_lock "$@"; cmd_stop "$2" ;;
    status) cmd_status ;;
    env) write_env; printf '%s\n' "$ENV_FILE" ;;
    -h | --help | help | "") usage ;;
    *) usage ;;
  esac
}

main "$@"
