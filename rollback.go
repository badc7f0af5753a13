package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// walKindGrant covers grants at Salesforce whose outcome is not known: the
// plugin died after Salesforce answered, or the request's context ended, or
// Salesforce could not be heard, or the answer could not be recorded. Such a
// grant may have started a session that no lease holds and no record names.
// Rollback asks Salesforce again for the same user, which answers the live
// session's token, and revokes it unless a lease holds it.
const walKindGrant = "grant"

type grantWAL struct {
	GrantKey   string `json:"grant_key"`
	Connection string `json:"connection"`
	ClientID   string `json:"client_id"`
	GrantType  string `json:"grant_type"`
	Username   string `json:"username,omitempty"`
	// Authorization is the consent an authorization_code grant refreshed.
	Authorization string    `json:"authorization,omitempty"`
	CreatedAt     time.Time `json:"created_at"`

	// UserKey marks entries written before rollback could ask Salesforce
	// again; they name no connection and are dropped.
	UserKey string `json:"user_key,omitempty"`
}

// grantWALState is the WAL entry covering a grant key's grants, and
// whether an earlier grant of the key left an unknown outcome behind (then
// only a grant the ledger records settles it).
type grantWALState struct {
	id      string
	unknown bool
}

// coverGrant returns the WAL entry covering a grant of key, writing one if
// the key has none. Called under the key's grant lock.
func (b *backend) coverGrant(ctx context.Context, s logical.Storage, key string, conn *connection, r *role) (string, error) {
	b.walMu.Lock()
	st, ok := b.grantWALs[key]
	b.walMu.Unlock()
	if ok {
		return st.id, nil
	}
	id, err := framework.PutWAL(ctx, s, walKindGrant, &grantWAL{
		GrantKey: key, Connection: conn.Name, ClientID: conn.ClientID,
		GrantType: r.GrantType, Username: r.Username, Authorization: r.Authorization, CreatedAt: b.ledger.Now(),
	})
	if err != nil {
		return "", fmt.Errorf("error writing the grant's WAL entry: %w", err)
	}
	b.walMu.Lock()
	b.grantWALs[key] = grantWALState{id: id}
	b.walMu.Unlock()
	return id, nil
}

// settleGrantWAL keeps or deletes the entry once a grant's outcome is in.
// A token the ledger recorded settles every earlier grant of the key too:
// Salesforce answers the live session, which is now recorded. A refusal by
// Salesforce issued nothing. Anything else may have started a session.
func (b *backend) settleGrantWAL(ctx context.Context, s logical.Storage, key, id string, err error) {
	var sfErr *salesforceError
	var missing missingCredentialError
	var ceiling ceilingError
	b.walMu.Lock()
	st := b.grantWALs[key]
	switch {
	case err == nil, errors.As(err, &ceiling):
	case errors.As(err, &sfErr), errors.As(err, &missing):
		if st.unknown {
			b.walMu.Unlock()
			return
		}
	default:
		b.grantWALs[key] = grantWALState{id: id, unknown: true}
		b.walMu.Unlock()
		b.Logger().Warn("a grant's outcome at salesforce is unknown; its WAL entry stays for rollback", "grant_error", err)
		return
	}
	delete(b.grantWALs, key)
	b.walMu.Unlock()
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := framework.DeleteWAL(cctx, s, id); err != nil {
		// Harmless: rollback finds the session held and only drops the entry.
		b.Logger().Warn("could not delete a grant's WAL entry", "error", err)
	}
}

// walRollback settles a grant whose outcome was never known. An error makes
// Vault retry later; nil lets Vault delete the entry.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data interface{}) error {
	if kind != walKindGrant {
		return fmt.Errorf("unknown WAL kind %q", kind)
	}
	if !b.mayWriteLedger() {
		return errors.New("grants are rolled back on the active node of the primary cluster only")
	}
	// Vault hands the entry back decoded into generic maps; go through JSON
	// so that the struct's own field names apply.
	var w grantWAL
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil {
		return fmt.Errorf("error decoding a grant WAL entry: %w", err)
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return err
	}
	if err := b.rollbackGrant(ctx, req.Storage, &w); err != nil {
		b.metrics.rollback("failed")
		return err
	}
	b.forgetGrantWAL(w.GrantKey)
	return nil
}

func (b *backend) rollbackGrant(ctx context.Context, s logical.Storage, w *grantWAL) error {
	if w.GrantKey == "" {
		b.Logger().Warn("dropping a grant WAL entry from an earlier version: it names no connection to ask salesforce through")
		b.dropRollback()
		return nil
	}
	conn, err := getConnection(ctx, s, w.Connection)
	if err != nil {
		return err
	}
	if conn == nil || conn.ClientID != w.ClientID {
		b.Logger().Warn("cannot roll back a grant: its connection is gone or points at another app; a session it started lives until salesforce times it out",
			"connection", w.Connection, "username", w.Username)
		b.dropRollback()
		return nil
	}
	unlock := b.grantLocks.Lock(w.GrantKey)
	defer unlock()
	done := b.ledger.BeginGrant()
	defer done()
	r := &role{Name: "(rollback)", Connection: conn.Name, GrantType: w.GrantType, Username: w.Username, Authorization: w.Authorization}
	tr, err := b.requestToken(ctx, s, r, conn)
	var sfErr *salesforceError
	var missing missingCredentialError
	switch {
	case errors.As(err, &sfErr), errors.As(err, &missing):
		// Salesforce grants nothing to this user now; a session the lost
		// grant started cannot be obtained, and ends with the user's.
		b.Logger().Warn("cannot roll back a grant: salesforce refuses the user now", "connection", conn.Name, "username", w.Username, "error", err)
		b.dropRollback()
		return nil
	case err != nil:
		return err
	}
	if err := b.ledger.Settle(ctx, s, granted(tr, conn, w.Username)); err != nil {
		return err
	}
	b.metrics.rollback("ok")
	b.Logger().Info("rolled back a grant whose outcome was unknown", "connection", conn.Name, "username", w.Username)
	return nil
}

// dropRollback counts a rollback that has nothing left to reach: a session
// the lost grant may have started lives until Salesforce times it out.
func (b *backend) dropRollback() {
	b.metrics.rollback("dropped")
	b.metrics.revocation("given_up")
}

// forgetGrantWAL drops the memory of a key's entry once rollback took it.
func (b *backend) forgetGrantWAL(key string) {
	b.walMu.Lock()
	delete(b.grantWALs, key)
	b.walMu.Unlock()
}

// abandon takes back a lease whose answer will never reach Vault, on a
// context of its own: the request's is usually what ended.
func (b *backend) abandon(ctx context.Context, s logical.Storage, lease *ledger.Lease) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := b.ledger.Abandon(cctx, s, lease.TokenID, lease.HolderID); err != nil {
		b.Logger().Error("could not take back the lease of a read that failed; the sweep will end its token", "error", err)
	}
}
