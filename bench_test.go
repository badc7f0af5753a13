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
	"testing"

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
// of 10,000 real leases is revoked in turn; once it is spent, it is read
// again, untimed. credsEnv's own lease keeps the token held throughout.
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

// rehold reads the pool's leases again, untimed by the caller.
func rehold(b *testing.B, e *testEnv, pool []*logical.Secret) {
	for i := range pool {
		pool[i] = roundTrip(b, readCreds(b, e).Secret)
	}
}
