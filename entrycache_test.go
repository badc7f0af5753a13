package salesforce

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// A creds read must see every role and connection change at once, though
// reads serve both from memory.
func TestCredsReadSeesRoleAndConnectionChanges(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "10m"})
	if got := e.creds("app").Secret.TTL; got != 10*time.Minute {
		t.Fatalf("ttl = %v, want 10m", got)
	}
	e.role("app", map[string]interface{}{"ttl": "20m"})
	if got := e.creds("app").Secret.TTL; got != 20*time.Minute {
		t.Fatalf("after the role update, ttl = %v, want 20m", got)
	}

	// A connection change is seen at once, within the reuse interval: here
	// it breaks the client, which the next read must report rather than
	// hand out the grant made through the connection as it was.
	e.mustOK(logical.UpdateOperation, "config/main", map[string]interface{}{"client_id": "3MVG9unknownConsumerKey"})
	resp, err := e.do(logical.ReadOperation, "creds/app", nil)
	assertContains(t, errText(resp, err), "client identifier invalid")

	e.mustOK(logical.UpdateOperation, "config/main", map[string]interface{}{"client_id": emuClientID})
	e.creds("app")

	e.mustOK(logical.DeleteOperation, "roles/app", nil)
	resp, err = e.do(logical.ReadOperation, "creds/app", nil)
	assertContains(t, errText(resp, err), `role "app" does not exist`)
}

// Another node's write reaches this one through Invalidate.
func TestInvalidateDropsCachedRole(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "10m"})
	e.creds("app")
	// Write behind the backend's back, as replication does.
	r, err := getRole(context.Background(), e.storage, "app")
	if err != nil {
		t.Fatal(err)
	}
	r.TTL = 30 * time.Minute
	if err := putRole(context.Background(), e.storage, r); err != nil {
		t.Fatal(err)
	}
	if got := e.creds("app").Secret.TTL; got != 10*time.Minute {
		t.Fatalf("before invalidation ttl = %v: the read did not come from the cache", got)
	}
	e.b.invalidate(context.Background(), roleStoragePrefix+"app")
	if got := e.creds("app").Secret.TTL; got != 30*time.Minute {
		t.Fatalf("after invalidation ttl = %v, want 30m", got)
	}
}

// dropDuringGet drops the cache while a Get is in flight, as a write that
// lands between a read's storage Get and its cache fill would.
type dropDuringGet struct {
	logical.Storage
	c *entryCache
}

func (s dropDuringGet) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	s.c.drop()
	return entry, err
}

func TestEntryCacheDoesNotKeepWhatARacingWriteReplaced(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	c := newEntryCache()
	s := dropDuringGet{Storage: e.storage, c: c}
	// Each is checked at once: the next read's drop would clear the first.
	if _, err := c.role(context.Background(), s, "app"); err != nil {
		t.Fatal(err)
	}
	if len(c.roles) != 0 {
		t.Fatal("cache kept a role read before a racing drop")
	}
	if _, err := c.connection(context.Background(), s, "main"); err != nil {
		t.Fatal(err)
	}
	if len(c.conns) != 0 {
		t.Fatal("cache kept a connection read before a racing drop")
	}
	if _, err := c.role(context.Background(), e.storage, "app"); err != nil {
		t.Fatal(err)
	}
	if len(c.roles) != 1 {
		t.Fatal("a read without a racing drop was not cached")
	}
}
