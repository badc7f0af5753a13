#!/usr/bin/env bash
# Builds the release artifacts for VERSION into DIST (default dist/): one
# binary per platform (built without cgo: static on linux), named
#   vault-plugin-secrets-salesforce_<version>_<os>_<arch>
# so that every version can sit beside the others in a plugin directory,
# and SHA256SUMS (sha256sum's format) listing each of them. Then checks them
# (internal/release/verify): every linux binary is static, SHA256SUMS is whole.
#
#   scripts/release.sh VERSION
#
# RELEASE_TARGETS (os/arch pairs, space-separated) narrows the platforms; the
# release test uses it to build one. Files of an earlier release in DIST are
# replaced; DIST may hold nothing else.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLUGIN="vault-plugin-secrets-salesforce"
DIST="${DIST:-$REPO/dist}"
TARGETS="${RELEASE_TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"

die() { printf 'release.sh: %s\n' "$*" >&2; exit 2; }

[ "$#" -eq 1 ] || die "usage: scripts/release.sh VERSION (e.g. make release VERSION=v0.1.0)"
version="$1"
# build.sh owns the version rule; -n checks it without building anything.
"$REPO/scripts/build.sh" -n "$version" /dev/null >/dev/null

for target in $TARGETS; do
  case "$target" in
  */*/* | /* | */ | *[!a-z0-9/]*) die "target '$target' is not os/arch (e.g. linux/amd64)" ;;
  */*) ;;
  *) die "target '$target' is not os/arch (e.g. linux/amd64)" ;;
  esac
done
[ -n "${TARGETS//[[:space:]]/}" ] || die "RELEASE_TARGETS names no target; unset it for all four"

mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"
# Only what a release writes is replaced: DIST may be a directory someone
# pointed at by mistake.
old=()
for f in "$DIST"/* "$DIST"/.[!.]*; do
  [ -e "$f" ] || continue
  case "${f##*/}" in
  "${PLUGIN}"_v* | SHA256SUMS | SHA256SUMS.tmp) old+=("$f") ;;
  *) die "$DIST holds ${f##*/}, which no release wrote; move it away and run again" ;;
  esac
done
[ "${#old[@]}" -eq 0 ] || rm -f -- "${old[@]}"

names=()
for target in $TARGETS; do
  os="${target%/*}" arch="${target#*/}"
  name="${PLUGIN}_${version}_${os}_${arch}"
  echo "release.sh: building $name" >&2
  GOOS="$os" GOARCH="$arch" "$REPO/scripts/build.sh" "$version" "$DIST/$name"
  names+=("$name")
done

# sha256sum on Linux, shasum on macOS: the same "<hex>  <name>" lines.
if command -v sha256sum >/dev/null; then
  sum=(sha256sum)
else
  sum=(shasum -a 256)
fi
(cd "$DIST" && "${sum[@]}" -- "${names[@]}") >"$DIST/SHA256SUMS.tmp"
mv "$DIST/SHA256SUMS.tmp" "$DIST/SHA256SUMS"

"${GO:-go}" -C "$REPO" run ./internal/release/verify "$DIST"
echo "release.sh: $version in $DIST:" >&2
cat "$DIST/SHA256SUMS"
