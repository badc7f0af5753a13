package salesforce

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/keylock"
	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

const (
	// operationPrefix names this engine's operations in Vault's OpenAPI.
	operationPrefix = "salesforce"

	// walRollbackMinAge leaves a grant's WAL alone while its request may
	// still be running: Vault caps a request at 90s by default.
	walRollbackMinAge = 2 * time.Minute

	// cleanupTimeout bounds what a failed request still does at Salesforce
	// on its way out (revoking what it obtained), on a context of its own:
	// the request's may be the very thing that ended.
	cleanupTimeout = 30 * time.Second
)

const backendHelp = `
The Salesforce secrets engine issues short-lived Salesforce access tokens.

Vault keeps a Connected App's private key (JWT bearer flow) or consumer secret
(client credentials flow) sealed. Roles name the Salesforce user and the scopes
it may carry. Reading creds/<role> returns an access token as a Vault lease; when
the lease ends the token is revoked at Salesforce, once no other lease holds it.
`

// backend is one mount. Everything mutable lives here, never at package
// level: the plugin is multiplexed, one process serving every mount.
type backend struct {
	*framework.Backend

	ledger  *ledger.Ledger
	cache   *entryCache
	clients *clientCache
	metrics *engineMetrics

	// grantLocks serialise the grants of one grant key (connection, flow,
	// user), so that concurrent reads share one grant.
	grantLocks keylock.Table
	// connLocks serialise read-modify-write of one connection: a config
	// write, rotate-key or the promotion of a pending key never undoes
	// another.
	connLocks keylock.Table
	// authLocks serialise the changes of one authorization (consent,
	// refresh with rotation, delete), and the taking of one flow's state.
	authLocks keylock.Table

	// grantWALs names, per grant key, the WAL entry covering its grants
	// whose outcome is not known yet: one entry per key, however many
	// grants failed, so that rollback spends one login, not one each.
	walMu     sync.Mutex
	grantWALs map[string]grantWALState

	// storage is the mount's storage, for Cleanup, which is given none.
	storage logical.Storage
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
	b.storage = conf.StorageView
	if err := b.Setup(ctx, &c); err != nil {
		return err
	}
	b.ledger = b.newLedger(time.Now)
	return nil
}

func (b *backend) newLedger(now func() time.Time) *ledger.Ledger {
	return ledger.New(ledger.Options{
		Revoke: b.revokeAtSalesforce,
		Logger: b.Logger().Named("ledger"),
		Now:    now,
		Grace:  sweepGrace,
	})
}

func newBackend() *backend {
	b := &backend{cache: newEntryCache(), clients: newClientCache(), metrics: newEngineMetrics(), grantWALs: map[string]grantWALState{}}
	b.ledger = ledger.New(ledger.Options{Revoke: b.revokeAtSalesforce})
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Connections hold private keys and consumer secrets; the ledger
			// holds live access tokens.
			SealWrapStorage: []string{configStoragePrefix, ledger.TokenPrefix, authorizationStoragePrefix, flowStoragePrefix},
			// Salesforce sends the person's browser here with no Vault token.
			Unauthenticated: []string{"callback"},
			// A grant's WAL entry is this node's own business: on a
			// performance secondary, it must not replicate to the primary.
			LocalStorage: []string{framework.WALPrefix},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
			pathRoles(b),
			pathCreds(b),
			pathRevoke(b),
			pathSessions(b),
			pathMetrics(b),
			pathAuthorizations(b),
			pathCallback(b),
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

func (b *backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	// Load now so that the first read after a restart or failover does not
	// pay for it, and so that a broken ledger is reported at mount time.
	return b.ledger.EnsureLoaded(ctx, req.Storage)
}

func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case strings.HasPrefix(key, configStoragePrefix):
		b.connectionChanged()
	case strings.HasPrefix(key, roleStoragePrefix), strings.HasPrefix(key, authorizationStoragePrefix):
		b.cache.drop()
	case strings.HasPrefix(key, ledger.Prefix):
		b.ledger.MarkStale()
	}
}

// connectionChanged is called after every write or delete of a connection:
// reads rebuild what they need from storage. Grants made through the old
// settings are never reused: they carry the old generation.
func (b *backend) connectionChanged() {
	b.cache.drop()
	b.clients.drop()
}

func (b *backend) clean(ctx context.Context) {
	// Every request has been answered by now: record that this instance's
	// holders belong to registered leases, so that after a restart or
	// failover they are not taken for the holders of lost answers.
	if b.storage != nil && b.mayWriteLedger() {
		if err := b.ledger.Close(ctx, b.storage); err != nil {
			b.Logger().Warn("could not record the confirmed leases on shutdown; the last minute's leases count as provisional after a restart", "error", err)
		}
	}
	b.cache.drop()
	b.clients.drop()
}
