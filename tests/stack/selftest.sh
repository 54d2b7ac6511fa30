#!/usr/bin/env bash
# The set-up fails loudly: a set-up step that fails (here every openssl call, through a
# stand-in earlier on PATH) must stop stack.sh with a non-zero status and name the
# failing command, and must not leave a PKI marked complete. Runs in a scratch state dir.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/on-error.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scratch="$(mktemp -d /tmp/mssante-selftest.XXXXXX)"
# The state dir is a tmpfs of its own (stack.sh mounts it): unmount it first.
cleanup() { if mountpoint -q "$scratch/state"; then umount "$scratch/state"; fi; rm -rf "$scratch"; }
trap cleanup EXIT
mkdir -p "$scratch/bin"
printf '#!/bin/sh\nexit 1\n' >"$scratch/bin/openssl"
chmod +x "$scratch/bin/openssl"
rc=0
PATH="$scratch/bin:$PATH" MSSANTE_STACK_DIR="$scratch/state" bash "$here/stack.sh" up 2>"$scratch/err" || rc=$?
if [[ $rc -eq 0 ]]; then echo "selftest: a failed openssl step did not fail the set-up" >&2; exit 1; fi
grep -q 'ERROR: line [0-9]*: "openssl ' "$scratch/err" || { echo "selftest: the failing command was not named:" >&2; cat "$scratch/err" >&2; exit 1; }
if [[ -e "$scratch/state/pki/.complete" ]]; then echo "selftest: a half-made PKI was marked complete" >&2; exit 1; fi
echo "selftest: a broken set-up step fails (status $rc) and names its command"
