#!/usr/bin/env bash
# The packaging command (packaging/build.sh, dev profile: it reuses the debug builds of the
# tests and of the bindings' run-tests.sh) and what a user gets from its artefacts, against
# the running test stack:
#   .deb: the expected files (dpkg-deb -c); the binary extracted with dpkg -x runs `quick`, all
#         ok; the man page, completions, example configuration and systemd units are valid; the
#         service's commands write the Prometheus textfile atomically and keep the previous
#         file when a run yields no report;
#   tarball: the same files under usr/;
#   wheel: installs in a fresh virtualenv (no index) and runs a healthy quick check;
#   npm tarball: installs offline in an empty project (no install script, no dependency) and
#         runs a healthy quick check.
# Usage: bash tests/packaging.sh (called by tests/run-all.sh after the bindings).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack/on-error.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PROJECT="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}/project"
OUT="$TARGET/packaging-test"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fail() { echo "packaging.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

bash "$ROOT/tests/stack/stack.sh" up >/dev/null
[ -f "$PROJECT/.env" ] || bash "$ROOT/tests/stack/write-project.sh" >/dev/null

echo "== packaging/build.sh --profile dev"
rm -rf "$OUT"
bash "$ROOT/packaging/build.sh" --profile dev "$OUT"
shopt -s nullglob
debs=("$OUT"/mssante-diag_*.deb) tars=("$OUT"/mssante-diag-*-linux.tar.gz)
wheels=("$OUT"/mssante_diag-*.whl) tgzs=("$OUT"/mssante-diag-[0-9]*.tgz)
shopt -u nullglob
for kind in debs tars wheels tgzs; do
  declare -n list="$kind"
  [ "${#list[@]}" -eq 1 ] || fail "expected one artefact of kind $kind in $OUT, found ${#list[@]}"
done
ok "the .deb, the tarball, the wheel and the npm tarball are built"
DEB="${debs[0]}" TARBALL="${tars[0]}" WHEEL="${wheels[0]}" NPMTGZ="${tgzs[0]}"

echo "== .deb"
EXPECTED=(
  usr/bin/mssante-diag
  usr/share/man/man1/mssante-diag.1.gz
  usr/share/bash-completion/completions/mssante-diag
  usr/share/zsh/vendor-completions/_mssante-diag
  usr/share/fish/vendor_completions.d/mssante-diag.fish
  usr/share/doc/mssante-diag/examples/mssante-diag.toml
  usr/share/doc/mssante-diag/examples/nagios/mssante-diag.cfg
  usr/share/doc/mssante-diag/examples/icinga2/mssante-diag.conf
  usr/share/doc/mssante-diag/examples/prometheus/mssante-diag.rules.yml
  usr/share/doc/mssante-diag/least-privilege.md
  usr/share/doc/mssante-diag/copyright
  usr/lib/systemd/system/mssante-diag-textfile.service
  usr/lib/systemd/system/mssante-diag-textfile.timer
)
# File paths of the .deb, without ./ and without folders.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' | sort > "$TMP/deb-files"
for f in "${EXPECTED[@]}"; do
  grep -qxF "$f" "$TMP/deb-files" || fail "dpkg-deb -c $DEB does not list $f"
done
ok "dpkg-deb -c lists the binary, man page, completions, example configuration, Nagios/Icinga definitions and systemd units"
[ "$(dpkg-deb -f "$DEB" Package)" = mssante-diag ] || fail "package name"
dpkg-deb -c "$DEB" | grep -q ' \./usr/bin/mssante-diag$' && dpkg-deb -c "$DEB" | grep '\./usr/bin/mssante-diag$' | grep -q '^-rwxr-xr-x' \
  || fail "usr/bin/mssante-diag is not an executable of the package"

X="$TMP/deb"
dpkg -x "$DEB" "$X"
BIN="$X/usr/bin/mssante-diag"
if ! timeout 120 "$BIN" --project "$PROJECT" quick > "$TMP/quick.txt"; then
  cat "$TMP/quick.txt"; fail "the extracted binary's quick on the test stack is not all ok"
fi
grep -q 'Overall: OK' "$TMP/quick.txt" || fail "no 'Overall: OK' in the extracted binary's quick"
ok "the binary extracted with dpkg -x runs quick on the test stack: all ok"

zcat "$X/usr/share/man/man1/mssante-diag.1.gz" | grep -q '^\.TH mssante-diag 1' || fail "the man page has no .TH header"
zcat "$X/usr/share/man/man1/mssante-diag.1.gz" | grep -q -- 'project' || fail "the man page does not document --project"
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$X/usr/share/man/man1/mssante-diag.1.gz" 2>/dev/null | grep -q 'mssante-diag' || fail "man -l cannot render the man page"
fi
bash -n "$X/usr/share/bash-completion/completions/mssante-diag" || fail "the bash completion does not parse"
# The bash completion completes the subcommands.
words="$(bash -c 'source "$1"; COMP_WORDS=(mssante-diag qu); COMP_CWORD=1; COMP_LINE="mssante-diag qu"; COMP_POINT=${#COMP_LINE}; fn="$(complete -p mssante-diag | sed -n "s/.*-F \([^ ]*\).*/\1/p")"; "$fn" mssante-diag qu mssante-diag; echo "${COMPREPLY[*]}"' _ "$X/usr/share/bash-completion/completions/mssante-diag")"
[[ " $words " == *" quick "* ]] || fail "bash completion of 'mssante-diag qu' gives '$words', not quick"
grep -q '^#compdef mssante-diag' "$X/usr/share/zsh/vendor-completions/_mssante-diag" || fail "zsh completion header"
grep -q '^complete -c mssante-diag' "$X/usr/share/fish/vendor_completions.d/mssante-diag.fish" || fail "fish completion"
ok "man page and bash/zsh/fish completions"

for f in nagios/mssante-diag.cfg icinga2/mssante-diag.conf; do
  grep -q '/usr/bin/mssante-diag' "$X/usr/share/doc/mssante-diag/examples/$f" || fail "$f does not name /usr/bin/mssante-diag"
  ! grep -q '/usr/local/bin' "$X/usr/share/doc/mssante-diag/examples/$f" || fail "$f still names /usr/local/bin"
done
ok "the Nagios and Icinga 2 definitions call the packaged /usr/bin/mssante-diag"

# The example configuration is accepted as is, and with every commented default uncommented
# (its keys are real keys: unknown ones are rejected with exit code 3).
EXAMPLE="$X/usr/share/doc/mssante-diag/examples/mssante-diag.toml"
# Never a secret: credentials are only named by their *_env variable.
! grep -qE '^#? ?[a-z_]*(password|secret|token|api_key) = ' "$EXAMPLE" || fail "the example configuration holds a secret key"
mkdir -p "$TMP/example1" "$TMP/example2"
cp "$EXAMPLE" "$TMP/example1/mssante-diag.toml"
sed -E 's/^# ([a-z_]+ = )/\1/' "$EXAMPLE" > "$TMP/example2/mssante-diag.toml"
[ "$(grep -cE '^[a-z_]+ = ' "$TMP/example2/mssante-diag.toml")" -gt 50 ] || fail "the example configuration shows too few settings"
"$BIN" --project "$TMP/example1" config >/dev/null || fail "the example configuration is rejected"
"$BIN" --project "$TMP/example2" config >/dev/null || fail "the example configuration's commented defaults are rejected"
ok "the example configuration (and its commented defaults) is accepted by mssante-diag config"

UNITS="$X/usr/lib/systemd/system"
if command -v systemd-analyze >/dev/null; then
  # --man=no: the man page is in the package, not installed on this host.
  systemd-analyze verify --man=no "$UNITS/mssante-diag-textfile.service" "$UNITS/mssante-diag-textfile.timer" \
    || fail "systemd-analyze verify rejects the units"
  ok "systemd-analyze verify accepts the service and the timer"
else
  echo "skip - systemd-analyze verify: systemd-analyze is not installed"
fi
grep -qx 'OnUnitActiveSec=1min' "$UNITS/mssante-diag-textfile.timer" || fail "the timer does not run every minute"
for directive in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes SupplementaryGroups=docker \
    Environment=MSSANTE_PROJECT=/srv/mssante Environment=TEXTFILE_DIR=/var/lib/prometheus/node-exporter; do
  grep -qx "$directive" "$UNITS/mssante-diag-textfile.service" || fail "the service lacks $directive"
done
# The service's two commands, as systemd runs them ($$ is $; the binary is the extracted one).
unit_cmd() {
  sed -n "s/^$1=+\{0,1\}\/bin\/sh -c '\(.*\)'\$/\1/p" "$UNITS/mssante-diag-textfile.service" \
    | sed -e 's/\$\$/$/g' -e "s|/usr/bin/mssante-diag|$BIN|g"
}
START="$(unit_cmd ExecStart)" POST="$(unit_cmd ExecStartPost)"
[ -n "$START" ] && [ -n "$POST" ] || fail "cannot read ExecStart/ExecStartPost of the service"
mkdir -p "$TMP/state" "$TMP/textfile"
unit_env=(env STATE_DIRECTORY="$TMP/state" TEXTFILE_DIR="$TMP/textfile")
timeout 120 "${unit_env[@]}" MSSANTE_PROJECT="$PROJECT" sh -c "$START" && "${unit_env[@]}" sh -c "$POST" \
  || fail "the service's commands failed on the test stack"
PROM="$TMP/textfile/mssante-diag.prom"
[ -s "$PROM" ] || fail "no $PROM"
grep -q '^mssante_diag_' "$PROM" || fail "$PROM holds no mssante_diag_ metric"
[ "$(ls -A "$TMP/textfile")" = mssante-diag.prom ] || fail "temporary files left in the textfile folder: $(ls -A "$TMP/textfile")"
# A run with no report (a configuration error) fails the unit and keeps the previous file.
cp "$PROM" "$TMP/prom.before"
mkdir -p "$TMP/broken" && echo 'no_such_key = 1' > "$TMP/broken/mssante-diag.toml"
if "${unit_env[@]}" MSSANTE_PROJECT="$TMP/broken" sh -c "$START" 2>/dev/null; then
  fail "the service's ExecStart succeeded without a report"
fi
cmp -s "$PROM" "$TMP/prom.before" || fail "a run without a report changed $PROM"
[ "$(ls -A "$TMP/textfile")" = mssante-diag.prom ] && [ "$(ls -A "$TMP/state")" = mssante-diag.prom ] \
  || fail "a run without a report left temporary files"
ok "the service's commands write the textfile atomically on the test stack and keep it on a run without a report"

echo "== tarball"
tar -tzf "$TARBALL" | grep -v '/$' | sort > "$TMP/tar-files"
diff -u "$TMP/deb-files" "$TMP/tar-files" || fail "the tarball's files are not the .deb's"
mkdir -p "$TMP/tar" && tar -xzf "$TARBALL" -C "$TMP/tar"
cmp -s "$TMP/tar/usr/bin/mssante-diag" "$BIN" || fail "the tarball's binary is not the .deb's"
ok "the tarball holds the .deb's files under usr/"

echo "== wheel"
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$WHEEL"
(cd "$TMP" && timeout 120 "$TMP/venv/bin/python" - "$PROJECT" <<'EOF') || fail "the installed wheel's quick check is not all ok"
import sys, mssante_diag
report = mssante_diag.run_sync(mssante_diag.Config(sys.argv[1]), quick=True)
bad = [(c.id, c.status, c.summary) for c in report.checks if c.status != "ok"]
assert report.checks and report.status == "ok" and not bad, (report.status, bad)
print(f"wheel: {len(report.checks)} checks ok")
EOF
ok "the wheel installs in a fresh virtualenv and runs a healthy quick check"

echo "== npm tarball"
mkdir -p "$TMP/npm-project"
tar -xzOf "$NPMTGZ" package/package.json | node -e '
  const p = JSON.parse(require("fs").readFileSync(0, "utf8"))
  if (p.scripts?.install || p.dependencies) { console.error("install script or dependencies:", p.scripts, p.dependencies); process.exit(1) }
' || fail "the npm tarball's package.json has an install script or dependencies"
(cd "$TMP/npm-project" && echo '{"name":"empty","version":"1.0.0","private":true}' > package.json \
  && npm install --offline --no-audit --no-fund --silent "$NPMTGZ") || fail "npm install of $NPMTGZ in an empty project"
(cd "$TMP/npm-project" && timeout 120 node -e '
  const { run } = require("mssante-diag")
  run({ projectDir: process.argv[1], quick: true }).then((report) => {
    const bad = report.checks.filter((c) => c.status !== "ok").map((c) => [c.id, c.status, c.summary])
    if (report.status !== "ok" || !report.checks.length || bad.length) { console.error(report.status, bad); process.exit(1) }
    console.log(`npm: ${report.checks.length} checks ok`)
  }, (e) => { console.error(e); process.exit(1) })
' "$PROJECT") || fail "the installed npm package's quick check is not all ok"
ok "the npm tarball installs offline in an empty project and runs a healthy quick check"

echo "== packaging: all ok"
