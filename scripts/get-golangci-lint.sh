#!/usr/bin/env bash
# Prints the path of golangci-lint, building the pinned version from the Go
# module proxy the first time (a few minutes on 2 cores) and caching it
# outside the repository, as scripts/get-vault.sh does for Vault.
set -euo pipefail

GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
CACHE_ROOT="${GOLANGCI_LINT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-salesforce/golangci-lint}"
dir="$CACHE_ROOT/$GOLANGCI_LINT_VERSION"
bin="$dir/golangci-lint"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
echo "get-golangci-lint: building golangci-lint $GOLANGCI_LINT_VERSION from the Go module proxy into $dir" >&2
mkdir -p "$dir"
# Built outside the repository so that its dependencies stay out of go.mod.
(cd "$dir" && GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION") >&2
echo "$bin"
