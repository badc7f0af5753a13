package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// SweepResult counts what a sweep did, for the log and the metrics.
type SweepResult struct {
	Revoked        int // tokens revoked at Salesforce
	PrunedHolders  int // holders of leases past their expiry
	OrphanBatches  int // holder entries of tokens the ledger no longer knows
	FailedRevokes  int // revocations that failed and remain owed
	ForgottenCache int // expired reuse answers dropped from memory
}

// Sweep is the ledger's periodic work, so that a token never outlives the
// leases that could hold it even when a revocation was lost or Vault gave
// up retrying it:
//   - holders whose lease expired more than Grace ago are dropped (Vault
//     revokes expired leases itself; these are the ones it did not);
//   - a token no lease holds for more than Grace is revoked;
//   - an owed revocation is retried once its backoff has passed;
//   - holder entries of forgotten tokens and unused epochs are deleted.
func (l *Ledger) Sweep(ctx context.Context, s logical.Storage) (SweepResult, error) {
	var res SweepResult
	if err := l.Confirm(ctx, s); err != nil {
		// Without its own record, this instance still knows its holders;
		// only after a restart would they count as provisional.
		l.log.Warn("could not record the confirmed leases; continuing the sweep", "error", err)
	}
	var errs []error
	now := l.Now()
	for _, tid := range l.sweepCandidates(now) {
		if err := l.sweepToken(ctx, s, tid, now, &res); err != nil {
			res.FailedRevokes++
			errs = append(errs, err)
		}
	}
	n, err := l.deleteOrphans(ctx, s)
	res.OrphanBatches = n
	errs = append(errs, err, l.pruneEpochs(ctx, s))
	res.ForgottenCache = l.pruneGrants(now)
	return res, errors.Join(errs...)
}

// sweepCandidates lists the tokens with something for the sweep to do.
func (l *Ledger) sweepCandidates(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	live := l.liveMarkerLocked(now)
	var ids []string
	for id, tok := range l.tokens {
		if l.needsSweepLocked(tok, now, live) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (l *Ledger) needsSweepLocked(tok *token, now, live time.Time) bool {
	switch {
	case !tok.revokedAt.IsZero():
		return true
	case tok.rec.Pending != nil:
		return !now.Before(tok.rec.Pending.NextAttempt)
	case len(tok.holders) == 0:
		return now.Sub(tok.unheldSince) > l.opts.Grace
	}
	return len(l.expiredHoldersLocked(tok, now, live)) > 0
}

func (l *Ledger) expiredHoldersLocked(tok *token, now, live time.Time) []string {
	var hids []string
	for hid, h := range tok.holders {
		if exp, ok := l.expiryLocked(h, live); ok && now.Sub(exp) > l.opts.Grace {
			hids = append(hids, hid)
		}
	}
	return hids
}

func (l *Ledger) sweepToken(ctx context.Context, s logical.Storage, tid string, now time.Time, res *SweepResult) error {
	return l.withToken(tid, nil, func(sess *session, tok *token) error {
		l.mu.Lock()
		revoked, pending := !tok.revokedAt.IsZero(), tok.rec.Pending
		expired := l.expiredHoldersLocked(tok, now, l.liveMarkerLocked(now))
		l.mu.Unlock()
		switch {
		case revoked:
			return sess.forget(ctx, s, tok)
		case pending != nil:
			if now.Before(pending.NextAttempt) {
				return nil
			}
			return sess.count(res, sess.end(ctx, s, tok, pending.Reason))
		}
		if len(expired) > 0 {
			l.log.Info("dropping holders of leases that expired without being revoked", "connection", tok.rec.Connection,
				"username", tok.rec.Username, "holders", len(expired))
			if err := sess.removeHolders(ctx, s, tok, expired); err != nil {
				return err
			}
			res.PrunedHolders += len(expired)
		}
		l.mu.Lock()
		due := len(tok.holders) == 0 && (len(expired) > 0 || now.Sub(tok.unheldSince) > l.opts.Grace)
		l.mu.Unlock()
		if !due {
			return nil
		}
		reason := ReasonUnheld
		if len(expired) > 0 {
			reason = ReasonExpired
		}
		ended, err := sess.endIfUnheld(ctx, s, tok, reason)
		if ended {
			return sess.count(res, err)
		}
		return err
	})
}

func (sess *session) count(res *SweepResult, err error) error {
	if err == nil {
		res.Revoked++
	}
	return err
}

// deleteOrphans deletes holder entries of tokens the ledger no longer
// knows. The ledger deletes a token's holders before its record, so these
// are left by a failure half-way, or by another node's crash.
func (l *Ledger) deleteOrphans(ctx context.Context, s logical.Storage) (int, error) {
	dirs, err := s.List(ctx, HolderPrefix)
	if err != nil {
		return 0, fmt.Errorf("error listing ledger holders: %w", err)
	}
	n := 0
	for _, dir := range dirs {
		tid := strings.TrimSuffix(dir, "/")
		if tok, _ := l.lookup(tid); tok != nil {
			continue
		}
		keys, err := s.List(ctx, HolderPrefix+dir)
		if err != nil {
			return n, fmt.Errorf("error listing orphaned ledger holders: %w", err)
		}
		for _, k := range keys {
			if err := s.Delete(ctx, HolderPrefix+dir+k); err != nil {
				return n, fmt.Errorf("error deleting orphaned ledger holders: %w", err)
			}
			n++
		}
	}
	return n, nil
}

// pruneGrants forgets reuse answers that can no longer be reused, so that
// memory follows live use, not every user ever served.
func (l *Ledger) pruneGrants(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for key, g := range l.grants {
		if now.Sub(g.grantedAt) >= g.reuseFor || l.tokens[g.tid] == nil {
			delete(l.grants, key)
			n++
		}
	}
	l.inflight.pruneLocked(l.revoked)
	return n
}

// BreakGlass revokes now every token any live lease of role holds, whatever
// else holds it, found by the ledger's own record of each lease's role: it
// works after the role, its connection or the connection's client_id
// changed. A token whose revocation fails stays owed (never handed out) and
// is retried by the sweep; the errors are returned.
func (l *Ledger) BreakGlass(ctx context.Context, s logical.Storage, role string) (tokens, leases int, err error) {
	var errs []error
	for _, tid := range l.heldBy(role) {
		err := l.withToken(tid, nil, func(sess *session, tok *token) error {
			l.mu.Lock()
			held := len(tok.holders)
			l.mu.Unlock()
			if err := sess.end(ctx, s, tok, ReasonBreakGlass); err != nil {
				return err
			}
			tokens++
			leases += held
			return nil
		})
		errs = append(errs, err)
	}
	return tokens, leases, errors.Join(errs...)
}

// heldBy lists the tokens that a lease of role holds.
func (l *Ledger) heldBy(role string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, tok := range l.tokens {
		for _, h := range tok.holders {
			if h.role == role {
				ids = append(ids, id)
				break
			}
		}
	}
	return ids
}

// Settle ends a token obtained to roll back a grant whose outcome was
// unknown: Salesforce answers the live session's token, which the lost
// grant may have started. It is revoked unless a lease holds it; if that
// fails it is recorded as owed, for the sweep to retry.
func (l *Ledger) Settle(ctx context.Context, s logical.Storage, g Granted) error {
	return l.withSession(g.Record.Session, func(sess *session) error {
		l.mu.Lock()
		_, dead := l.revoked[g.Record.ID]
		tok := l.tokens[g.Record.ID]
		l.mu.Unlock()
		if dead {
			return nil
		}
		if tok != nil {
			_, err := sess.endIfUnheld(ctx, s, tok, ReasonRollback)
			return err
		}
		if err := l.opts.Revoke(ctx, g.Record); err != nil {
			tok, cerr := sess.create(ctx, s, g.Record, l.Now())
			if cerr != nil {
				return errors.Join(err, cerr)
			}
			sess.owe(ctx, s, tok, ReasonRollback, err)
			return nil
		}
		l.mu.Lock()
		l.revoked[g.Record.ID] = l.now()
		l.mu.Unlock()
		return nil
	})
}
