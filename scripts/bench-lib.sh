# shellcheck shell=bash
# What scripts/bench.sh needs beyond scripts/lib.sh (which it sources first):
# an emulator with the benchmark's users and no login limit, and commands
# that run bounded and are stopped with everything else on exit.

# The users cmd/sfbench's roles name; one per phase, so that each phase has
# its own Salesforce session and no phase's leases keep another's token alive.
BENCH_USERS=(bench-load@example.com bench-mass@example.com bench-steady@example.com)

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
