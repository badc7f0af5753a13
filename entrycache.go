package salesforce

import (
	"context"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
)

// entryCache keeps the decoded roles and connections that creds reads use,
// so that a read reusing a live token neither reads them from storage (two
// round trips to Vault over gRPC) nor decodes them (most of the plugin's CPU
// per read). Roles and connections change rarely: any write or invalidation
// of either drops the whole cache.
//
// A read that missed records the generation before going to storage and
// fills the cache only if no drop happened meanwhile: otherwise a read that
// raced a write could cache what the write just replaced.
//
// Entries are shared: callers must treat them as read-only.
type entryCache struct {
	mu    sync.Mutex
	gen   uint64
	roles map[string]*role
	conns map[string]*connection
	auths map[string]*authorization
}

func newEntryCache() *entryCache {
	return &entryCache{roles: map[string]*role{}, conns: map[string]*connection{}, auths: map[string]*authorization{}}
}

// drop forgets everything; called after every write or delete of a role or
// a connection, and on invalidation.
func (c *entryCache) drop() {
	c.mu.Lock()
	c.gen++
	clear(c.roles)
	clear(c.conns)
	clear(c.auths)
	c.mu.Unlock()
}

func (c *entryCache) role(ctx context.Context, s logical.Storage, name string) (*role, error) {
	c.mu.Lock()
	r, ok := c.roles[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := getRole(ctx, s, name)
	if err != nil || r == nil {
		return r, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.roles[name] = r
	}
	c.mu.Unlock()
	return r, nil
}

func (c *entryCache) connection(ctx context.Context, s logical.Storage, name string) (*connection, error) {
	c.mu.Lock()
	conn, ok := c.conns[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return conn, nil
	}
	conn, err := getConnection(ctx, s, name)
	if err != nil || conn == nil {
		return conn, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.conns[name] = conn
	}
	c.mu.Unlock()
	return conn, nil
}

func (c *entryCache) authorization(ctx context.Context, s logical.Storage, name string) (*authorization, error) {
	c.mu.Lock()
	a, ok := c.auths[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	a, err := getAuthorization(ctx, s, name)
	if err != nil || a == nil {
		return a, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.auths[name] = a
	}
	c.mu.Unlock()
	return a, nil
}
