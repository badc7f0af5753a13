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
	return cached(c, c.roles, name, func() (*role, error) { return getRole(ctx, s, name) })
}

func (c *entryCache) connection(ctx context.Context, s logical.Storage, name string) (*connection, error) {
	return cached(c, c.conns, name, func() (*connection, error) { return getConnection(ctx, s, name) })
}

func (c *entryCache) authorization(ctx context.Context, s logical.Storage, name string) (*authorization, error) {
	return cached(c, c.auths, name, func() (*authorization, error) { return getAuthorization(ctx, s, name) })
}

// cached answers from m, or loads and fills m unless a drop happened
// while loading (the load may have read what a racing write replaced).
func cached[T any](c *entryCache, m map[string]*T, name string, load func() (*T, error)) (*T, error) {
	c.mu.Lock()
	v, ok := m[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil || v == nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		m[name] = v
	}
	c.mu.Unlock()
	return v, nil
}
