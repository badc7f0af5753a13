package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Targets from issue 6.
const (
	targetRatio       = 0.55 // creds reads/s at least this times KV v2 writes/s
	targetTailFactor  = 3.0  // creds p99 at most this times creds p50
	targetMassGrants  = 10   // token requests for 10,000 reads of one role
	targetRevokeTime  = 30 * time.Second
	targetRSSMiB      = 100.0
	targetRevokeCalls = 1
)

type massResult struct {
	Create              loadResult   `json:"create"`
	TokenCalls          int          `json:"token_calls"`
	DistinctTokens      int          `json:"distinct_tokens"`
	TokenSHA256Prefixes []string     `json:"token_sha256_prefixes"`
	LiveLeases          int          `json:"live_leases"`
	RESTBefore          int          `json:"rest_status_before"`
	Revoke              revokeResult `json:"revoke"`
	RevokeCalls         int          `json:"revoke_calls"`
	RESTAfter           int          `json:"rest_status_after"`
}

type steadyResult struct {
	Reads      int           `json:"reads"`
	Errors     int           `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	TokenCalls int           `json:"token_calls"`
	UserGrants int           `json:"user_grants"`
	// The one read after the minute, when the first grant is exactly one
	// reuse interval old.
	BoundaryAt    time.Duration `json:"boundary_at_ns"`
	BoundaryCalls int           `json:"boundary_token_calls"`
}

type results struct {
	Started              time.Time    `json:"started"`
	Finished             time.Time    `json:"finished"`
	Machine              machineInfo  `json:"machine"`
	GoVersion            string       `json:"go_version"`
	VaultVersion         string       `json:"vault_version"`
	PluginVersion        string       `json:"plugin_version"`
	PluginSHA256         string       `json:"plugin_sha256"`
	ReuseIntervalSeconds int          `json:"reuse_interval_seconds"`
	Throughput           []loadResult `json:"throughput"`
	Mass                 massResult   `json:"mass"`
	Comparisons          []comparison `json:"comparisons"`
	Steady               steadyResult `json:"steady"`
	MemIdle              memSample    `json:"plugin_mem_idle"`
	MemLeases            memSample    `json:"plugin_mem_leases"`
	MemLeasesCount       int          `json:"plugin_mem_leases_count"`
	MemAfterRevoke       memSample    `json:"plugin_mem_after_revoke"`
	VaultMemIdle         memSample    `json:"vault_mem_idle"`
	Problems             []string     `json:"problems"`
}

type verdict struct {
	what, target, measured string
	met                    bool
}

func (b *bench) throughputAt(name string, clients int) (loadResult, bool) {
	for _, r := range b.res.Throughput {
		if r.Name == name && r.Clients == clients {
			return r, true
		}
	}
	return loadResult{}, false
}

func (b *bench) verdicts() []verdict {
	var v []verdict
	top := b.o.clients[len(b.o.clients)-1]
	kv, ok1 := b.throughputAt("KV v2 write", top)
	cr, ok2 := b.throughputAt("creds read", top)
	if ok1 && ok2 && kv.PerSec > 0 && cr.P50 > 0 {
		ratio := cr.PerSec / kv.PerSec
		v = append(v, verdict{fmt.Sprintf("creds reads/s vs KV v2 writes/s, %d clients", top), fmt.Sprintf(">= %.2fx", targetRatio),
			fmt.Sprintf("%.2fx (%.0f/s vs %.0f/s)", ratio, cr.PerSec, kv.PerSec), ratio >= targetRatio})
		tail := float64(cr.P99) / float64(cr.P50)
		v = append(v, verdict{fmt.Sprintf("creds p99 vs p50, %d clients", top), fmt.Sprintf("<= %.0fx", targetTailFactor),
			fmt.Sprintf("%.2fx (%s vs %s)", tail, ms(cr.P99), ms(cr.P50)), tail <= targetTailFactor})
	}
	m := b.res.Mass
	v = append(v, verdict{fmt.Sprintf("token requests for %d reads of one role, %d clients", m.Create.Requests, m.Create.Clients),
		fmt.Sprintf("<= %d", targetMassGrants), fmt.Sprint(m.TokenCalls), m.TokenCalls <= targetMassGrants && m.Create.Requests > 0})
	if reuse := b.res.ReuseIntervalSeconds; reuse > 0 {
		// Reads at 0s ... n-1s span less than n seconds: ceil(n / reuse).
		span := int(b.o.steady / time.Second)
		allowed := (span + reuse - 1) / reuse
		v = append(v, verdict{fmt.Sprintf("grants for %d reads, one a second for %s (reuse_interval %ds)", b.res.Steady.Reads, b.o.steady, reuse),
			fmt.Sprintf("<= %d (one per interval)", allowed), fmt.Sprint(b.res.Steady.TokenCalls), b.res.Steady.TokenCalls <= allowed && b.res.Steady.Reads == span})
	}
	v = append(v, verdict{fmt.Sprintf("revoke calls for %d leases sharing one token", m.Revoke.LeasesOf), fmt.Sprintf("exactly %d", targetRevokeCalls),
		fmt.Sprint(m.RevokeCalls), m.RevokeCalls == targetRevokeCalls && m.Revoke.LeasesAfter == 0})
	v = append(v, verdict{"the token at the REST API after the revocation", "HTTP 401",
		fmt.Sprintf("HTTP %d (HTTP %d before)", m.RESTAfter, m.RESTBefore), m.RESTAfter == 401 && m.RESTBefore == 200})
	v = append(v, verdict{fmt.Sprintf("time to revoke %d leases (`vault lease revoke -prefix -sync`)", m.Revoke.LeasesOf),
		fmt.Sprintf("< %s", targetRevokeTime), m.Revoke.Elapsed.Round(time.Millisecond).String(),
		m.Revoke.Elapsed < targetRevokeTime && m.Revoke.Err == "" && m.Revoke.LeasesAfter == 0})
	v = append(v, verdict{fmt.Sprintf("plugin RSS with %d live leases", b.res.MemLeasesCount), fmt.Sprintf("< %.0f MiB", targetRSSMiB),
		fmt.Sprintf("%.1f MiB", b.res.MemLeases.MiB()), b.res.MemLeases.RSSKiB > 0 && b.res.MemLeases.MiB() < targetRSSMiB})
	return v
}

// writeTailContext sets the creds tail beside the tails of Vault's own
// request types in the same run: how wide Vault's latency spreads on this
// machine without any plugin.
func (b *bench) writeTailContext(p func(string, ...any)) {
	top := b.o.clients[len(b.o.clients)-1]
	rows := []loadResult{}
	for _, name := range []string{"creds read", "KV v2 write"} {
		if r, ok := b.throughputAt(name, top); ok {
			rows = append(rows, r)
		}
	}
	for _, c := range b.res.Comparisons {
		if c.Err == "" && c.Create.Requests > 0 {
			rows = append(rows, c.Create)
		}
	}
	p("The tail beside Vault's own requests at %d clients in this run (the builtin engines'", top)
	p("rows are the lease-creating loads of section 3, %d requests each):", b.o.leases)
	p("")
	p("| workload | clients | p50 | p90 | p99 | p99 ÷ p50 |")
	p("|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.P50 > 0 {
			p("| %s | %d | %s | %s | %s | %.2fx |", r.Name, r.Clients, ms(r.P50), ms(r.P90), ms(r.P99), float64(r.P99)/float64(r.P50))
		}
	}
	p("")
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**NOT met**"
}

func readOr(path, missing string) string {
	if path == "" {
		return missing
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(could not read %s: %v)", filepath.Base(path), err)
	}
	return strings.TrimRight(string(b), "\n")
}

func (b *bench) write() error {
	if b.o.jsonOut != "" {
		raw, err := json.MarshalIndent(b.res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.o.jsonOut, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	r := &b.res

	p("# Benchmarks")
	p("")
	p("Written by `make bench` (scripts/bench.sh, cmd/sfbench) from one run; every figure")
	p("below comes from that run. Do not edit by hand: run `make bench` again.")
	p("")
	p("The machine is shared and noisy, so the targets compare figures measured in the")
	p("same run (ratios), never absolute times against a fixed bar, except the revocation")
	p("time and the memory ceiling the issue sets.")
	p("")
	p("## Where it ran")
	p("")
	p("| | |")
	p("|---|---|")
	p("| date (UTC) | %s to %s |", r.Started.Format("2006-01-02 15:04:05"), r.Finished.Format("15:04:05"))
	p("| CPUs (`nproc`) | %d |", r.Machine.NProc)
	p("| CPU model | %s |", r.Machine.CPUModel)
	p("| memory | %s |", r.Machine.MemTotal)
	p("| kernel | %s |", r.Machine.Kernel)
	p("| Go | %s |", r.GoVersion)
	p("| Vault | %s (dev server, in-memory storage, on loopback) |", r.VaultVersion)
	p("| plugin | %s, sha256 %s... |", r.PluginVersion, short(r.PluginSHA256, 12))
	p("| Salesforce | the emulator (cmd/sfemu) over HTTPS on loopback%s |", noteSuffix(b.o.emuNote))
	p("| reuse_interval | %ds (the connection's; 60s is the default) |", r.ReuseIntervalSeconds)
	p("")
	if len(r.Problems) > 0 {
		p("**The run reported problems; figures below may be incomplete:**")
		p("")
		for _, pr := range r.Problems {
			p("- %s", pr)
		}
		p("")
	}
	p("## Targets")
	p("")
	p("| what | target | measured | verdict |")
	p("|---|---|---|---|")
	for _, v := range b.verdicts() {
		p("| %s | %s | %s | %s |", v.what, v.target, v.measured, yes(v.met))
	}
	p("")

	p("## 1. Throughput and latency over Vault's HTTP API")
	p("")
	p("Go clients (net/http, kept-alive connections, `X-Vault-Token`), each sending its next")
	p("request when the last one answered, for %s per row after %s of unmeasured warm-up.", b.o.duration, b.o.warmup)
	p("`creds read` is `GET /v1/%s/creds/%s` (every read creates a lease of 1h; they pile up", b.o.mount, roleLoad)
	p("during the run); the baseline `KV v2 write` is `POST /v1/secret/data/x` with `{\"data\":{\"k\":\"v\"}}`.")
	p("The two alternate at each concurrency. The load generator runs on the same %d CPUs as Vault.", r.Machine.NProc)
	p("")
	p("| workload | clients | requests | per second | p50 | p90 | p99 | max | errors |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, t := range r.Throughput {
		p("| %s | %d | %d | %.0f | %s | %s | %s | %s | %d |", t.Name, t.Clients, t.Requests, t.PerSec, ms(t.P50), ms(t.P90), ms(t.P99), ms(t.Max), t.Errors)
	}
	p("")
	p("CPU per request (user and system time from /proc/<pid>/stat over the row, divided by")
	p("the requests it completed). The three processes share the %d CPUs, so together they", r.Machine.NProc)
	p("set the throughput ceiling:")
	p("")
	p("| workload | clients | Vault | plugin | load generator | total |")
	p("|---|---|---|---|---|---|")
	for _, t := range r.Throughput {
		p("| %s | %d | %s | %s | %s | %s |", t.Name, t.Clients, ms(t.VaultCPU), ms(t.PluginCPU), ms(t.ClientCPU), ms(t.VaultCPU+t.PluginCPU+t.ClientCPU))
	}
	p("")
	p("| clients | creds/s ÷ KV v2 writes/s | creds p99 ÷ creds p50 |")
	p("|---|---|---|")
	for _, c := range b.o.clients {
		kv, ok1 := b.throughputAt("KV v2 write", c)
		cr, ok2 := b.throughputAt("creds read", c)
		if ok1 && ok2 && kv.PerSec > 0 && cr.P50 > 0 {
			p("| %d | %.2fx | %.2fx |", c, cr.PerSec/kv.PerSec, float64(cr.P99)/float64(cr.P50))
		}
	}
	p("")

	b.writeTailContext(p)

	m := r.Mass
	p("## 2. Grants that reach Salesforce")
	p("")
	p("**Burst.** %d reads of `%s/creds/%s` by %d clients, as fast as they go: %d ok, %d errors in %s (%.0f/s,",
		b.o.leases, b.o.mount, roleMass, m.Create.Clients, m.Create.Requests, m.Create.Errors, m.Create.Elapsed.Round(time.Millisecond), m.Create.PerSec)
	p("p50 %s, p99 %s). Token requests at the emulator (`token_calls` delta): **%d**. Distinct access",
		ms(m.Create.P50), ms(m.Create.P99), m.TokenCalls)
	p("tokens handed out: %d (SHA-256 prefixes: %s). The first read grants; the concurrent reads", m.DistinctTokens, strings.Join(m.TokenSHA256Prefixes, ", "))
	p("wait on that user's grant lock and take the same token, and later ones reuse it without asking Salesforce.")
	p("")
	p("**Steady.** One read of `%s/creds/%s` a second for %s: %d reads (at 0s, 1s, ... %s), %d errors.",
		b.o.mount, roleSteady, b.o.steady, r.Steady.Reads, (b.o.steady - time.Second), r.Steady.Errors)
	p("Token requests at the emulator: **%d** (grants in that user's sessions: %d), with reuse_interval %ds.",
		r.Steady.TokenCalls, r.Steady.UserGrants, r.ReuseIntervalSeconds)
	p("A read grants when the user's last grant is reuse_interval old or more. One more read at %s", r.Steady.BoundaryAt)
	if r.ReuseIntervalSeconds > 0 && r.Steady.BoundaryAt == time.Duration(r.ReuseIntervalSeconds)*time.Second {
		p("(one reuse_interval after the first read; whether the first grant is that old by then depends")
		p("on the grant's own milliseconds) made **%d** token request(s).", r.Steady.BoundaryCalls)
	} else {
		p("made **%d** token request(s).", r.Steady.BoundaryCalls)
	}
	p("")
	p("**The price of reuse.** A token revoked outside Vault (by an admin in Setup, a password")
	p("reset, a session timeout) is still handed to new leases until the grant it came from is")
	p("reuse_interval old: **up to reuse_interval** (60s by default). A read after that asks")
	p("Salesforce again and gets a live session. To shorten the window, lower it per connection:")
	p("")
	p("```sh")
	p("vault write %s/config/<name> reuse_interval=10s   # 0 asks Salesforce on every read", b.o.mount)
	p("```")
	p("")
	p("Each grant spends one of the user's 3,600 logins an hour, so `0` suits only low read")
	p("rates; `revoke/<role>` (break glass) ends the session and the reuse at once.")
	p("")

	p("## 3. Mass revocation")
	p("")
	p("`vault lease revoke -prefix -sync %s` (the real CLI) over the burst's leases, which all", m.Revoke.Prefix)
	p("share one token:")
	p("")
	p("| | |")
	p("|---|---|")
	p("| leases before / after | %d / %d |", m.Revoke.LeasesOf, m.Revoke.LeasesAfter)
	p("| wall time | **%s** (%.0f leases/s) |", m.Revoke.Elapsed.Round(time.Millisecond), perSec(m.Revoke.LeasesOf, m.Revoke.Elapsed))
	p("| revoke calls at the emulator (`revoke_calls` delta) | **%d** |", m.RevokeCalls)
	p("| `GET /services/data/v65.0/limits` with the token, before / after | HTTP %d / HTTP %d |", m.RESTBefore, m.RESTAfter)
	p("| CLI output | `%s` |", oneLine(m.Revoke.Output))
	p("")
	p("Every lease but the last only drops its holder entry; the last one revokes the token.")
	p("")
	p("**Comparison.** No other external plugin ships with the dev server, and every builtin")
	p("lease-producing secrets engine other than SSH OTP needs an upstream (a database, a cloud")
	p("account). The same number of leases of these mounts, created by %d clients and revoked the", b.o.loadClients)
	p("same way:")
	p("")
	p("| mount | why it is (or is not) fair | created | revoke wall time | leases/s | left |")
	p("|---|---|---|---|---|---|")
	p("| salesforce (this plugin) | external plugin over gRPC; one Salesforce revoke for all | %d | %s | %.0f | %d |",
		m.Create.Requests, m.Revoke.Elapsed.Round(time.Millisecond), perSec(m.Revoke.LeasesOf, m.Revoke.Elapsed), m.Revoke.LeasesAfter)
	for _, c := range r.Comparisons {
		if c.Err != "" {
			p("| %s | %s | failed: %s | | | |", c.Name, c.Why, oneLine(c.Err))
			continue
		}
		p("| %s | %s | %d | %s | %.0f | %d |", c.Name, c.Why, c.Create.Requests, c.Revoke.Elapsed.Round(time.Millisecond),
			perSec(c.Revoke.LeasesOf, c.Revoke.Elapsed), c.Revoke.LeasesAfter)
	}
	p("")

	p("## 4. Memory")
	p("")
	p("Resident memory (`VmRSS` in /proc/<pid>/status) of the plugin process, the child of")
	p("`vault` whose executable is the registered plugin binary:")
	p("")
	p("| moment | plugin RSS | plugin peak (VmHWM) |")
	p("|---|---|---|")
	p("| configured, no lease yet | %.1f MiB | %.1f MiB |", r.MemIdle.MiB(), float64(r.MemIdle.HWMKiB)/1024)
	p("| %d live leases (one token) | **%.1f MiB** | %.1f MiB |", r.MemLeasesCount, r.MemLeases.MiB(), float64(r.MemLeases.HWMKiB)/1024)
	p("| after their revocation | %.1f MiB | %.1f MiB |", r.MemAfterRevoke.MiB(), float64(r.MemAfterRevoke.HWMKiB)/1024)
	p("")
	p("For scale, the Vault server itself was at %.1f MiB before this run's first lease (when", r.VaultMemIdle.MiB())
	p("`make bench` runs it, after the profiling mount of section 6 came and went).")
	p("")

	p("## 5. Go micro-benchmarks")
	p("")
	p("`go test -bench . -benchmem -run '^$'` in the repository root (bench_test.go and client_test.go) and internal/ledger:")
	p("")
	p("| benchmark | what it measures |")
	p("|---|---|")
	p("| BenchmarkSignAssertion (client_test.go) | signing one JWT bearer assertion (RS256) |")
	p("| BenchmarkGrantJWT (client_test.go) | one grant against a canned HTTPS answer: sign, POST, decode |")
	p("| BenchmarkGrantJWTEmulator | one grant against the emulator on httptest TLS, which verifies the assertion |")
	p("| BenchmarkReuseRelease (internal/ledger) | the ledger's whole operations for a reusing read and a release that is not the last (`Reuse` + `Release`: two writes to `logical.InmemStorage`), with 1 and 10,000 other holders |")
	p("| BenchmarkCredsReadReuse | `b.HandleRequest` read of `creds/app` on `logical.InmemStorage` reusing a live token |")
	p("| BenchmarkCredsReadReuseParallel | the same from GOMAXPROCS goroutines (`b.RunParallel`) |")
	p("| BenchmarkCredsReadNoReuse | the same with reuse_interval=0: every read signs and grants |")
	p("| BenchmarkLeaseRevokeShared | revocation of a lease whose token other leases still hold |")
	p("")
	p("The reuse benchmarks fail if the emulator sees any token request after the first.")
	p("")
	p("```")
	p("%s", readOr(b.o.goBench, "(not run)"))
	p("```")
	p("")

	p("## 6. Profile of the hot path")
	p("")
	p("**Inside Vault.** Before the measured phases, `make bench` enables a second mount of the")
	p("same code built with `-tags pprof` (which serves net/http/pprof on loopback; release")
	p("builds have no such endpoint), reads its creds with %d clients, and takes a %ds CPU", b.o.loadClients, profileSeconds)
	p("profile of that plugin process. `go tool pprof -top`, top 25 by cumulative time:")
	p("")
	p("```")
	p("%s", readOr(b.o.pluginTop, "(not run)"))
	p("```")
	p("")
	p("**In-process.** `go test -run '^$' -bench 'BenchmarkCredsReadReuse$' -cpuprofile cpu.out -memprofile mem.out`,")
	p("then `go tool pprof -top`: the backend alone on in-memory storage, no gRPC. CPU, top 15 by flat time:")
	p("")
	p("```")
	p("%s", readOr(b.o.cpuTop, "(not run)"))
	p("```")
	p("")
	p("Allocations (`-sample_index=alloc_space`), top 15:")
	p("")
	p("```")
	p("%s", readOr(b.o.memTop, "(not run)"))
	p("```")
	p("")
	p("A read that reuses a live token signs no JWT and sends nothing to Salesforce (the")
	p("benchmarks assert it). The role and the connection come from memory (dropped on any")
	p("write or invalidation), and so do the mount's TTLs and replication state (the SDK")
	p("asks Vault for them over gRPC on every request unless the plugin caches them; it")
	p("refreshes them once a second). Its one call back to Vault is the holder write, and")
	p("reads that arrive while one holder write is in flight share the next one (batches of")
	p("at most 64, so no write grows with the number of holders). Inside Vault the plugin's")
	p("profile is the gRPC and TLS of the plugin channel, the framework's request handling,")
	p("and that write; the CPU table in section 1 shows how the machine's CPU divides")
	p("between Vault, the plugin and the load generator.")
	p("")

	p("## Reproduce")
	p("")
	p("```sh")
	p("make bench    # about 9 minutes on 2 CPUs once Vault is built (scripts/get-vault.sh)")
	p("```")
	p("")
	p("`scripts/bench.sh` runs the Go micro-benchmarks and the in-process profile first (nothing")
	p("else running), then builds the plugin and the emulator, starts the emulator over HTTPS and")
	p("a Vault dev server on loopback (scripts/lib.sh), registers the plugin with its SHA-256 and")
	p("version, enables it at `%s/`, configures a connection with `generate_key=true` and hands", b.o.mount)
	p("the certificate to the emulator. It profiles a `-tags pprof` build at its own mount")
	p("(`sfbench -profile-url`) and disables that mount again, then runs `sfbench`, which")
	p("creates its roles and writes this file. Every process runs under timeout(1) in its own process group and")
	p("is stopped on exit. Knobs: `BENCH_DURATION` (per throughput row, default 10s),")
	p("`BENCH_STEADY` (default 60s), `BENCH_LEASES` (default 10000), `BENCH_OUT` (default")
	p("docs/benchmarks.md), `BENCH_GOBENCHTIME` (default 2s). `make bench` is not part of")
	p("`make test` or CI.")

	return os.WriteFile(b.o.out, []byte(w.String()), 0o644)
}

func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", "\\|")
}

func noteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}
