#!/usr/bin/env bash
# [system] of the test project: the filesystems system.disk watches, the stack's real listeners
# (system.ports: its PostgreSQL, Redis, Postfix, Dovecot and nginx on $STACK_HOST with the
# processes that hold them), and a clean kernel log for system.io_errors (kern.log, written here:
# the test VM's own /dev/kmsg is read by tests/it/system.rs, not judged by the healthy stack).
# The test VM runs several compilers at once: system.resources' load thresholds are set far
# above what they make, its memory and swap thresholds are the defaults.
# system.clock needs no setting: the stack's NTP client (stack.sh, service ntp) disciplines the clock.
# Usage: system.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
PROJECT_DIR="$(dirname "$1")"
KERN="$PROJECT_DIR/kern.log"
if [[ ! -f "$KERN" ]]; then
  cat >"$KERN.tmp.$$" <<'LOG'
Nov 30 10:21:01 mssante kernel: [    0.000000] Linux version 6.1.0-26-amd64 (debian-kernel@lists.debian.org)
Nov 30 10:21:01 mssante kernel: [    1.204311] sd 0:0:0:0: [sda] 209715200 512-byte logical blocks: (107 GB/100 GiB)
Nov 30 10:21:01 mssante kernel: [    1.207730]  sda: sda1 sda14 sda15
Nov 30 10:21:01 mssante kernel: [    2.981004] EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.
Nov 30 10:21:03 mssante kernel: [    5.114276] docker0: port 1(veth3a1b2c4) entered forwarding state
Nov 30 10:21:04 mssante kernel: [    6.002118] br-5f0e1c2d3a4b: port 2(veth9f8e7d6) entered blocking state
LOG
  mv -f "$KERN.tmp.$$" "$KERN"
fi
cat >>"$1" <<TOML

[system]
disk_paths = ["data", "$PG_DATA"]
load_warn_per_cpu = 50.0
load_crit_per_cpu = 100.0
kernel_log = "kern.log"

[[system.ports]]
name = "postgres"
port = $PG_PORT
address = "$STACK_HOST"
processes = ["postgres"]

[[system.ports]]
name = "redis"
port = $REDIS_PORT
address = "$STACK_HOST"
processes = ["redis-server"]

[[system.ports]]
name = "smtp"
port = $SMTP_PORT
address = "$STACK_HOST"
processes = ["master"]

[[system.ports]]
name = "submission"
port = $SUBMISSION_PORT
address = "$STACK_HOST"
processes = ["master"]

[[system.ports]]
name = "imap"
port = $IMAP_PORT
address = "$STACK_HOST"
processes = ["dovecot"]

[[system.ports]]
name = "api"
port = $API_PORT
address = "$STACK_HOST"
processes = ["nginx"]

[[system.ports]]
name = "https"
port = $HTTPS_PORT
address = "$STACK_HOST"
processes = ["nginx"]
TOML
