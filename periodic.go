package salesforce

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// sweepGrace is how long past a lease's expiry its holder may stay, and how
// long a token may stay unheld, before the sweep acts: Vault revokes expired
// leases itself, and the sweep exists for revocations that were lost, not
// to race Vault's own.
const sweepGrace = 30 * time.Second

// periodic is Vault's periodic call (about once a minute): the ledger's
// sweep, so that a token never outlives the leases that could hold it, even
// when a revocation was lost or Vault gave up retrying it.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.mayWriteLedger() {
		return nil
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return err
	}
	res, err := b.ledger.Sweep(ctx, req.Storage)
	b.metrics.sweepRevocations.Add(int64(res.Revoked))
	b.metrics.sweepPruned.Add(int64(res.PrunedHolders))
	if res != (ledger.SweepResult{}) || err != nil {
		b.Logger().Info("ledger sweep", "revoked", res.Revoked, "pruned_holders", res.PrunedHolders,
			"orphan_batches", res.OrphanBatches, "failed_revocations", res.FailedRevokes, "error", err)
	}
	n, ferr := sweepFlows(ctx, req.Storage, b.ledger.Now())
	if n > 0 {
		b.Logger().Debug("swept expired authorization flows", "flows", n)
	}
	return errors.Join(err, ferr, b.retryRevocations(ctx, req.Storage))
}

// mayWriteLedger reports whether this node owns the ledger: the sweep and
// rollback call Salesforce and write storage, which only the active node of
// the primary cluster may do. A performance standby forwards creds and
// revocations to the active node; a performance secondary forwards them to
// the primary (unless the mount is local to it); a DR secondary serves
// nothing. Plain standbys never run the backend at all.
func (b *backend) mayWriteLedger() bool {
	sys := b.System()
	if sys == nil {
		return true
	}
	state := sys.ReplicationState()
	switch {
	case state.HasState(consts.ReplicationPerformanceStandby | consts.ReplicationDRSecondary):
		return false
	case state.HasState(consts.ReplicationPerformanceSecondary):
		return sys.LocalMount()
	}
	return true
}
