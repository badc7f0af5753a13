package ledger

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// session is the proof that its Salesforce session's lock is held: every
// step that may revoke a token or rewrite its holders is a method of it, and
// withSession is the only way to get one. Grants and last-holder
// revocations of one session therefore never interleave, whichever role,
// connection or flow they came through.
type session struct {
	l   *Ledger
	key SessionKey
}

// withSession runs fn under the lock of the Salesforce session key.
func (l *Ledger) withSession(key SessionKey, fn func(*session) error) error {
	unlock := l.sessions.Lock(key.String())
	defer unlock()
	return fn(&session{l: l, key: key})
}

// withToken runs fn under the lock of tid's session, with the token; when
// the ledger no longer knows it, fn does not run and gone is returned.
func (l *Ledger) withToken(tid string, gone error, fn func(*session, *token) error) error {
	_, key := l.lookup(tid)
	if key == (SessionKey{}) {
		return gone
	}
	return l.withSession(key, func(sess *session) error {
		tok := sess.token(tid)
		if tok == nil {
			return gone
		}
		return fn(sess, tok)
	})
}

// token returns the token under this session's lock, or nil when the ledger
// no longer knows it.
func (sess *session) token(tid string) *token {
	l := sess.l
	l.mu.Lock()
	defer l.mu.Unlock()
	tok := l.tokens[tid]
	if tok == nil || tok.rec.Session != sess.key {
		return nil
	}
	return tok
}

// removeHolders durably removes holders, batch by batch; memory follows
// each write that succeeded, so a failure leaves both agreeing.
func (sess *session) removeHolders(ctx context.Context, s logical.Storage, tok *token, hids []string) error {
	l := sess.l
	byBatch := map[*batch]map[string]*holder{}
	l.mu.Lock()
	for _, hid := range hids {
		h := tok.holders[hid]
		if h == nil {
			continue
		}
		if h.batch == nil {
			// Never written (its read is failing): memory only.
			delete(tok.holders, hid)
			continue
		}
		if byBatch[h.batch] == nil {
			byBatch[h.batch] = map[string]*holder{}
		}
		byBatch[h.batch][hid] = nil
	}
	l.markUnheldLocked(tok)
	l.mu.Unlock()
	for b, change := range byBatch {
		if err := l.writeBatch(ctx, s, tok, b, change); err != nil {
			return err
		}
		l.mu.Lock()
		for hid := range change {
			delete(tok.holders, hid)
			delete(b.members, hid)
		}
		if len(b.members) == 0 {
			delete(tok.batches, b.id)
		}
		l.markUnheldLocked(tok)
		l.mu.Unlock()
	}
	return nil
}

func (l *Ledger) markUnheldLocked(tok *token) {
	if len(tok.holders) == 0 && tok.unheldSince.IsZero() {
		tok.unheldSince = l.now()
	}
}

// end revokes a token whatever holds it and forgets it. If Salesforce does
// not confirm, the revocation is owed: recorded with reason, never handed
// out meanwhile, retried by the sweep with backoff.
func (sess *session) end(ctx context.Context, s logical.Storage, tok *token, reason string) error {
	l := sess.l
	l.mu.Lock()
	l.retireLocked(tok)
	done := !tok.revokedAt.IsZero()
	l.mu.Unlock()
	if !done {
		if err := l.opts.Revoke(ctx, tok.rec); err != nil {
			sess.owe(ctx, s, tok, reason, err)
			return err
		}
		l.mu.Lock()
		tok.revokedAt = l.now()
		l.mu.Unlock()
	}
	return sess.forget(ctx, s, tok)
}

// endIfUnheld ends a token that no lease holds; false when one does (or a
// read is taking it right now), which is checked atomically with the
// retirement so that no new holder can slip in.
func (sess *session) endIfUnheld(ctx context.Context, s logical.Storage, tok *token, reason string) (bool, error) {
	l := sess.l
	l.mu.Lock()
	held := len(tok.holders) > 0
	if !held {
		l.retireLocked(tok)
	}
	l.mu.Unlock()
	if held {
		return false, nil
	}
	return true, sess.end(ctx, s, tok, reason)
}

// owe records a failed revocation that must still happen. A failure to
// record it leaves the token retired in memory: the sweep finds it unheld.
func (sess *session) owe(ctx context.Context, s logical.Storage, tok *token, reason string, cause error) {
	l := sess.l
	now := l.Now()
	rec := *tok.rec
	p := Pending{Reason: reason, Since: now}
	if tok.rec.Pending != nil {
		p = *tok.rec.Pending
	}
	p.Attempts++
	p.LastError = cause.Error()
	p.NextAttempt = now.Add(backoff(p.Attempts))
	rec.Pending = &p
	if err := putRecord(ctx, s, &rec); err != nil {
		l.log.Error("could not record an owed revocation; the sweep will retry it", "session", tok.rec.ID[:12], "error", err)
		return
	}
	l.mu.Lock()
	tok.rec = &rec
	l.mu.Unlock()
	l.log.Warn("revocation at salesforce failed; it is owed and will be retried",
		"connection", rec.Connection, "username", rec.Username, "reason", reason,
		"attempts", p.Attempts, "next_attempt", p.NextAttempt, "error", cause)
}

// forget removes a revoked token and its holders from storage, then from
// memory, and remembers it as revoked for grants still in flight.
func (sess *session) forget(ctx context.Context, s logical.Storage, tok *token) error {
	l := sess.l
	l.mu.Lock()
	batches := make(map[string]*batch, len(tok.batches))
	for id, b := range tok.batches {
		batches[id] = b
	}
	l.mu.Unlock()
	for id, b := range batches {
		if err := s.Delete(ctx, batchKey(tok.rec.ID, id)); err != nil {
			return fmt.Errorf("error removing the leases of a revoked token from the ledger: %w", err)
		}
		l.mu.Lock()
		for hid := range b.members {
			delete(tok.holders, hid)
		}
		delete(tok.batches, id)
		l.mu.Unlock()
	}
	if err := s.Delete(ctx, TokenPrefix+tok.rec.ID); err != nil {
		return fmt.Errorf("error removing a revoked token from the ledger: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tokens, tok.rec.ID)
	l.revoked[tok.rec.ID] = l.now()
	l.inflight.pruneLocked(l.revoked)
	return nil
}
