package salesforce

import (
	"context"
	"fmt"
	"strings"
	"sync"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// maxCachedClients bounds the client cache: a client is a pool of kept-
// alive connections to one endpoint, and the cache needs one per endpoint
// in use, not per endpoint ever used.
const maxCachedClients = 64

// clientCache keeps one Salesforce client per set of client settings (login
// URL, consumer key, CA). It is keyed by the settings themselves,
// never by a connection's name: a read that still carries a connection's
// old settings builds and finds the old client, and can never make later
// reads send new credentials to an old endpoint. Clients hold no secret
// (keys and secrets are handed to each grant).
type clientCache struct {
	mu      sync.Mutex
	clients map[clientSettings]*sfClient
	// retry replaces the clients' retry policy when set (tests).
	retry *retryPolicy
}

func newClientCache() *clientCache {
	return &clientCache{clients: map[clientSettings]*sfClient{}}
}

func (c *clientCache) get(s clientSettings, logger hclog.Logger) (*sfClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[s]; ok {
		return cl, nil
	}
	cl, err := newClient(s, logger)
	if err != nil {
		return nil, err
	}
	if c.retry != nil {
		cl.retry = *c.retry
	}
	if len(c.clients) >= maxCachedClients {
		c.dropLocked()
	}
	c.clients[s] = cl
	return cl, nil
}

// drop closes every client's idle connections and forgets them; requests
// in flight finish on their own.
func (c *clientCache) drop() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

func (c *clientCache) dropLocked() {
	for s, cl := range c.clients {
		cl.Close()
		delete(c.clients, s)
	}
}

// client returns the Salesforce client for a connection's current settings.
func (b *backend) client(conn *connection) (*sfClient, error) {
	c, err := b.clients.get(conn.clientSettings(), b.Logger().Named("client").With("connection", conn.Name))
	if err != nil {
		return nil, fmt.Errorf("error building the salesforce client of connection %q: %w", conn.Name, err)
	}
	return c, nil
}

// revokeTarget is where a token was granted: what revoking it needs after
// its connection changed or went.
type revokeTarget struct {
	connection, clientID, loginURL, caCert string
}

// revokeAtSalesforce ends an access token, for the ledger.
func (b *backend) revokeAtSalesforce(ctx context.Context, rec *ledger.Record) error {
	return b.revokeAt(ctx, revokeTarget{connection: rec.Connection, clientID: rec.Session.ClientID, loginURL: rec.LoginURL, caCert: rec.CACert}, rec.AccessToken)
}

// revokeAt ends a token. It goes through the token's connection as it is
// now when that connection still points at the same app and login URL (so
// that a re-issued ca_cert is used), and through the settings recorded with
// the token otherwise: a token is revoked where it was granted, never sent
// to another endpoint the connection was re-pointed at.
func (b *backend) revokeAt(ctx context.Context, t revokeTarget, token string) error {
	settings := clientSettings{LoginURL: t.loginURL, CACert: t.caCert}
	if b.storage != nil {
		conn, err := b.cache.connection(ctx, b.storage, t.connection)
		if err == nil && conn != nil && conn.ClientID == t.clientID &&
			strings.TrimRight(conn.LoginURL, "/") == strings.TrimRight(t.loginURL, "/") {
			settings = conn.clientSettings()
		}
	}
	client, err := b.clients.get(settings, b.Logger().Named("revoker"))
	if err != nil {
		return fmt.Errorf("error building the salesforce client to revoke a token of connection %q: %w", t.connection, err)
	}
	if err := client.Revoke(ctx, token); err != nil {
		b.metrics.revocation("failed")
		return err
	}
	b.metrics.revocation("ok")
	b.Logger().Debug("revoked token at salesforce", "connection", t.connection)
	return nil
}
