package salesforce

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// refresh gets an access token of an authorization_code role from its
// authorization's refresh token. Refreshes of one authorization never run
// at once (its lock; creds reads are forwarded to the active node, so this
// holds cluster-wide), and a rotated refresh token is stored before the
// access token it came with is handed out.
func (b *backend) refresh(ctx context.Context, s logical.Storage, r *role, conn *connection) (*tokenResponse, error) {
	unlock := b.authLocks.Lock(r.Authorization)
	defer unlock()
	a, err := getAuthorization(ctx, s, r.Authorization)
	if err != nil {
		return nil, err
	}
	if err := usableBy(a, r, conn); err != nil {
		return nil, err
	}
	client, err := b.client(conn)
	if err != nil {
		return nil, err
	}
	tr, err := client.Refresh(ctx, a.RefreshToken, conn.ClientSecret)
	if err != nil {
		return nil, b.refreshFailed(ctx, s, a, err)
	}
	a.LastRefresh, a.LastError = b.ledger.Now(), ""
	if tr.RefreshToken != "" && tr.RefreshToken != a.RefreshToken {
		// The old one is dead at Salesforce already: nothing to retire.
		a.RefreshToken, a.Rotating = tr.RefreshToken, true
	}
	if err := putAuthorization(ctx, s, a); err != nil {
		return nil, fmt.Errorf("error storing the refreshed authorization %q: %w", a.Name, err)
	}
	return tr, nil
}

// refreshFailed records what a failed refresh means for the consent. A
// refusal of the refresh token (expired, revoked at Salesforce) ends it
// until the person authorizes again. A refresh whose outcome is unknown,
// when the app rotates refresh tokens, ends it too: the stored token may
// have been rotated out, and presenting it again would make Salesforce
// revoke the whole family.
func (b *backend) refreshFailed(ctx context.Context, s logical.Storage, a *authorization, err error) error {
	var sfErr *salesforceError
	var unavail *unavailableError
	switch {
	case errors.As(err, &sfErr) && sfErr.Code == invalidGrant:
		a.LastError = fmt.Sprintf("salesforce refused the refresh token: %s", sfErr.Description)
	case errors.As(err, &unavail) && a.Rotating:
		a.LastError = "a refresh's answer was lost and this app rotates refresh tokens, so the stored one may be dead"
	default:
		return err
	}
	a.Status = authReauthRequired
	if perr := putAuthorization(ctx, s, a); perr != nil {
		return errors.Join(err, perr)
	}
	b.cache.drop()
	b.Logger().Warn("authorization needs the person to authorize again", "authorization", a.Name, "reason", a.LastError)
	if unavail != nil {
		return fmt.Errorf("%w; %s", err, a.unusable())
	}
	return requestError{fmt.Sprintf("%s; %s", err, a.unusable())}
}
