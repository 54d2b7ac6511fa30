#!/usr/bin/env bash
# [storage] of the test project. storage.usage also counts the uncompressed dumps of the backup
# fixture (backup.sh). storage.smart is disabled here, explicitly: the test VM's only
# disk is a virtio disk with no SMART data (smartctl: "Unable to detect device type"), so the
# check could only be `skipped`. Its tests (tests/it/backup.rs) enable it and check that path.
# Usage: storage.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
cat >>"$1" <<TOML

[storage]
smart = false
backup_dirs = ["backup-fixture"]
TOML
# storage.permissions: the data folders belong to the service user (the guide's uid 1000) with
# mode 755, as on a platform after `chown -R 1000:1000 data/`.
PROJECT_DIR="$(dirname "$1")"
mkdir -p "$PROJECT_DIR/data/mail" "$PROJECT_DIR/data/logs"
chown 1000:1000 "$PROJECT_DIR/data" "$PROJECT_DIR/data/mail" "$PROJECT_DIR/data/logs"
chmod 755 "$PROJECT_DIR/data" "$PROJECT_DIR/data/mail" "$PROJECT_DIR/data/logs"
