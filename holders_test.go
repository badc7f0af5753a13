package salesforce

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// countingStorage counts writes under the holder prefix, and can slow them
// down so that concurrent reads pile up behind one write.
type countingStorage struct {
	logical.Storage
	holderPuts atomic.Int64
	delay      time.Duration
}

func (c *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if strings.HasPrefix(e.Key, ledger.HolderPrefix) {
		c.holderPuts.Add(1)
		time.Sleep(c.delay)
	}
	return c.Storage.Put(ctx, e)
}

// restart replaces the backend with a new one on the same storage.
func (e *testEnv) restart() {
	e.t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = e.storage
	conf.System = e.b.System()
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := raw.Initialize(context.Background(), &logical.InitializationRequest{Storage: e.storage}); err != nil {
		e.t.Fatal(err)
	}
	e.b = raw.(*backend)
	e.b.ledger.SetClock(e.clock.Now)
}

func TestConcurrentReadsCommitHoldersTogether(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app") // the grant, outside the measured burst
	cs := &countingStorage{Storage: e.storage, delay: 20 * time.Millisecond}
	e.storage = cs
	before := cs.holderPuts.Load()

	const readers = 24
	leases := make([]*logical.Response, readers)
	var wg sync.WaitGroup
	for i := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.ReadOperation, Path: "creds/app", Storage: cs,
			})
			if err != nil || resp.IsError() {
				t.Errorf("creds: %v %#v", err, resp)
				return
			}
			leases[i] = resp
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	puts := cs.holderPuts.Load() - before
	if puts >= readers/2 {
		t.Errorf("%d concurrent reads wrote %d holder entries; they should commit together", readers, puts)
	}
	t.Logf("%d concurrent reads, %d holder writes", readers, puts)

	// Every holder is durable: after a restart the token dies only with the
	// last of the 25 leases.
	e.restart()
	for _, l := range leases {
		if err := e.revokeLease(l); err != nil {
			t.Fatal(err)
		}
		if !e.active(token(l)) {
			t.Fatal("after a restart, the token died while a lease from the first read still held it")
		}
	}
	if got := e.emu.Stats().RevokeCalls; got != 0 {
		t.Fatalf("revoke calls = %d while a lease still holds the token", got)
	}
}

func TestRevokeAndRenewRewriteOnlyTheirBatch(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "1m", "max_ttl": "1h"})
	a, b, c := e.creds("app"), e.creds("app"), e.creds("app")

	if err := e.revokeLease(a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lease(logical.RenewOperation, b); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(45 * time.Second)
	if _, err := e.lease(logical.RenewOperation, b); err != nil {
		t.Fatal(err)
	}
	// After a restart the ledger holds b (renewed) and c, not a.
	e.restart()
	e.clock.Advance(time.Minute + sweepGrace - 10*time.Second)
	if err := e.revokeLease(c); err != nil {
		t.Fatal(err)
	}
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(b)) {
		t.Fatal("after a restart, the renewed lease's expiry was lost and the sweep revoked its token")
	}
	if err := e.revokeLease(b); err != nil {
		t.Fatal(err)
	}
	if e.active(token(b)) {
		t.Fatal("the last lease's revocation left the token live")
	}
	// Nothing of the token is left in storage.
	for _, prefix := range []string{ledger.TokenPrefix, ledger.HolderPrefix} {
		keys, err := logical.CollectKeysWithPrefix(context.Background(), e.storage, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 0 {
			t.Errorf("storage still holds %v after the token was revoked", keys)
		}
	}
}

func TestSweepDeletesOrphanedHolders(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	resp := e.creds("app")
	// A holder recorded for a token the ledger has forgotten, as a read
	// racing break glass can leave behind.
	orphan := &logical.StorageEntry{Key: ledger.HolderPrefix + "deadbeef/b1", Value: []byte(`{"holders":{"h":{"expires_at":"2026-01-01T00:00:00Z"}}}`)}
	if err := e.storage.Put(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	keys, err := logical.CollectKeysWithPrefix(context.Background(), e.storage, ledger.HolderPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || strings.Contains(keys[0], "deadbeef") {
		t.Errorf("holder entries after the sweep: %v; want only the live lease's", keys)
	}
	if !e.active(token(resp)) {
		t.Error("the orphan sweep revoked a held token")
	}
}
