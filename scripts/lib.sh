# shellcheck shell=bash
# Shared by demo.sh and dev.sh: build the plugin and the emulator, start the
# emulator over HTTPS and a Vault dev server on loopback, register and enable
# the plugin, connect it to the emulator and create a role.
#
# Callers set: STATE (a directory for binaries, logs and certificates) and
# DEADLINE (how long any started process may live, as accepted by timeout(1)).
# They get: VAULT_ADDR, VAULT_TOKEN, SF_URL, PIDS (process group ids).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${VERSION:-v0.1.0}"
PLUGIN="vault-plugin-secrets-salesforce"
# The emulator's built-in org (sfemu without -config): one Connected App with
# no certificate yet, and a pre-authorized user.
SF_CLIENT_ID="${SF_CLIENT_ID:-3MVG9sfemuDemoConsumerKey}"
SF_USERNAME="${SF_USERNAME:-demo@example.com}"
PIDS=()

say() { printf '\n# %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# show prints a command the way a user would type it.
show() { printf '$ %s\n' "$*"; }

# run shows a command (quoting arguments with spaces), then runs it.
run() {
  local a line=""
  for a in "$@"; do
    case "$a" in
    *[[:space:]]*) line+=" '$a'" ;;
    *) line+=" $a" ;;
    esac
  done
  show "${line# }"
  "$@"
}

# start runs a command in the background under timeout(1), which puts it (and
# whatever it spawns, such as Vault's plugin processes) in its own process
# group, so stop_all can end the whole group. $1 is a log file.
start() {
  local log="$1"; shift
  timeout --kill-after=10s "$DEADLINE" "$@" </dev/null >"$log" 2>&1 &
  PIDS+=("$!")
  STARTED_PID="$!"
}

stop_all() {
  local pid i
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  PIDS=()
}

# wait_for polls a command until it succeeds, for at most $1 seconds.
wait_for() {
  local secs="$1"; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free loopback port found"
}

build_all() {
  mkdir -p "$STATE/plugins" "$STATE/bin"
  say "Build the plugin ($VERSION) and the Salesforce emulator"
  run "$REPO/scripts/build.sh" "$VERSION" "$STATE/plugins/$PLUGIN"
  run go build -C "$REPO" -o "$STATE/bin/sfemu" ./cmd/sfemu
  local vault
  vault="$("$REPO/scripts/get-vault.sh")" || die "no vault binary (scripts/get-vault.sh failed)"
  ln -sf "$vault" "$STATE/bin/vault"
  export PATH="$STATE/bin:$PATH"
}

# start_emulator starts sfemu; extra arguments (e.g. -config FILE) go to it.
# shellcheck disable=SC2120 # the demo calls it without any
start_emulator() {
  say "Start the Salesforce emulator over HTTPS on loopback"
  show "sfemu ${*:+$* }-addr 127.0.0.1:0 -tls -cert-out $STATE -ready-file $STATE/sfemu.url &"
  rm -f "$STATE/sfemu.url"
  start "$STATE/sfemu.log" sfemu "$@" -addr 127.0.0.1:0 -tls -cert-out "$STATE" -ready-file "$STATE/sfemu.url"
  local pid="$STARTED_PID"
  if ! wait_for 30 test -s "$STATE/sfemu.url"; then
    tail -n 20 "$STATE/sfemu.log" >&2 || true
    die "the emulator did not become ready within 30s (log: $STATE/sfemu.log)"
  fi
  kill -0 "$pid" 2>/dev/null || die "the emulator exited (log: $STATE/sfemu.log)"
  SF_URL="$(cat "$STATE/sfemu.url")"
  echo "emulator listening at $SF_URL (CA certificate: $STATE/ca.pem)"
}

start_vault_dev() {
  say "Start a Vault dev server on loopback"
  VAULT_TOKEN="${VAULT_TOKEN_DEV:-root}"
  local port attempt pid
  for attempt in 1 2 3; do
    port="$(free_port)"
    export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN
    show "vault server -dev -dev-root-token-id=$VAULT_TOKEN -dev-listen-address=127.0.0.1:$port -dev-plugin-dir=$STATE/plugins &"
    start "$STATE/vault.log" vault server -dev -dev-root-token-id="$VAULT_TOKEN" \
      -dev-listen-address="127.0.0.1:$port" -dev-no-store-token -dev-plugin-dir="$STATE/plugins" -log-level=debug
    pid="$STARTED_PID"
    if wait_for 60 vault status; then
      run export VAULT_ADDR="$VAULT_ADDR" VAULT_TOKEN="$VAULT_TOKEN"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null && break # running but not answering: do not retry
    echo "vault did not start on port $port (attempt $attempt); retrying" >&2
  done
  tail -n 30 "$STATE/vault.log" >&2 || true
  die "vault did not start (log: $STATE/vault.log)"
}

# register_plugin registers $STATE/plugins/NAME (default $PLUGIN) and enables
# it at MOUNT (default salesforce); further arguments go to the register.
# shellcheck disable=SC2120 # the demo calls it without any
register_plugin() {
  local name="${1:-$PLUGIN}" mount="${2:-salesforce}" sha
  shift $(($# < 2 ? $# : 2))
  say "Register the plugin in Vault's catalog with its SHA-256 and version, then enable it"
  sha="$(sha256sum "$STATE/plugins/$name" | cut -d' ' -f1)"
  show "SHA256=\$(sha256sum $STATE/plugins/$name | cut -d' ' -f1)"
  run vault plugin register -sha256="$sha" -version="$VERSION" "$@" secret "$name"
  run vault secrets enable -path="$mount" -plugin-version="$VERSION" "$name"
}

# upload_certificate hands a certificate Vault generated to the emulator's
# Connected App CLIENT_ID, as an admin would in Setup.
upload_certificate() {
  local client_id="$1" file="$2"
  run curl -sS --fail-with-body --cacert "$STATE/ca.pem" -X PUT --data-binary @"$file" \
    "$SF_URL/__sfemu/apps/$client_id/certificate"
  echo
}

configure_connection() {
  say "Connect to the org; Vault generates the key pair and keeps the private key"
  show "vault write -field=certificate salesforce/config/demo login_url=$SF_URL client_id=$SF_CLIENT_ID generate_key=true allow_non_salesforce_host=true ca_cert=@$STATE/ca.pem > $STATE/app.crt"
  vault write -field=certificate salesforce/config/demo login_url="$SF_URL" client_id="$SF_CLIENT_ID" \
    generate_key=true allow_non_salesforce_host=true ca_cert=@"$STATE/ca.pem" >"$STATE/app.crt"
  grep -q 'BEGIN CERTIFICATE' "$STATE/app.crt" || die "config/demo answered no certificate: $(cat "$STATE/app.crt")"
  run head -n 2 "$STATE/app.crt"
  say "Upload the certificate to the Connected App (here: the emulator's admin API)"
  upload_certificate "$SF_CLIENT_ID" "$STATE/app.crt"
  say "A role: which user, which scopes at most, how long a lease lives"
  run vault write salesforce/roles/app connection=demo grant_type=jwt_bearer username="$SF_USERNAME" \
    scopes=api,web,refresh_token ttl=15m max_ttl=1h
}

# sf_limits calls the org's REST API with a token and prints the HTTP status.
sf_limits() {
  local base="$1" token="$2"
  curl -sS --cacert "$STATE/ca.pem" -o "$STATE/limits.out" -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$base/services/data/v65.0/limits"
}

# trap_cleanup makes the script stop everything it started when it exits,
# however it exits; on failure it keeps $STATE and shows the logs' tails.
# $1 names the script in the failure message.
trap_cleanup() {
  CLEANUP_NAME="$1"
  trap cleanup_state EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

cleanup_state() {
  local rc=$?
  stop_all
  if [ "$rc" -ne 0 ]; then
    echo >&2
    echo "$CLEANUP_NAME FAILED (exit $rc); logs kept in $STATE" >&2
    for f in "$STATE"/*.log; do
      [ -f "$f" ] || continue
      echo "--- last lines of $f" >&2
      tail -n 15 "$f" >&2
    done
  else
    rm -rf "$STATE"
  fi
  exit "$rc"
}
