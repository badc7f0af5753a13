package ledger

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Release ends one lease, all or nothing. When it is not the token's last
// holder, the holder is removed. When it is, the token is revoked at
// Salesforce and forgotten; if Salesforce does not confirm, the holder stays
// exactly as it was and the error is returned, so that Vault (which keeps
// the lease live until this succeeds) retries. Releasing a lease the ledger
// no longer knows (revoked by break glass or the sweep) succeeds.
func (l *Ledger) Release(ctx context.Context, s logical.Storage, tid, hid string) error {
	l.forgetAnswer(hid)
	return l.withToken(tid, nil, func(sess *session, tok *token) error {
		l.mu.Lock()
		_, held := tok.holders[hid]
		last := held && len(tok.holders) == 1
		if last {
			l.retireLocked(tok)
		}
		l.mu.Unlock()
		switch {
		case !held:
			return nil
		case !last:
			return sess.removeHolders(ctx, s, tok, []string{hid})
		}
		return sess.releaseLast(ctx, s, tok)
	})
}

func (sess *session) releaseLast(ctx context.Context, s logical.Storage, tok *token) error {
	l := sess.l
	if tok.revokedAt.IsZero() {
		if err := l.opts.Revoke(ctx, tok.rec); err != nil {
			l.mu.Lock()
			// As it was: still held, handed out again only once
			// Salesforce has been asked (a failed revocation may have
			// ended the session after all), and still retired if its
			// revocation is owed for another reason.
			tok.revoking = tok.rec.Pending != nil
			tok.failed++
			tok.lastError = err.Error()
			l.mu.Unlock()
			return err
		}
		l.mu.Lock()
		tok.revokedAt = l.now()
		l.mu.Unlock()
	}
	return sess.forget(ctx, s, tok)
}

// Abandon takes back the holder of a read that failed after recording it:
// no lease will ever exist for it. If that leaves the token unheld, it is
// revoked now, or owed if Salesforce does not confirm.
func (l *Ledger) Abandon(ctx context.Context, s logical.Storage, tid, hid string) error {
	l.forgetAnswer(hid)
	return l.withToken(tid, nil, func(sess *session, tok *token) error {
		if err := sess.removeHolders(ctx, s, tok, []string{hid}); err != nil {
			return err
		}
		_, err := sess.endIfUnheld(ctx, s, tok, ReasonAbandoned)
		return err
	})
}

// forgetAnswer stops following a holder whose read ended either way.
func (l *Ledger) forgetAnswer(hid string) {
	l.mu.Lock()
	l.answers.drop(hid)
	l.mu.Unlock()
}

// Handed tells the ledger that the read which recorded hid answered: from
// now on only Vault's registration of its lease stands between the answer
// and a lease (see confirm.go).
func (l *Ledger) Handed(hid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers.handed(hid, l.now(), l.opts.RegistrationMargin)
}

// Extend moves a lease's expiry (a renewal), durably. A renewal proves that
// Vault registered the lease, so the holder is confirmed too. ErrGone when
// the token was revoked or the holder is unknown.
func (l *Ledger) Extend(ctx context.Context, s logical.Storage, tid, hid string, expires time.Time) error {
	return l.withToken(tid, ErrGone, func(sess *session, tok *token) error {
		l.mu.Lock()
		h := tok.holders[hid]
		revoking := tok.revoking
		l.mu.Unlock()
		if h == nil || h.batch == nil || revoking {
			return ErrGone
		}
		next := &holder{expiresAt: expires, role: h.role, confirmed: true, batch: h.batch}
		if err := l.writeBatch(ctx, s, tok, h.batch, map[string]*holder{hid: next}); err != nil {
			return err
		}
		l.mu.Lock()
		tok.holders[hid] = next
		l.mu.Unlock()
		return nil
	})
}
