#!/usr/bin/env bash
# make bench: the Go micro-benchmarks and a CPU/allocation profile of the hot
# path, then the Vault-level figures (cmd/sfbench) against a Vault dev server
# with the plugin and the Salesforce emulator, all on loopback, written to
# docs/benchmarks.md. Every process runs bounded (timeout(1), own process
# group) and is stopped when the script ends, however it ends.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# Long enough for the run (about 8 minutes on 2 CPUs), short enough that
# nothing outlives a hung one by much.
DEADLINE="${BENCH_DEADLINE:-20m}"
OUT="${BENCH_OUT:-$REPO/docs/benchmarks.md}"
GOBENCHTIME="${BENCH_GOBENCHTIME:-2s}"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/sf-bench.XXXXXX")"
trap_cleanup bench

command -v curl >/dev/null || die "the benchmark needs curl"

# The micro-benchmarks go first, while no server competes for the CPUs.
say "Go micro-benchmarks (go test -bench . -benchmem -run '^\$', -benchtime $GOBENCHTIME)"
run_bounded 10m go test -C "$REPO" -run '^$' -bench . -benchmem -benchtime "$GOBENCHTIME" -count 1 . ./internal/ledger >"$STATE/gobench.txt"
cat "$STATE/gobench.txt"

say "Profile of BenchmarkCredsReadReuse"
run_bounded 5m go test -C "$REPO" -run '^$' -bench 'BenchmarkCredsReadReuse$' -benchmem -benchtime 5s -count 1 \
  -cpuprofile "$STATE/cpu.out" -memprofile "$STATE/mem.out" -o "$STATE/salesforce.test" . >"$STATE/profile-bench.txt"
cat "$STATE/profile-bench.txt"
# The File and Build ID lines name temporary paths; the rest is the profile.
go tool pprof -top -nodecount=15 "$STATE/salesforce.test" "$STATE/cpu.out" 2>/dev/null |
  grep -v -e '^File:' -e '^Build ID:' >"$STATE/cpu-top.txt"
go tool pprof -top -sample_index=alloc_space -nodecount=15 "$STATE/salesforce.test" "$STATE/mem.out" 2>/dev/null |
  grep -v -e '^File:' -e '^Build ID:' >"$STATE/mem-top.txt"
cat "$STATE/cpu-top.txt" "$STATE/mem-top.txt"

build_all
run go build -C "$REPO" -o "$STATE/bin/sfbench" ./cmd/sfbench
write_bench_emulator_config "$STATE/sfemu.json"
start_emulator_with_config "$STATE/sfemu.json"
start_vault_dev
register_plugin
configure_connection
profile_plugin "$STATE/plugin-top.txt"

say "Vault-level benchmarks (cmd/sfbench); figures go to $OUT"
run_bounded 11m sfbench -vault-addr "$VAULT_ADDR" -vault-bin "$(command -v vault)" \
  -emu-url "$SF_URL" -ca "$STATE/ca.pem" -plugin "$STATE/plugins/$PLUGIN" -plugin-version "$VERSION" \
  -mount salesforce -connection demo -out "$OUT" -json "$STATE/results.json" \
  -duration "${BENCH_DURATION:-10s}" -steady "${BENCH_STEADY:-60s}" -leases "${BENCH_LEASES:-10000}" \
  -gobench "$STATE/gobench.txt" -cpu-top "$STATE/cpu-top.txt" -mem-top "$STATE/mem-top.txt" \
  -plugin-top "$STATE/plugin-top.txt" \
  -emu-note "login_rate_limit_per_hour -1 (no login limit), sessions reused as Salesforce does"

say "Benchmarks written to $OUT. Stopping Vault and the emulator."
