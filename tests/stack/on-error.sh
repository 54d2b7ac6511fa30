# Sourced by every set-up and test script (after `set -Eeuo pipefail`): a step that fails
# prints the script, the line, the command (its first line) and its exit status.
trap 'rc=$? cmd=${BASH_COMMAND%%$'"'"'\n'"'"'*}; printf "%s: ERROR: line %s: \"%s\" exited with status %s\n" "${BASH_SOURCE[0]##*/}" "$LINENO" "${cmd:0:160}" "$rc" >&2' ERR
