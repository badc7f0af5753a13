package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// massPhase creates o.leases leases of one role as fast as the clients go,
// counts the grants that reached the emulator, samples the plugin's memory
// with them all live, then revokes them with the real CLI by prefix.
func (b *bench) massPhase(ctx context.Context) error {
	st0, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		tokens   = map[string]bool{} // SHA-256 prefixes, never the tokens
		token    string
		instance string
	)
	load := runLoad(ctx, loadSpec{
		name: "creds (lease creation)", clients: b.o.loadClients, count: b.o.leases,
		duration: 5 * time.Minute, // a bound, not a target
		op: func(ctx context.Context) error {
			raw, err := b.vault.raw(ctx, "GET", b.o.mount+"/creds/"+roleMass, nil)
			if err != nil {
				return err
			}
			var a credsAnswer
			if err := json.Unmarshal(raw, &a); err != nil {
				return err
			}
			if a.LeaseID == "" || a.Data.AccessToken == "" {
				return fmt.Errorf("creds answer without lease_id or access_token")
			}
			mu.Lock()
			tokens[fingerprint(a.Data.AccessToken)] = true
			token, instance = a.Data.AccessToken, a.Data.InstanceURL
			mu.Unlock()
			return nil
		},
	})
	logf("%s", load)
	m := &b.res.Mass
	m.Create = load
	if load.Errors > 0 {
		b.problem("%d of %d creds reads failed while creating leases: %s", load.Errors, b.o.leases, load.FirstError)
	}
	st1, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	m.TokenCalls = st1.TokenCalls - st0.TokenCalls
	m.DistinctTokens = len(tokens)
	for fp := range tokens {
		m.TokenSHA256Prefixes = append(m.TokenSHA256Prefixes, fp)
	}
	if m.LiveLeases, err = b.vault.countLeases(ctx, b.o.mount+"/creds/"+roleMass); err != nil {
		return err
	}
	logf("%d leases live under %s/creds/%s, %d token request(s) at the emulator, %d distinct token(s)",
		m.LiveLeases, b.o.mount, roleMass, m.TokenCalls, m.DistinctTokens)

	// Let allocations of the burst settle into the steady heap before
	// sampling: what stays resident is what 10,000 leases cost.
	time.Sleep(2 * time.Second)
	if b.res.MemLeases, err = sampleMem(b.pid); err != nil {
		return err
	}
	b.res.MemLeasesCount = m.LiveLeases
	logf("plugin RSS with %d live leases: %.1f MiB (peak %.1f MiB)", m.LiveLeases, b.res.MemLeases.MiB(), float64(b.res.MemLeases.HWMKiB)/1024)

	if token == "" {
		return fmt.Errorf("no creds read succeeded")
	}
	if m.RESTBefore, err = b.emu.limitsStatus(ctx, instance, token); err != nil {
		return err
	}
	st2, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	m.Revoke = b.revokePrefix(ctx, b.o.mount+"/creds/"+roleMass, m.LiveLeases)
	st3, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	m.RevokeCalls = st3.RevokeCalls - st2.RevokeCalls
	if m.RESTAfter, err = b.emu.limitsStatus(ctx, instance, token); err != nil {
		return err
	}
	logf("revoke_calls delta %d; REST API with the token: HTTP %d before, HTTP %d after", m.RevokeCalls, m.RESTBefore, m.RESTAfter)
	if b.res.MemAfterRevoke, err = sampleMem(b.pid); err != nil {
		return err
	}
	return nil
}

// revokeResult is one `vault lease revoke -prefix -sync` run.
type revokeResult struct {
	Prefix      string        `json:"prefix"`
	LeasesOf    int           `json:"leases_before"`
	LeasesAfter int           `json:"leases_after"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Output      string        `json:"output"`
	Err         string        `json:"error,omitempty"`
}

// revokePrefix runs the real CLI, as an operator would, and times it.
func (b *bench) revokePrefix(ctx context.Context, prefix string, before int) revokeResult {
	r := revokeResult{Prefix: prefix, LeasesOf: before}
	// Vault ends a request after 90s; the CLI must not outlive that by much.
	cctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, b.o.vaultBin, "lease", "revoke", "-prefix", "-sync", prefix)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+b.o.vaultAddr, "VAULT_TOKEN="+b.token)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	r.Elapsed = time.Since(t0)
	r.Output = strings.TrimSpace(string(out))
	if err != nil {
		r.Err = err.Error()
		b.problem("vault lease revoke -prefix -sync %s: %v: %s", prefix, err, r.Output)
	}
	after, err := b.vault.countLeases(ctx, prefix)
	if err != nil {
		b.problem("counting leases under %s after revocation: %v", prefix, err)
	}
	r.LeasesAfter = after
	logf("vault lease revoke -prefix -sync %s: %d leases in %s, %d left", prefix, before, r.Elapsed.Round(time.Millisecond), after)
	return r
}

// comparison is another lease-producing mount revoked the same way.
type comparison struct {
	Name   string       `json:"name"`
	Why    string       `json:"why"`
	Create loadResult   `json:"create"`
	Revoke revokeResult `json:"revoke"`
	Err    string       `json:"error,omitempty"`
}

// comparisons revoke as many leases of mounts built into Vault, which call
// no upstream on revocation: what Vault's own machinery costs per lease.
func (b *bench) comparisons(ctx context.Context) {
	type cmp struct {
		name, why, prefix string
		setup             func(context.Context) error
		op                func(context.Context) error
	}
	tokenBody := []byte(`{"policies":["default"]}`)
	sshBody := []byte(`{"ip":"127.0.0.1"}`)
	cmps := []cmp{{
		name: "ssh OTP (builtin secrets engine)",
		why: "a secrets-engine lease like ours whose revocation deletes one storage entry and calls no upstream; " +
			"it runs inside Vault, so it pays no plugin gRPC hop: a floor, not a peer",
		prefix: "ssh-bench/creds/otp",
		setup: func(ctx context.Context) error {
			if err := b.vault.call(ctx, "POST", "sys/mounts/ssh-bench", map[string]any{"type": "ssh"}, nil); err != nil {
				return err
			}
			return b.vault.call(ctx, "POST", "ssh-bench/roles/otp", map[string]any{
				"key_type": "otp", "default_user": "bench", "cidr_list": "127.0.0.0/8", "ttl": roleTTL, "max_ttl": roleTTL,
			}, nil)
		},
		op: func(ctx context.Context) error {
			_, err := b.vault.raw(ctx, "POST", "ssh-bench/creds/otp", sshBody)
			return err
		},
	}, {
		name: "auth/token/create (orphan tokens of a token role)",
		why: "the comparison the issue suggests; revoking a token also cleans up its accessor, " +
			"cubbyhole and token entries, so each revocation does more than ours",
		prefix: "auth/token/create/bench-cmp",
		setup: func(ctx context.Context) error {
			return b.vault.call(ctx, "POST", "auth/token/roles/bench-cmp", map[string]any{
				"orphan": true, "allowed_policies": []string{"default"}, "token_ttl": roleTTL, "token_max_ttl": roleTTL,
			}, nil)
		},
		op: func(ctx context.Context) error {
			_, err := b.vault.raw(ctx, "POST", "auth/token/create/bench-cmp", tokenBody)
			return err
		},
	}}
	for _, c := range cmps {
		r := comparison{Name: c.name, Why: c.why}
		if err := c.setup(ctx); err != nil {
			r.Err = err.Error()
			b.problem("comparison %s: setup: %v", c.name, err)
			b.res.Comparisons = append(b.res.Comparisons, r)
			continue
		}
		r.Create = runLoad(ctx, loadSpec{name: c.name, clients: b.o.loadClients, count: b.o.leases, duration: 5 * time.Minute, op: c.op})
		logf("%s", r.Create)
		if r.Create.Errors > 0 {
			b.problem("comparison %s: %d creations failed: %s", c.name, r.Create.Errors, r.Create.FirstError)
		}
		n, err := b.vault.countLeases(ctx, c.prefix)
		if err != nil {
			b.problem("comparison %s: counting leases: %v", c.name, err)
		}
		r.Revoke = b.revokePrefix(ctx, c.prefix, n)
		b.res.Comparisons = append(b.res.Comparisons, r)
	}
}

// throughput measures KV v2 writes and creds reads at each concurrency,
// alternating so that both see the same state of the machine.
func (b *bench) throughput(ctx context.Context) error {
	for _, c := range b.o.clients {
		for _, w := range []struct {
			name string
			op   func(context.Context) error
		}{
			{"KV v2 write", func(ctx context.Context) error { return b.kvWrite(ctx) }},
			{"creds read", b.credsRead(roleLoad)},
		} {
			runLoad(ctx, loadSpec{name: w.name + " (warm-up)", clients: c, duration: b.o.warmup, op: w.op})
			cpu := startCPU(b.vpid, b.pid)
			r := runLoad(ctx, loadSpec{name: w.name, clients: c, duration: b.o.duration, op: w.op})
			cpu.perRequest(&r)
			logf("%s", r)
			if r.Errors > 0 {
				b.problem("%s with %d clients: %d errors: %s", w.name, c, r.Errors, r.FirstError)
			}
			if r.Requests == 0 {
				return fmt.Errorf("%s with %d clients: no request succeeded: %s", w.name, c, r.FirstError)
			}
			b.res.Throughput = append(b.res.Throughput, r)
		}
	}
	return ctx.Err()
}

// steadyPhase reads one role once a second for o.steady (at 0s, 1s, ...
// o.steady-1s) and counts how many of those reads reached Salesforce; then
// it reads once more at o.steady, when the first grant is one default reuse
// interval old, and counts that read's grants apart: the boundary case.
func (b *bench) steadyPhase(ctx context.Context) error {
	st0, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	s := &b.res.Steady
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	n := int(b.o.steady / time.Second)
	ok, err := b.steadyReads(ctx, tick, 0, n)
	if err != nil {
		return err
	}
	s.Reads = ok
	s.Elapsed = time.Since(start)
	st1, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	if _, err := b.steadyReads(ctx, tick, n, n+1); err != nil {
		return err
	}
	st2, err := b.emu.stats(ctx)
	if err != nil {
		return err
	}
	s.TokenCalls = st1.TokenCalls - st0.TokenCalls
	s.UserGrants = st1.grantsFor(userSteady) - st0.grantsFor(userSteady)
	s.BoundaryAt = time.Duration(n) * time.Second
	s.BoundaryCalls = st2.TokenCalls - st1.TokenCalls
	logf("steady: %d reads in %s, %d token request(s) at the emulator; the read at %s: %d more",
		s.Reads, s.Elapsed.Round(time.Millisecond), s.TokenCalls, s.BoundaryAt, s.BoundaryCalls)
	return nil
}

// steadyReads makes reads number from to to-1, one a tick (read 0 at once),
// and returns how many succeeded.
func (b *bench) steadyReads(ctx context.Context, tick *time.Ticker, from, to int) (int, error) {
	read := b.credsRead(roleSteady)
	ok := 0
	for i := from; i < to; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ok, ctx.Err()
			case <-tick.C:
			}
		}
		if err := read(ctx); err != nil {
			b.res.Steady.Errors++
			b.problem("steady read %d: %v", i, err)
			continue
		}
		ok++
	}
	return ok, nil
}

func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("problem: %s", msg)
	b.res.Problems = append(b.res.Problems, msg)
}
