#!/usr/bin/env bash
# Builds everything a user installs without a checkout, into OUTDIR (default target/dist):
#   mssante-diag_<version>-1_<arch>.deb          Debian package (cargo-deb, [package.metadata.deb]
#                                                of mssante-diag-cli/Cargo.toml)
#   mssante-diag-<version>-<machine>-linux.tar.gz the .deb's files under usr/, for other distributions
#   mssante_diag-<version>-cp39-abi3-*.whl        the Python binding (maturin)
#   mssante-diag-<version>.tgz                    the Node binding with its prebuilt addon (npm pack)
# Usage: bash packaging/build.sh [--profile release|dev] [OUTDIR]
# release (the default) is what to ship; dev reuses the debug builds of the tests (CI:
# tests/packaging.sh), which cargo-deb accepts with a warning.
# Needs cargo, python3 (venv), npm, and dpkg-deb/dpkg-shlibdeps (installed with apt-get when
# missing, as is cargo-deb itself, pinned).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/stack/on-error.sh"

CARGO_DEB_VERSION=3.8.0   # builds with the workspace's rust-version (cargo-deb needs 1.85)
MATURIN_VERSION=1.16.0    # as bindings-python/run-tests.sh

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PROFILE=release
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:-}"; shift 2 ;;
    --profile=*) PROFILE="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option $1 (usage: build.sh [--profile release|dev] [OUTDIR])" >&2; exit 2 ;;
    *) OUT="$1"; shift ;;
  esac
done
case "$PROFILE" in
  release) PROFILE_DIR=release; MATURIN_PROFILE=(--release); NAPI_PROFILE=(--release); DEB_FLAGS=() ;;
  dev) PROFILE_DIR=debug; MATURIN_PROFILE=(--profile dev); NAPI_PROFILE=(); DEB_FLAGS=(--fast) ;;
  *) echo "build.sh: --profile must be release or dev, not '$PROFILE'" >&2; exit 2 ;;
esac
OUT="${OUT:-$TARGET/dist}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$TARGET/packaging-work"
rm -rf "$WORK"
mkdir -p "$WORK"

echo "== tools"
if ! command -v dpkg-deb >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
  command -v apt-get >/dev/null || { echo "build.sh: dpkg-deb and dpkg-shlibdeps are needed (Debian's dpkg-dev)" >&2; exit 1; }
  apt-get install -y -qq dpkg-dev >/dev/null
fi
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

echo "== mssante-diag ($PROFILE)"
(cd "$ROOT" && cargo build --quiet --locked --profile "$PROFILE" -p mssante-diag-cli)
BIN="$TARGET/$PROFILE_DIR/mssante-diag"
VERSION="$("$BIN" --version | awk '{print $2}')"

# Assets generated from the built binary and examples/, where [package.metadata.deb] reads them
# (target/release/ there stands for $TARGET/$PROFILE_DIR/).
ASSETS="$TARGET/$PROFILE_DIR/package-assets"
rm -rf "$ASSETS"
mkdir -p "$ASSETS/completions" "$ASSETS/examples/nagios" "$ASSETS/examples/icinga2"
"$BIN" man | gzip -9n > "$ASSETS/mssante-diag.1.gz"
"$BIN" completions bash > "$ASSETS/completions/mssante-diag"
"$BIN" completions zsh > "$ASSETS/completions/_mssante-diag"
"$BIN" completions fish > "$ASSETS/completions/mssante-diag.fish"
# The example configuration is what `init` writes for a folder with nothing in it: every
# built-in default, commented, and the *_env variables secrets are read from (never a value).
mkdir -p "$WORK/srv/mssante"
(unset LANG LC_ALL LC_MESSAGES; "$BIN" --project "$WORK/srv/mssante" init >/dev/null)
sed "s|$WORK/srv/mssante|/srv/mssante|g" "$WORK/srv/mssante/mssante-diag.toml" > "$ASSETS/examples/mssante-diag.toml"
for f in nagios/mssante-diag.cfg icinga2/mssante-diag.conf; do
  sed 's|/usr/local/bin/mssante-diag|/usr/bin/mssante-diag|g' "$ROOT/examples/$f" > "$ASSETS/examples/$f"
done

echo "== .deb (cargo-deb $CARGO_DEB_VERSION)"
(cd "$ROOT" && cargo deb --quiet -p mssante-diag-cli --no-build --profile "$PROFILE" "${DEB_FLAGS[@]}" --output "$OUT/" >/dev/null)
DEB="$(ls -t "$OUT"/mssante-diag_"$VERSION"-*.deb | head -1)"
echo "$DEB"

echo "== tarball (the .deb's files)"
TARBALL="$OUT/mssante-diag-$VERSION-$(uname -m)-linux.tar.gz"
dpkg-deb -x "$DEB" "$WORK/root"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$WORK/root" -czf "$TARBALL" usr
echo "$TARBALL"

echo "== Python wheel (maturin $MATURIN_VERSION)"
MATURIN="$TARGET/python-venv/bin/maturin"   # bindings-python/run-tests.sh's, when it is there
if ! [ -x "$MATURIN" ] || [ "$("$MATURIN" --version)" != "maturin $MATURIN_VERSION" ]; then
  python3 -m venv "$TARGET/packaging-venv"
  "$TARGET/packaging-venv/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION"
  MATURIN="$TARGET/packaging-venv/bin/maturin"
fi
rm -f "$OUT"/mssante_diag-*.whl
# Same flags as bindings-python/run-tests.sh, so CI reuses its build.
(cd "$ROOT/bindings-python" && "$MATURIN" build --quiet "${MATURIN_PROFILE[@]}" --strip --out "$OUT")
ls "$OUT"/mssante_diag-*.whl

echo "== npm tarball (prebuilt addon, no install script)"
NODE_DIR="$ROOT/bindings-node"
[ -x "$NODE_DIR/node_modules/.bin/napi" ] || (cd "$NODE_DIR" && npm ci --no-audit --no-fund --foreground-scripts)
STAGE="$WORK/npm"
mkdir -p "$STAGE"
# Same flags as the package's install script (bindings-node/run-tests.sh), so CI reuses its build.
(cd "$NODE_DIR" && node_modules/.bin/napi build --platform --no-js "${NAPI_PROFILE[@]}" \
  --output-dir "$STAGE" --dts "$WORK/napi-binding.d.ts" >/dev/null)
strip --strip-unneeded "$STAGE"/*.node
cp "$NODE_DIR"/{index.js,index.d.ts,binding.js,binding.d.ts,report.d.ts,README.md} "$STAGE/"
# The published package.json: the addon is prebuilt, so no install script (it builds from the
# Rust sources) and no dependency.
node -e '
  const fs = require("fs"), [src, dst] = process.argv.slice(1)
  const p = JSON.parse(fs.readFileSync(src, "utf8"))
  for (const k of ["scripts", "dependencies", "devDependencies", "napi"]) delete p[k]
  p.files = ["index.js", "index.d.ts", "binding.js", "binding.d.ts", "report.d.ts", "*.node"]
  fs.writeFileSync(dst, JSON.stringify(p, null, 2) + "\n")
' "$NODE_DIR/package.json" "$STAGE/package.json"
rm -f "$OUT"/mssante-diag-*.tgz
(cd "$STAGE" && npm pack --silent --pack-destination "$OUT" >/dev/null)
ls "$OUT"/mssante-diag-"$VERSION".tgz

echo "== built in $OUT"
