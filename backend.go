package salesforce

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Version is the plugin's semantic version, set at build time with
// -ldflags "-X github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce.Version=v0.1.0".
// A source build without the flag still reports a valid semver.
var Version = "v0.0.0-dev"

const (
	// operationPrefix names this engine's operations in Vault's OpenAPI.
	operationPrefix = "salesforce"

	// walRollbackMinAge leaves a grant's WAL alone while its request may
	// still be running: Vault caps a request at 90s by default.
	walRollbackMinAge = 2 * time.Minute
)

const backendHelp = `
The Salesforce secrets engine issues short-lived Salesforce access tokens.

Vault keeps a Connected App's private key (JWT bearer flow) or consumer secret
(client credentials flow) sealed. Roles name the Salesforce user and the scopes
it may carry. Reading creds/<role> returns an access token as a Vault lease; when
the lease ends the token is revoked at Salesforce, once no other lease holds it.
`

type backend struct {
	*framework.Backend

	// clientsMu guards clients; a client is built once per connection and
	// dropped whenever that connection is written, deleted or invalidated.
	clientsMu sync.RWMutex
	clients   map[string]*sfClient
	// revokers serve revocations from ledger records, keyed by login URL and
	// CA: a token must still be revocable after its connection is gone.
	revokers map[string]*sfClient

	ledger *ledger
	// cache holds the roles and connections creds reads use.
	cache *entryCache
}

// Factory builds the backend; Vault calls it once per mount.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend()
	if err := b.setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// setup is the framework's Setup with Vault's system view behind a cache:
// the hot path must not make a round trip to Vault per question it asks.
func (b *backend) setup(ctx context.Context, conf *logical.BackendConfig) error {
	c := *conf
	c.System = newCachedSystemView(conf.System)
	return b.Setup(ctx, &c)
}

func newBackend() *backend {
	b := &backend{clients: map[string]*sfClient{}, revokers: map[string]*sfClient{}, cache: newEntryCache()}
	b.ledger = newLedger(b)
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Connections hold private keys and consumer secrets; the ledger
			// holds live access tokens.
			SealWrapStorage: []string{configStoragePrefix, ledgerTokenPrefix},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
			pathRoles(b),
			pathCreds(b),
			pathRevoke(b),
		),
		Secrets:           []*framework.Secret{secretAccessToken(b)},
		InitializeFunc:    b.initialize,
		PeriodicFunc:      b.periodic,
		WALRollback:       b.walRollback,
		WALRollbackMinAge: walRollbackMinAge,
		Invalidate:        b.invalidate,
		Clean:             b.clean,
		RunningVersion:    Version,
	}
	return b
}

func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case strings.HasPrefix(key, configStoragePrefix):
		b.resetClient(strings.TrimPrefix(key, configStoragePrefix))
	case strings.HasPrefix(key, roleStoragePrefix):
		b.cache.drop()
	case strings.HasPrefix(key, ledgerPrefix):
		b.ledger.markStale()
	}
}

func (b *backend) clean(_ context.Context) {
	b.cache.drop()
	b.clientsMu.Lock()
	defer b.clientsMu.Unlock()
	for name, c := range b.clients {
		c.Close()
		delete(b.clients, name)
	}
	for k, c := range b.revokers {
		c.Close()
		delete(b.revokers, k)
	}
}

// getClient returns the connection's Salesforce client, building it once.
func (b *backend) getClient(conn *connection) (*sfClient, error) {
	b.clientsMu.RLock()
	c, ok := b.clients[conn.Name]
	b.clientsMu.RUnlock()
	if ok {
		return c, nil
	}
	b.clientsMu.Lock()
	defer b.clientsMu.Unlock()
	if c, ok := b.clients[conn.Name]; ok {
		return c, nil
	}
	c, err := newClient(conn.clientSettings(), b.Logger().Named("client").With("connection", conn.Name))
	if err != nil {
		return nil, fmt.Errorf("error building the salesforce client of connection %q: %w", conn.Name, err)
	}
	b.clients[conn.Name] = c
	return c, nil
}

// revokeClient returns a client for the authorization server a token was
// granted by, from the ledger record alone.
func (b *backend) revokeClient(rec *tokenRecord) (*sfClient, error) {
	key := rec.LoginURL + "\x00" + rec.CACert
	b.clientsMu.Lock()
	defer b.clientsMu.Unlock()
	if c, ok := b.revokers[key]; ok {
		return c, nil
	}
	c, err := newClient(clientSettings{LoginURL: rec.LoginURL, CACert: rec.CACert}, b.Logger().Named("revoker"))
	if err != nil {
		return nil, fmt.Errorf("error building the salesforce client to revoke a token of connection %q: %w", rec.Connection, err)
	}
	b.revokers[key] = c
	return c, nil
}

// resetClient drops the cached client of a connection so that the next use
// rebuilds it from storage, and forgets tokens cached for reuse under it and
// the decoded connection. Callers call it after the storage write.
func (b *backend) resetClient(name string) {
	b.cache.drop()
	b.clientsMu.Lock()
	if c, ok := b.clients[name]; ok {
		c.Close()
		delete(b.clients, name)
	}
	b.clientsMu.Unlock()
	b.ledger.forgetConnection(name)
}
