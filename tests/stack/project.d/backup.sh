#!/usr/bin/env bash
# [backup] of the test project and its fixtures, in $PROJECT/backup-fixture/: a real pg_dumpall
# of the stack's PostgreSQL (its superuser) and a tar.gz of the project's data folder, each with
# the two previous nights' copies (dated back with touch) so that sizes compare, and a
# latest.tar.gz link as the guide's restore.sh expects. Rewritten on every run, so the newest
# archives are always fresh (kept when under an hour old). Usage: backup.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
cat >>"$1" <<TOML

[backup]
paths = ["backup-fixture"]
TOML

PROJECT_DIR="$(dirname "$1")"
LINK="$PROJECT_DIR/backup-fixture"
# Other test processes may read the fixture while this runs: a fresh one (under an hour) is
# kept; otherwise a new generation is written beside it and the link swapped atomically.
if [[ -L "$LINK" ]] && [[ -n "$(find -L "$LINK/" -maxdepth 1 -name 'mssante-*.sql' -mmin -60 2>/dev/null)" ]]; then
  exit 0
fi
[[ -e "$LINK" && ! -L "$LINK" ]] && rm -rf "$LINK"
GEN="backup-fixture.$(date -u +%Y%m%d%H%M%S).$$"
B="$PROJECT_DIR/$GEN"
mkdir -p "$B"
chmod 755 "$B"
stamp() { date -u -d "$1" +%Y%m%d-%H%M%S; }
dump="$B/.tmp-dump.sql"
PGPASSWORD="$PG_SUPERPASSWORD" "$PG_BIN/pg_dumpall" -h "$STACK_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" >"$dump"
data="$B/.tmp-data.tar.gz"
rc=0
tar -C "$PROJECT_DIR" --warning=no-file-changed -czf "$data" data || rc=$?
# 1: a file changed while it was read (another test writing its logs); the archive is whole.
[[ $rc -le 1 ]] || { echo "backup.sh: ERROR: tar of the data folder exited with $rc" >&2; exit 1; }
for when in "2 days ago" "1 day ago" "now"; do
  name="$(stamp "$when")"
  cp "$dump" "$B/mssante-$name.sql"
  cp "$data" "$B/data-$name.tar.gz"
  touch -d "$when" "$B/mssante-$name.sql" "$B/data-$name.tar.gz"
done
ln -s "data-$name.tar.gz" "$B/latest.tar.gz"
rm -f "$dump" "$data"
ln -sfn "$GEN" "$PROJECT_DIR/.backup-fixture.new.$$"
mv -T "$PROJECT_DIR/.backup-fixture.new.$$" "$LINK"
# Older generations go, but the one just replaced stays a while for a reader still in it.
find "$PROJECT_DIR" -maxdepth 1 -name 'backup-fixture.*' -type d -mmin +10 ! -name "$GEN" -exec rm -rf {} +
