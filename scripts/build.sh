#!/usr/bin/env bash
# The one recipe that builds the plugin: `make build`, `make release`, the
# demo, dev and bench scripts and the end-to-end suite all call it, so that
# the binary Vault runs in a test is built the way a release is.
#
#   scripts/build.sh [-n] VERSION OUT [GO_BUILD_FLAG...]
#
# VERSION must be a semantic version with a leading v (v0.1.0, v1.2.0-rc.1):
# Vault refuses to register anything else, and it is compiled into the binary
# as the version the plugin reports. OUT is the binary to write. GOOS and
# GOARCH come from the environment (default: this machine). Further flags go
# to `go build`, e.g. -race (tests) or -tags pprof (the benchmark's profiling
# build). -n prints the command instead of running it. GO names the go
# command (default: go), as in the Makefile.
#
# The recipe: CGO_ENABLED=0, so that a linux binary is static and starts in
# Vault's Alpine (musl) image (darwin has no static binaries; it links only
# the system library); -trimpath, -buildvcs=false and an empty build
# ID, so that the bytes depend only on the source, the version and the Go
# toolchain, and anyone can rebuild a release and compare its checksum;
# -s -w, because a plugin needs no symbol table or DWARF (panics still carry
# file:line). -race needs cgo, so it turns cgo back on.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="./cmd/vault-plugin-secrets-salesforce"
# The variable the version is stamped into, in the module's root package.
VERSION_VAR="Version"

die() { printf 'build.sh: %s\n' "$*" >&2; exit 2; }

# semver.org's grammar (leading zeros in numeric pre-release identifiers
# aside), with the leading v Vault's plugin catalog shows.
semver_re='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'

print_only=false
if [ "${1:-}" = "-n" ]; then
  print_only=true
  shift
fi
[ "$#" -ge 2 ] || die "usage: scripts/build.sh [-n] VERSION OUT [GO_BUILD_FLAG...]"
version="$1" out="$2"
shift 2
[[ "$version" =~ $semver_re ]] ||
  die "VERSION '$version' is not a semantic version with a leading v; use e.g. v0.1.0 or v0.2.0-rc.1"
[ -n "$out" ] || die "OUT is empty; name the binary to write"
# go build -C reads -o from the repository; OUT is relative to the caller.
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

GO="${GO:-go}"
module="$("$GO" -C "$REPO" list -m)" || die "cannot read the module path (go list -m in $REPO)"

cgo=0
for flag in "$@"; do
  [ "$flag" = "-race" ] && cgo=1
done

cmd=("$GO" build -C "$REPO" -trimpath -buildvcs=false
  -ldflags "-s -w -buildid= -X $module.$VERSION_VAR=$version"
  "$@" -o "$out" "$PKG")

if $print_only; then
  printf 'CGO_ENABLED=%s' "$cgo"
  [ -n "${GOOS:-}" ] && printf ' GOOS=%s' "$GOOS"
  [ -n "${GOARCH:-}" ] && printf ' GOARCH=%s' "$GOARCH"
  for a in "${cmd[@]}"; do
    case "$a" in
    *[[:space:]]*) printf " '%s'" "$a" ;;
    *) printf ' %s' "$a" ;;
    esac
  done
  printf '\n'
  exit 0
fi
CGO_ENABLED="$cgo" exec "${cmd[@]}"
