#!/usr/bin/env bash
# [docker] section of the test project, and its healthy compose project "mssante-test" on the
# stack's dockerd: one busybox container per platform service, compose-labelled, no network,
# restarted with the daemon (so stopping dockerd in a fault test leaves it healthy afterwards).
# Usage: docker.sh TOML_FILE (called by write-project.sh). Idempotent.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
PROJECT=mssante-test
SERVICES=(api postgres redis postfix dovecot traefik)

cat >>"$1" <<TOML

[docker]
host = "$DOCKER_HOST"
project = "$PROJECT"
services = [$(printf '"%s", ' "${SERVICES[@]}" | sed 's/, $//')]
TOML

d() { docker -H "$DOCKER_HOST" "$@"; }
for svc in "${SERVICES[@]}"; do
  name="$PROJECT-$svc-1"
  state="$(d inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)"
  case "$state" in
    running) continue ;;
    "") ;;
    *) d rm -f "$name" >/dev/null ;;
  esac
  health=()
  # The API stand-in has a healthcheck, like the platform's API.
  [[ "$svc" == api ]] && health=(--health-cmd true --health-interval 1s --health-retries 1)
  d run -d --name "$name" --network none --restart unless-stopped --stop-signal KILL \
    --label "com.docker.compose.project=$PROJECT" --label "com.docker.compose.service=$svc" \
    "${health[@]}" "$DOCKER_IMAGE" sh -c "echo '$svc ready'; exec sleep 2147483647" >/dev/null
done
# Wait (bounded) until the healthcheck has passed once; a project that never gets
# healthy fails the set-up (every healthy-stack test would fail later, less clearly).
health=""
for _ in $(seq 1 100); do
  health="$(d inspect -f '{{.State.Health.Status}}' "$PROJECT-api-1" 2>/dev/null || true)"
  [[ "$health" == healthy ]] && exit 0
  sleep 0.2
done
echo "docker.sh: ERROR: $PROJECT-api-1 is not healthy after 20 s (state: ${health:-none})" >&2
d inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$PROJECT-api-1" >&2 || true
exit 1
