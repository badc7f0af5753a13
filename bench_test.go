package salesforce

// Micro-benchmarks of the engine's hot and warm paths. The Vault-level
// harness (cmd/sfbench, `make bench`) measures the same paths through a real
// Vault; these isolate the plugin's own share. Signing an assertion alone is
// BenchmarkSignAssertion, and a grant against a canned answer is
// BenchmarkGrantJWT, both in client_test.go.
//
//	go test -bench . -benchmem -run '^$'

import (
	"context"
	"fmt"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// noLoginLimit lifts the emulator's 3,600 grants an hour per user: the
// benchmarks that grant on purpose would hit it within a second.
func noLoginLimit(c *sfemu.Config) { c.LoginRateLimitPerHour = -1 }

// BenchmarkGrantJWTEmulator is one full JWT bearer grant (sign, HTTPS POST
// over a kept-alive connection, the emulator's verification, decode): what a
// read costs when it cannot reuse a token.
func BenchmarkGrantJWTEmulator(b *testing.B) {
	e := newTestEnv(b, noLoginLimit)
	c, err := newClient(clientSettings{LoginURL: e.srv.URL, ClientID: emuClientID, CACert: e.caPEM}, hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	key, err := parseRSAPrivateKey(e.keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GrantJWT(ctx, key, emuUser); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLedgerHoldDrop is the ledger's share of a reusing read and of a
// lease revocation that is not the token's last holder. The 10,000 case shows
// that neither grows with the number of holders.
func BenchmarkLedgerHoldDrop(b *testing.B) {
	for _, held := range []int{1, 10000} {
		b.Run(fmt.Sprintf("holders=%d", held), func(b *testing.B) {
			l := newLedger(nil)
			const key, tid = "user", "token"
			ts := &tokenState{rec: &tokenRecord{ID: tid, UserKey: key}, holders: map[string]time.Time{}}
			exp := time.Now().Add(time.Hour)
			for i := range held {
				ts.holders[fmt.Sprintf("base-%d", i)] = exp
			}
			l.tokens[tid] = ts
			l.users[key] = &userState{grants: map[string]*cachedGrant{"main": {tokenID: tid, connection: "main", grantedAt: time.Now(), reuseFor: time.Hour}}}
			// Holder IDs are made up front so that only the ledger is timed.
			hids := make([]string, 1024)
			for i := range hids {
				hids[i] = fmt.Sprintf("h-%d", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				hid := hids[i%len(hids)]
				i++
				if l.holdCurrent(key, "main", hid, exp) == nil {
					b.Fatal("holdCurrent refused a live grant")
				}
				if _, last := l.dropHolder(tid, hid); last {
					b.Fatal("dropHolder reported the last holder")
				}
			}
		})
	}
}

// credsEnv is a configured backend whose role's token was granted once, so
// that every timed read takes the reuse path.
func credsEnv(b *testing.B, conn map[string]interface{}) *testEnv {
	e := newTestEnv(b, noLoginLimit)
	e.connection(conn)
	e.role("app", map[string]interface{}{"ttl": "1h", "max_ttl": "1h"})
	e.creds("app")
	return e
}

func readCreds(b *testing.B, e *testEnv) *logical.Response {
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.ReadOperation, Path: "creds/app", Storage: e.storage,
	})
	if err != nil || resp == nil || resp.IsError() || resp.Secret == nil {
		b.Fatalf("read creds/app: err=%v resp=%v", err, resp)
	}
	return resp
}

// assertGrants fails the benchmark if the emulator saw other than want token
// requests: a reusing read must never sign a JWT or call Salesforce.
func assertGrants(b *testing.B, e *testEnv, want int) {
	if got := e.emu.Stats().TokenCalls; got != want {
		b.Fatalf("emulator saw %d token requests, want %d", got, want)
	}
}

// BenchmarkCredsReadReuse is a creds read that reuses the user's live token:
// the plugin's whole share of `vault read salesforce/creds/app` on the hot
// path, minus gRPC and Vault's lease bookkeeping.
func BenchmarkCredsReadReuse(b *testing.B) {
	e := credsEnv(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		readCreds(b, e)
	}
	b.StopTimer()
	assertGrants(b, e, 1)
}

// BenchmarkCredsReadReuseParallel is the same under GOMAXPROCS concurrent
// readers of one role: they contend on the ledger and on storage.
func BenchmarkCredsReadReuseParallel(b *testing.B) {
	e := credsEnv(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			readCreds(b, e)
		}
	})
	b.StopTimer()
	assertGrants(b, e, 1)
}

// BenchmarkCredsReadNoReuse is a creds read on a connection with
// reuse_interval=0: every read signs an assertion and asks the emulator,
// which is what reuse saves.
func BenchmarkCredsReadNoReuse(b *testing.B) {
	e := credsEnv(b, map[string]interface{}{"reuse_interval": 0})
	b.ReportAllocs()
	for b.Loop() {
		readCreds(b, e)
	}
}

// BenchmarkLeaseRevokeShared is the revocation of a lease whose token other
// leases still hold: what all but the last of a mass revocation cost. A pool
// of 10,000 real leases is revoked in turn; once it is spent, its holders are
// put back directly (untimed) rather than read again, which would make the
// setup dwarf the measurement.
func BenchmarkLeaseRevokeShared(b *testing.B) {
	e := credsEnv(b, nil)
	ctx := context.Background()
	pool := make([]*logical.Secret, 10000)
	for i := range pool {
		pool[i] = roundTrip(b, readCreds(b, e).Secret)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := pool[i%len(pool)]
		if i > 0 && i%len(pool) == 0 {
			b.StopTimer()
			rehold(b, e, pool)
			b.StartTimer()
		}
		if _, err := e.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.RevokeOperation, Storage: e.storage, Secret: s,
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := e.emu.Stats().RevokeCalls; got != 0 {
		b.Fatalf("emulator saw %d revocations while the primed lease still held the token", got)
	}
}

// rehold registers the pool's leases as holders again, as their reads did.
func rehold(b *testing.B, e *testEnv, pool []*logical.Secret) {
	exp := e.b.ledger.now().Add(time.Hour)
	for _, s := range pool {
		tid, hid, err := leaseHolder(&logical.Request{Secret: s})
		if err != nil {
			b.Fatal(err)
		}
		if !e.b.ledger.addHolder(tid, hid, exp) {
			b.Fatal("the pool's token left the ledger")
		}
		if err := e.b.ledger.persistHolder(context.Background(), e.storage, tid, hid, holderRecord{ExpiresAt: exp, Role: "app"}); err != nil {
			b.Fatal(err)
		}
	}
}
