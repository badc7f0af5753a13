#!/usr/bin/env bash
# Leaves the demo's set-up running for you to play with: a Vault dev server
# with the plugin enabled at salesforce/, a connection "demo" to the emulator
# and a role "app". Every process is started with a deadline (DEV_DEADLINE,
# default 8h). `scripts/dev.sh stop` (or `make dev-stop`) ends them.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="$REPO/.dev"
DEADLINE="${DEV_DEADLINE:-8h}"

stop_dev() {
  [ -f "$STATE/pids" ] || { echo "nothing running (no $STATE/pids)"; return 0; }
  mapfile -t PIDS <"$STATE/pids"
  stop_all
  rm -f "$STATE/pids"
  echo "stopped"
}

case "${1:-start}" in
stop)
  stop_dev
  exit 0
  ;;
start) ;;
*) die "usage: $0 [start|stop]" ;;
esac

if [ -f "$STATE/pids" ]; then
  echo "a previous dev set-up may still run; stopping it first"
  stop_dev
fi
mkdir -p "$STATE"
cleanup_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    stop_all
    rm -f "$STATE/pids"
    echo "dev set-up FAILED (exit $rc); logs in $STATE" >&2
  fi
}
trap cleanup_on_failure EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v curl >/dev/null || die "dev.sh needs curl"

build_all
start_emulator
start_vault_dev
printf '%s\n' "${PIDS[@]}" >"$STATE/pids"
register_plugin
configure_connection

cat <<MSG

Vault (dev mode, in memory) and the Salesforce emulator are running until you
stop them (at most $DEADLINE). In your shell:

  export PATH="$STATE/bin:\$PATH"
  export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=$VAULT_TOKEN
  export SF_URL=$SF_URL SF_CA=$STATE/ca.pem

Try:
  vault read salesforce/creds/app
  curl --cacert "\$SF_CA" -H "Authorization: Bearer <access_token>" \$SF_URL/services/data/v65.0/limits
  curl --cacert "\$SF_CA" \$SF_URL/__sfemu/stats
  vault lease revoke -prefix salesforce/creds/app

Logs: $STATE/vault.log, $STATE/sfemu.log
Stop: make dev-stop   (or: scripts/dev.sh stop)
MSG
