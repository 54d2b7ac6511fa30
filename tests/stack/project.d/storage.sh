#!/usr/bin/env bash
# [storage] of the test project. storage.smart is disabled here, explicitly: the test VM's only
# disk is a virtio disk with no SMART data (smartctl: "Unable to detect device type"), so the
# check could only be `skipped`. Its tests (tests/it/backup.rs) enable it and check that path.
# Usage: storage.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
cat >>"$1" <<TOML

[storage]
smart = false
TOML
