#!/usr/bin/env bash
# Prints the path of a usable vault binary on stdout; progress goes to stderr.
#
# A vault on PATH (or $VAULT_BIN) is used when it is 1.15 or newer, because
# plugin versions and multiplexing need it. Otherwise the pinned release is
# built from the Go module proxy, since release downloads are not reachable
# from our machines, and cached outside the repository by version so that only
# the first call pays for the build (about 15 minutes on 2 cores, measured).
set -euo pipefail

VAULT_VERSION="${VAULT_VERSION:-v1.21.0}"
VAULT_SDK_FOR_BUILD="${VAULT_SDK_FOR_BUILD:-v0.20.0}"
CACHE_ROOT="${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-salesforce/vault}"

log() { echo "get-vault: $*" >&2; }

new_enough() {
  local bin="$1" ver major minor
  ver="$("$bin" version 2>/dev/null | sed -n 's/^Vault v\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -1)"
  [ -n "$ver" ] || return 1
  major="${ver%%.*}"; minor="${ver#*.}"
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 15 ]; }
}

for candidate in "${VAULT_BIN:-}" "$(command -v vault 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && new_enough "$candidate"; then
    log "using $candidate ($("$candidate" version | head -1))"
    echo "$candidate"
    exit 0
  fi
done

out="$CACHE_ROOT/$VAULT_VERSION/vault"
if [ -x "$out" ] && new_enough "$out"; then
  log "using cached $out"
  echo "$out"
  exit 0
fi

# One build at a time per cache: parallel test packages may all ask at once.
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
flock 9
if [ -x "$out" ] && new_enough "$out"; then
  log "using cached $out (built by a concurrent call)"
  echo "$out"
  exit 0
fi

log "no vault >= 1.15 found; building Vault $VAULT_VERSION from the Go module proxy (first time only, takes minutes)"
work="$(mktemp -d "$CACHE_ROOT/build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$src" ] || { log "could not download github.com/hashicorp/vault@$VAULT_VERSION"; exit 1; }
log "module source at $src"
cp -r "$src" "$work/vault"
chmod -R u+w "$work/vault"
cd "$work/vault"

# The release's go.mod points api, api/auth/* and sdk at directories of the
# monorepo that the module zip does not carry; take them from the proxy instead.
sed -i -E '/^replace[[:space:]]+github\.com\/hashicorp\/vault\/(api|sdk)[^ ]*[[:space:]]+=>[[:space:]]+\.\//d' go.mod
sed -i -E '/^[[:space:]]*github\.com\/hashicorp\/vault\/(api|sdk)[^ ]*[[:space:]]+=>[[:space:]]+\.\//d' go.mod
echo "replace github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk $VAULT_SDK_FOR_BUILD" >> go.mod

log "go build -mod=mod (this is the slow part)"
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$work/vault.bin" .
log "built in $(( $(date +%s) - start ))s"

mkdir -p "$(dirname "$out")"
mv "$work/vault.bin" "$out.tmp"
mv "$out.tmp" "$out"
log "cached at $out ($("$out" version | head -1))"
echo "$out"
