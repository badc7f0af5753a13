package salesforce

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// countingSystemView counts the calls that would each be a gRPC round trip
// to Vault in a real plugin.
type countingSystemView struct {
	logical.StaticSystemView
	calls atomic.Int64
}

func (c *countingSystemView) MaxLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.StaticSystemView.MaxLeaseTTL()
}

func (c *countingSystemView) DefaultLeaseTTL() time.Duration {
	c.calls.Add(1)
	return c.StaticSystemView.DefaultLeaseTTL()
}

func (c *countingSystemView) ReplicationState() consts.ReplicationState {
	c.calls.Add(1)
	return c.StaticSystemView.ReplicationState()
}

func (c *countingSystemView) LocalMount() bool {
	c.calls.Add(1)
	return c.StaticSystemView.LocalMount()
}

func TestCredsReadsAskVaultOncePerRefresh(t *testing.T) {
	e := newTestEnv(t, nil)
	sys := &countingSystemView{StaticSystemView: logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}}
	e.useSystemView(sys)
	e.connection(nil)
	e.role("app", nil)

	e.creds("app")
	before := sys.calls.Load()
	for range 50 {
		e.creds("app")
	}
	if got := sys.calls.Load() - before; got != 0 {
		t.Fatalf("50 reads within %s made %d system view calls to Vault, want 0", sysViewRefresh, got)
	}
	e.clock.Advance(sysViewRefresh)
	e.creds("app")
	if got := sys.calls.Load() - before; got != 4 {
		t.Fatalf("a read after %s made %d system view calls, want one refresh of 4", sysViewRefresh, got)
	}
}

func TestCredsFollowAMountTuneAfterRefresh(t *testing.T) {
	e := newTestEnv(t, nil)
	sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	e.useSystemView(sys)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": 0, "max_ttl": 0})

	if ttl := e.creds("app").Secret.TTL; ttl != time.Hour {
		t.Fatalf("lease TTL = %s, want the mount default 1h", ttl)
	}
	sys.DefaultLeaseTTLVal = 10 * time.Minute // vault secrets tune -default-lease-ttl=10m
	e.clock.Advance(sysViewRefresh)
	if ttl := e.creds("app").Secret.TTL; ttl != 10*time.Minute {
		t.Fatalf("lease TTL after the tune = %s, want the new mount default 10m", ttl)
	}
}

// useSystemView sets the backend up again on sys, as Vault would mount it,
// with the cache on the test's clock.
func (e *testEnv) useSystemView(sys logical.SystemView) {
	e.t.Helper()
	if err := e.b.setup(e.t.Context(), &logical.BackendConfig{Logger: e.b.Logger(), System: sys}); err != nil {
		e.t.Fatal(err)
	}
	e.b.System().(*cachedSystemView).now = e.clock.Now
}

func TestCachedSystemViewKeepsNoFailedAnswer(t *testing.T) {
	// The gRPC client answers zero TTLs when a call to Vault fails.
	sys := &logical.StaticSystemView{}
	cached := newCachedSystemView(sys).(*cachedSystemView)
	if got := cached.MaxLeaseTTL(); got != 0 {
		t.Fatalf("MaxLeaseTTL = %s, want the failed call's 0 passed through", got)
	}
	sys.DefaultLeaseTTLVal, sys.MaxLeaseTTLVal = time.Hour, 2*time.Hour
	if got := cached.MaxLeaseTTL(); got != 2*time.Hour {
		t.Fatalf("MaxLeaseTTL after Vault answers again = %s, want 2h at once, not a cached 0", got)
	}
}
