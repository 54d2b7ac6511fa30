#!/usr/bin/env bash
# [network] of the test project: no proxy (network.proxy reaches the endpoints directly), and
# every loopback address out of any proxy a CI environment's HTTPS_PROXY would set: the stack
# is all on 127.0.77.1. Tests that want the proxy (tinyproxy, $PROXY_URL) set it themselves.
# Usage: network.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"

cat >>"$1" <<TOML

[network]
no_proxy = "localhost,127.0.0.0/8,::1"
TOML
