package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// maxGrantAttempts bounds how often a read asks Salesforce again because
// the token it was answered was revoked meanwhile: the next answer is a new
// session, so a second attempt is normally the last.
const maxGrantAttempts = 3

// grantKey names what a read asks Salesforce for: the connection, the flow
// and the user. Concurrent reads of one key share one grant; the ledger
// keeps the key's last answer for reuse.
func grantKey(conn *connection, r *role) string {
	switch r.GrantType {
	case grantClientCredentials:
		// The Run As user is set on the app, not in the request.
		return conn.Name + "\x00client_credentials"
	case grantAuthorizationCode:
		return authGrantKey(conn, r.Authorization)
	}
	return conn.Name + "\x00jwt_bearer\x00" + strings.ToLower(r.Username)
}

// holdFor is what a creds read of r asks of the ledger. A read through an
// authorization that cannot serve it fails here, before anything is reused:
// a deleted or expired consent hands out nothing.
// The username is the Salesforce user the tokens are for, when known.
func (b *backend) holdFor(ctx context.Context, s logical.Storage, r *role, conn *connection, ttl time.Duration) (ledger.Hold, string, error) {
	h := ledger.Hold{GrantKey: grantKey(conn, r), Generation: conn.Generation, Role: r.Name, TTL: ttl, Accept: r.accept}
	if r.GrantType != grantAuthorizationCode {
		return h, r.Username, nil
	}
	a, err := b.cache.authorization(ctx, s, r.Authorization)
	if err != nil {
		return h, "", err
	}
	if err := usableBy(a, r, conn); err != nil {
		return h, "", err
	}
	h.Generation ^= a.Generation
	return h, a.Username, nil
}

// usableBy says why a role cannot read through an authorization, if so.
func usableBy(a *authorization, r *role, conn *connection) error {
	switch {
	case a == nil:
		return requestError{fmt.Sprintf("authorization %q of role %q does not exist; the person authorizes with: vault write authorizations/%s/start connection=%s (mount-relative)",
			r.Authorization, r.Name, r.Authorization, conn.Name)}
	case a.Connection != conn.Name:
		return requestError{fmt.Sprintf("authorization %q belongs to connection %q, not to role %q's connection %q", a.Name, a.Connection, r.Name, conn.Name)}
	}
	if msg := a.unusable(); msg != "" {
		return requestError{msg}
	}
	return nil
}

// grant asks Salesforce for the role's token, unless a read that held the
// grant key's lock before this one just did, and records it in the ledger
// with the new lease. A WAL entry covers the grant until its outcome is
// known (rollback.go).
func (b *backend) grant(ctx context.Context, s logical.Storage, r *role, conn *connection, h ledger.Hold) (*ledger.Lease, error) {
	unlock := b.grantLocks.Lock(h.GrantKey)
	defer unlock()
	if lease, err := b.reuse(ctx, s, h); lease != nil || err != nil {
		return lease, err
	}
	walID, err := b.coverGrant(ctx, s, h.GrantKey, conn, r)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		lease, err := b.grantOnce(ctx, s, r, conn, h)
		if errors.Is(err, ledger.ErrRevokedMeanwhile) && attempt < maxGrantAttempts {
			continue
		}
		b.settleGrantWAL(ctx, s, h.GrantKey, walID, err)
		return lease, err
	}
}

func (b *backend) grantOnce(ctx context.Context, s logical.Storage, r *role, conn *connection, h ledger.Hold) (*ledger.Lease, error) {
	done := b.ledger.BeginGrant()
	defer done()
	tr, err := b.timedRequestToken(ctx, s, r, conn)
	if err != nil {
		return nil, err
	}
	return b.ledger.RecordGrant(ctx, s, granted(tr, conn, r.Username), h)
}

// reuse is the ledger's Reuse, counted.
func (b *backend) reuse(ctx context.Context, s logical.Storage, h ledger.Hold) (*ledger.Lease, error) {
	lease, err := b.ledger.Reuse(ctx, s, h)
	if lease != nil {
		b.metrics.reuseHits.Add(1)
	}
	return lease, err
}

// timedRequestToken is requestToken, counted by outcome, timed, and
// charged to the user's login budget.
func (b *backend) timedRequestToken(ctx context.Context, s logical.Storage, r *role, conn *connection) (*tokenResponse, error) {
	start := time.Now()
	tr, err := b.requestToken(ctx, s, r, conn)
	outcome, code, user := grantGranted, "", r.Username
	var sfErr *salesforceError
	var unavail *unavailableError
	switch {
	case err == nil:
		if _, id, ok := parseIdentityURL(tr.ID); ok && user == "" {
			user = id
		}
	case errors.As(err, &sfErr):
		outcome, code = grantRefused, sfErr.Code
	case errors.As(err, &unavail):
		outcome = grantUnavailable
	default:
		outcome = grantFailed
	}
	b.metrics.grant(outcome, code, user, time.Since(start), b.ledger.Now())
	return tr, err
}

// granted is a token answer as the ledger records it: keyed by the session
// Salesforce says it is (app, org, user of the identity URL), with what a
// revocation needs.
func granted(tr *tokenResponse, conn *connection, username string) ledger.Granted {
	tid := ledger.TokenID(tr.AccessToken)
	org, user, _ := parseIdentityURL(tr.ID)
	return ledger.Granted{
		Record: &ledger.Record{
			ID:          tid,
			AccessToken: tr.AccessToken,
			Session:     ledger.NewSessionKey(conn.ClientID, org, user, tid),
			Connection:  conn.Name,
			Username:    username,
			LoginURL:    conn.clientSettings().LoginURL,
			CACert:      conn.CACert,
		},
		Answer: &ledger.Answer{
			AccessToken: tr.AccessToken, Scope: tr.Scope, InstanceURL: tr.InstanceURL,
			ID: tr.ID, TokenType: tr.TokenType, IssuedAt: tr.IssuedAt,
		},
		ReuseFor: conn.reuseInterval(),
	}
}

// requestToken runs the role's OAuth flow. When Salesforce refuses the
// current key as an invalid assertion and a rotated key is pending, the
// pending key is tried: the admin has uploaded the new certificate, so the
// pending key is promoted.
func (b *backend) requestToken(ctx context.Context, s logical.Storage, r *role, conn *connection) (*tokenResponse, error) {
	client, err := b.client(conn)
	if err != nil {
		return nil, err
	}
	if r.GrantType == grantAuthorizationCode {
		return b.refresh(ctx, s, r, conn)
	}
	if r.GrantType == grantClientCredentials {
		if conn.ClientSecret == "" {
			return nil, missingCredentialError{fmt.Sprintf("connection %q has no client_secret; write config/%s with client_secret", conn.Name, conn.Name)}
		}
		return client.GrantClientCredentials(ctx, conn.ClientSecret)
	}
	key, err := conn.signingKey()
	if err != nil {
		return nil, fmt.Errorf("error parsing the stored private key of connection %q: %w", conn.Name, err)
	}
	if key == nil {
		return nil, missingCredentialError{fmt.Sprintf("connection %q has no private key; write config/%s with private_key or generate_key=true", conn.Name, conn.Name)}
	}
	tr, err := b.grantJWT(ctx, s, client, conn, key, r.Username)
	if err == nil || !isInvalidAssertion(err) || conn.PendingKey == "" {
		return tr, err
	}
	pending, perr := conn.pendingSigningKey()
	if perr != nil {
		return nil, err
	}
	tr, perr = b.grantJWT(ctx, s, client, conn, pending, r.Username)
	if perr != nil {
		// Report the current key's refusal: the pending key is the fallback.
		return nil, err
	}
	if err := b.promotePendingKey(ctx, s, conn.Name, conn.PendingKey); err != nil {
		b.Logger().Error("salesforce accepted the pending key but promoting it failed; it will be tried again on the next grant",
			"connection", conn.Name, "error", err)
	}
	return tr, nil
}

// cleanupContext is for what a failing request still does on its way out:
// the request's own context may be the very thing that ended.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
