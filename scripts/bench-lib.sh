# shellcheck shell=bash
# What scripts/bench.sh needs beyond scripts/lib.sh (which it sources first):
# an emulator with the benchmark's users and no login limit, and commands
# that run bounded and are stopped with everything else on exit.

# The users cmd/sfbench's roles name; one per phase, so that each phase has
# its own Salesforce session and no phase's leases keep another's token alive.
BENCH_USERS=(bench-load@example.com bench-mass@example.com bench-steady@example.com)

# The profiling mount (profile_plugin) has a Connected App and user of its
# own, so that its key and its leases touch nothing the measured phases use.
PROFILE_CLIENT_ID="3MVG9sfemuBenchProfileKey"
PROFILE_USER="bench-profile@example.com"
PROFILE_MOUNT="salesforce-pprof"

# write_bench_emulator_config writes the emulator's built-in org (see
# docs/emulator.md) plus the benchmark users, with the per-user login limit
# disabled: the burst phases must measure the plugin, not be refused by the
# emulator's 3,600 logins an hour (the plugin's own grant count is reported).
write_bench_emulator_config() {
  local file="$1" users="" u
  for u in "$SF_USERNAME" integration@example.com "${BENCH_USERS[@]}"; do
    users+="${users:+,}{\"username\":\"$u\",\"approved\":true,\"active\":true}"
  done
  cat >"$file" <<JSON
{
  "org_id": "00D5g000004XyZaEAK",
  "audiences": ["https://login.salesforce.com", "https://test.salesforce.com"],
  "session_timeout_seconds": 7200,
  "reuse_sessions": true,
  "login_rate_limit_per_hour": -1,
  "apps": [{
    "client_id": "$SF_CLIENT_ID",
    "client_secret": "sfemu-demo-consumer-secret",
    "run_as": "integration@example.com",
    "scopes": "api web refresh_token",
    "users": [$users]
  }, {
    "client_id": "$PROFILE_CLIENT_ID",
    "scopes": "api web refresh_token",
    "users": [{"username":"$PROFILE_USER","approved":true,"active":true}]
  }]
}
JSON
}

# start_emulator_with_config is lib.sh's start_emulator with -config.
start_emulator_with_config() {
  start_emulator -config "$1"
}

# run_bounded runs a command in the foreground of the script but under
# timeout(1) in its own process group, registered in PIDS so that an
# interrupt stops it along with the servers. $1 is the time limit.
run_bounded() {
  local limit="$1"; shift
  timeout --kill-after=10s "$limit" "$@" </dev/null &
  local pid="$!" rc=0 p keep=()
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  for p in "${PIDS[@]}"; do
    [ "$p" = "$pid" ] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
  return "$rc"
}

# profile_plugin builds the plugin with -tags pprof, enables it at its own
# mount with a pprof endpoint on loopback, has cmd/sfbench load it while it
# takes a CPU profile, writes the profile's top to $1, and disables the mount
# again (revoking its leases) so that the measured phases start clean.
profile_plugin() {
  local top="$1" port
  say "Profile the plugin inside Vault: a -tags pprof build at $PROFILE_MOUNT/"
  run "$REPO/scripts/build.sh" "$VERSION" "$STATE/plugins/$PLUGIN-pprof" -tags pprof
  port="$(free_port)"
  register_plugin "$PLUGIN-pprof" "$PROFILE_MOUNT" -env="SALESFORCE_PLUGIN_PPROF_ADDR=127.0.0.1:$port"
  vault write -field=certificate "$PROFILE_MOUNT/config/profile" login_url="$SF_URL" \
    client_id="$PROFILE_CLIENT_ID" generate_key=true allow_non_salesforce_host=true \
    ca_cert=@"$STATE/ca.pem" >"$STATE/profile.crt"
  upload_certificate "$PROFILE_CLIENT_ID" "$STATE/profile.crt"
  run vault write "$PROFILE_MOUNT/roles/profile" connection=profile username="$PROFILE_USER" \
    scopes=api,web,refresh_token ttl=10m max_ttl=10m
  run_bounded 2m sfbench -vault-addr "$VAULT_ADDR" -mount "$PROFILE_MOUNT" -profile-role profile \
    -profile-url "http://127.0.0.1:$port" -profile-out "$STATE/plugin-cpu.out"
  go tool pprof -top -cum -nodecount=25 "$STATE/plugins/$PLUGIN-pprof" "$STATE/plugin-cpu.out" 2>/dev/null |
    grep -v -e '^File:' -e '^Build ID:' >"$top"
  cat "$top"
  run_bounded 5m vault secrets disable "$PROFILE_MOUNT"
}
