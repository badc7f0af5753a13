package salesforce

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysViewRefresh is how old the cached answers may be. A tune of the mount's
// TTLs reaches creds reads at most this late; Vault caps every lease to the
// mount's current TTLs anyway, so it can only make a holder's recorded expiry
// longer than its lease, and the sweep later, never earlier.
const sysViewRefresh = time.Second

// cachedSystemView answers the questions every creds read asks of Vault (the
// framework's forwarding check asks whether the mount is local and the
// replication state; the lease needs the mount's TTLs) from memory. Through
// the plugin protocol each is a gRPC round trip to Vault: profiled at 16
// concurrent reads they were three of the four calls a read made, and more
// than a quarter of the plugin's CPU.
//
// The replication state changes only when Vault re-mounts its backends (a
// standby that becomes active sets them up anew), so a second-old answer
// forwards exactly what a fresh one would.
type cachedSystemView struct {
	logical.SystemView
	now func() time.Time

	mu      sync.Mutex
	fetched time.Time
	answers sysAnswers // the last good answer
	good    bool
}

func newCachedSystemView(sys logical.SystemView) logical.SystemView {
	if sys == nil {
		return nil
	}
	return &cachedSystemView{SystemView: sys, now: time.Now}
}

type sysAnswers struct {
	local          bool
	repl           consts.ReplicationState
	defTTL, maxTTL time.Duration
}

func (c *cachedSystemView) LocalMount() bool                          { a, _ := c.get(); return a.local }
func (c *cachedSystemView) ReplicationState() consts.ReplicationState { a, _ := c.get(); return a.repl }
func (c *cachedSystemView) DefaultLeaseTTL() time.Duration            { a, _ := c.get(); return a.defTTL }
func (c *cachedSystemView) MaxLeaseTTL() time.Duration                { a, _ := c.get(); return a.maxTTL }

// get answers from the copy while it is fresh, else asks Vault again. The
// gRPC client answers zero values when a call failed, and a mount's TTLs are
// never zero: an answer with a zero TTL is a failed one, and the last good
// answer stands in for it, however old. ok is false only while Vault has
// never answered.
func (c *cachedSystemView) get() (a sysAnswers, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetched.IsZero() && now.Sub(c.fetched) < sysViewRefresh && !now.Before(c.fetched) {
		return c.answers, true
	}
	a = sysAnswers{
		local:  c.SystemView.LocalMount(),
		repl:   c.SystemView.ReplicationState(),
		defTTL: c.SystemView.DefaultLeaseTTL(),
		maxTTL: c.SystemView.MaxLeaseTTL(),
	}
	if a.defTTL > 0 && a.maxTTL > 0 {
		c.answers, c.fetched, c.good = a, now, true
		return a, true
	}
	return c.answers, c.good
}

// mountTTLs is the mount's default and maximum lease TTL, never a zero
// taken from a failed call: ok is false when Vault gave no good answer.
func mountTTLs(sys logical.SystemView) (def, maxTTL time.Duration, ok bool) {
	if c, isCached := sys.(*cachedSystemView); isCached {
		a, ok := c.get()
		return a.defTTL, a.maxTTL, ok
	}
	def, maxTTL = sys.DefaultLeaseTTL(), sys.MaxLeaseTTL()
	return def, maxTTL, def > 0 && maxTTL > 0
}
