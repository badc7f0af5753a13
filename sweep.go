package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// sweepGrace is how long past its last holder's expiry a token may live
// before the sweep revokes it: Vault revokes expired leases itself, and the
// sweep exists for revocations that were lost, not to race Vault's own.
const sweepGrace = 30 * time.Second

func (b *backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	// Load now so that the first read after a restart or failover does not
	// pay for it, and so that a broken ledger is reported at mount time.
	return b.ledger.ensureLoaded(ctx, req.Storage)
}

// periodic runs the sweep: tokens whose holders have all outlived their
// expiry are revoked, so a token never outlives the leases that could hold
// it, even when a revocation was lost or Vault gave up retrying.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return err
	}
	var errs []error
	for _, tid := range b.ledger.expired(b.ledger.now(), sweepGrace) {
		if err := b.sweepToken(ctx, req.Storage, tid); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, b.sweepOrphanHolders(ctx, req.Storage))
	return errors.Join(errs...)
}

// sweepOrphanHolders deletes holder entries of tokens the ledger no longer
// knows: a read racing a break-glass revocation can record its holder just
// after the token was forgotten. The token record is always written before
// any holder of it, so a holder without one is garbage.
func (b *backend) sweepOrphanHolders(ctx context.Context, s logical.Storage) error {
	tids, err := s.List(ctx, ledgerHolderPrefix)
	if err != nil {
		return fmt.Errorf("error listing ledger holders: %w", err)
	}
	for _, dir := range tids {
		tid := strings.TrimSuffix(dir, "/")
		if b.ledger.token(tid) != nil {
			continue
		}
		keys, err := s.List(ctx, ledgerHolderPrefix+dir)
		if err != nil {
			return fmt.Errorf("error listing orphaned ledger holders: %w", err)
		}
		for _, k := range keys {
			if err := s.Delete(ctx, ledgerHolderPrefix+dir+k); err != nil {
				return fmt.Errorf("error deleting orphaned ledger holders: %w", err)
			}
		}
	}
	return nil
}

func (b *backend) sweepToken(ctx context.Context, s logical.Storage, tid string) error {
	rec := b.ledger.token(tid)
	if rec == nil {
		return nil
	}
	us := b.ledger.user(rec.UserKey)
	us.lock.Lock()
	defer us.lock.Unlock()
	// Re-check under the user's lock: a renewal or new lease may have come.
	rec, ok := b.ledger.retireIfExpired(tid, b.ledger.now(), sweepGrace)
	if !ok {
		return nil
	}
	b.Logger().Info("sweeping a token whose leases have all expired", "connection", rec.Connection, "username", rec.Username)
	return b.revokeRecord(ctx, s, rec)
}

// walRollback handles a grant whose request did not finish: any token of the
// user that no lease holds is revoked. An error makes Vault retry later.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data interface{}) error {
	if kind != walKindGrant {
		return fmt.Errorf("unknown WAL kind %q", kind)
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
	if w.UserKey == "" {
		return nil
	}
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return err
	}
	us := b.ledger.user(w.UserKey)
	us.lock.Lock()
	defer us.lock.Unlock()
	for _, rec := range b.ledger.unheld(w.UserKey) {
		if err := b.revokeRecord(ctx, req.Storage, rec); err != nil {
			return err
		}
		b.Logger().Info("rolled back a grant that no lease holds", "connection", rec.Connection, "username", rec.Username)
	}
	return nil
}
