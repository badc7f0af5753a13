package salesforce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// walKindGrant covers a grant at Salesforce: if the request dies after
	// Salesforce answered, rollback revokes the user's tokens that no lease
	// holds.
	walKindGrant = "grant"
)

type grantWAL struct {
	UserKey    string    `json:"user_key"`
	Connection string    `json:"connection"`
	CreatedAt  time.Time `json:"created_at"`
}

// grantAndHold asks Salesforce for the user's token, unless a request that
// held the user's lock before us already did, and registers hid as a holder.
// Concurrent reads for one user therefore share one grant.
// The grant's WAL entry is returned for the caller to delete once the holder
// is durable: until then a crash leaves a token that rollback must revoke.
func (b *backend) grantAndHold(ctx context.Context, s logical.Storage, r *role, conn *connection, key, hid string, expires time.Time) (*cachedGrant, string, error) {
	us := b.ledger.user(key)
	us.lock.Lock()
	defer us.lock.Unlock()

	if g := b.ledger.holdCurrent(key, conn.Name, hid, expires); g != nil {
		return g, "", nil
	}
	// Salesforce would hand back a token we still owe a revocation for;
	// finish that first so the new lease gets a fresh session.
	for _, rec := range b.ledger.unheld(key) {
		if err := b.revokeRecord(ctx, s, rec); err != nil {
			return nil, "", fmt.Errorf("a revocation of this user's previous token is still pending: %w", err)
		}
	}

	walID, err := framework.PutWAL(ctx, s, walKindGrant, &grantWAL{UserKey: key, Connection: conn.Name, CreatedAt: time.Now()})
	if err != nil {
		return nil, "", fmt.Errorf("error writing the grant's WAL entry: %w", err)
	}
	tr, err := b.requestToken(ctx, s, r, conn)
	if err != nil {
		b.deleteWAL(ctx, s, walID)
		return nil, "", err
	}
	now := b.ledger.now()
	rec := &tokenRecord{
		ID:          tokenID(tr.AccessToken),
		AccessToken: tr.AccessToken,
		UserKey:     key,
		Connection:  conn.Name,
		Username:    r.Username,
		LoginURL:    conn.clientSettings().LoginURL,
		CACert:      conn.CACert,
		CreatedAt:   now,
	}
	g := &cachedGrant{tokenID: rec.ID, connection: conn.Name, resp: tr, grantedAt: now, reuseFor: conn.reuseInterval()}
	if err := b.ledger.addToken(ctx, s, rec, g); err != nil {
		b.revokeUnrecorded(ctx, rec)
		b.deleteWAL(ctx, s, walID)
		return nil, "", err
	}
	b.ledger.addHolder(rec.ID, hid, expires)
	return g, walID, nil
}

// requestToken runs the role's OAuth flow. When Salesforce refuses the
// current key as an invalid assertion and a rotated key is pending, the
// pending key is tried: the admin has uploaded the new certificate, so the
// pending key is promoted.
func (b *backend) requestToken(ctx context.Context, s logical.Storage, r *role, conn *connection) (*tokenResponse, error) {
	client, err := b.getClient(conn)
	if err != nil {
		return nil, err
	}
	if r.GrantType == grantClientCredentials {
		if conn.ClientSecret == "" {
			return nil, errMissingCredential{fmt.Sprintf("connection %q has no client_secret; write config/%s with client_secret", conn.Name, conn.Name)}
		}
		return client.GrantClientCredentials(ctx, conn.ClientSecret)
	}
	key, err := conn.signingKey()
	if err != nil {
		return nil, fmt.Errorf("error parsing the stored private key of connection %q: %w", conn.Name, err)
	}
	if key == nil {
		return nil, errMissingCredential{fmt.Sprintf("connection %q has no private key; write config/%s with private_key or generate_key=true", conn.Name, conn.Name)}
	}
	tr, err := client.GrantJWT(ctx, key, r.Username)
	if err == nil || !isInvalidAssertion(err) || conn.PendingKey == "" {
		return tr, err
	}
	pending, perr := conn.pendingSigningKey()
	if perr != nil {
		return nil, err
	}
	tr, perr = client.GrantJWT(ctx, pending, r.Username)
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

// errMissingCredential is a connection that cannot serve the role's flow:
// the operator must fix the connection, so it is a 400.
type errMissingCredential struct{ msg string }

func (e errMissingCredential) Error() string { return e.msg }

// revokeUnrecorded ends a token the ledger failed to record: no lease can
// hold it, and without a record neither the sweep nor rollback could find it.
func (b *backend) revokeUnrecorded(ctx context.Context, rec *tokenRecord) {
	if b.ledger.token(rec.ID) != nil {
		return
	}
	client, err := b.revokeClient(rec)
	if err == nil {
		err = client.Revoke(ctx, rec.AccessToken)
	}
	if err != nil {
		b.Logger().Error("could not revoke a token whose grant failed half-way; it lives until its Salesforce session times out",
			"connection", rec.Connection, "username", rec.Username, "error", err)
	}
}

// revokeRecord ends a token at Salesforce and then forgets it. Called with
// the user's lock held. An already-invalid token counts as revoked.
func (b *backend) revokeRecord(ctx context.Context, s logical.Storage, rec *tokenRecord) error {
	client, err := b.revokeClient(rec)
	if err != nil {
		return err
	}
	if err := client.Revoke(ctx, rec.AccessToken); err != nil {
		b.Logger().Warn("revocation at salesforce failed; it will be retried",
			"connection", rec.Connection, "username", rec.Username, "error", err)
		return err
	}
	b.Logger().Debug("revoked token at salesforce", "connection", rec.Connection, "username", rec.Username)
	return b.ledger.forget(ctx, s, rec.ID)
}

func (b *backend) deleteWAL(ctx context.Context, s logical.Storage, id string) {
	if err := framework.DeleteWAL(ctx, s, id); err != nil {
		// Harmless: rollback finds the token held and only drops the entry.
		b.Logger().Warn("could not delete a grant's WAL entry", "error", err)
	}
}

// credsError turns a grant failure into what the caller should see: a
// refusal by Salesforce is a 400 with Salesforce's words and a hint,
// Salesforce unreachable is a 502, anything else is ours (500).
func credsError(err error) (*logical.Response, error) {
	var sfErr *salesforceError
	var unavail *unavailableError
	var missing errMissingCredential
	switch {
	case errors.As(err, &sfErr), errors.As(err, &missing):
		return logical.ErrorResponse(err.Error()), nil
	case errors.As(err, &unavail):
		return nil, logical.CodedError(502, err.Error())
	}
	return nil, err
}
