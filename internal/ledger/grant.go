package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// cachedGrant is an answer handed to new leases without asking Salesforce
// again until reuseFor has passed. It is kept per grant key and connection
// generation: a connection rewritten since the grant never reuses it.
type cachedGrant struct {
	tid        string
	generation uint64
	answer     *Answer
	grantedAt  time.Time
	reuseFor   time.Duration
}

// Hold asks for a new lease of a token.
type Hold struct {
	// GrantKey names what was asked of Salesforce (connection, flow, user);
	// Generation is the connection's, so that a rewrite ends reuse.
	GrantKey   string
	Generation uint64
	Role       string
	TTL        time.Duration
	// Accept checks an answer against the role (its scope ceiling) before
	// a holder is recorded, so a refusal costs no call to Salesforce. It
	// runs under the ledger's lock: it must be quick and call nothing.
	Accept func(*Answer) error
}

// Lease is a recorded holder: what the creds response hands out.
type Lease struct {
	TokenID   string
	HolderID  string
	Answer    *Answer
	ExpiresAt time.Time
}

// Granted is a token Salesforce just answered.
type Granted struct {
	// Record lacks CreatedAt and Pending; the ledger sets them.
	Record   *Record
	Answer   *Answer
	ReuseFor time.Duration
}

// ErrGone: the lease's token was revoked (break glass, sweep) or the lease
// is unknown; it cannot be renewed.
var ErrGone = errors.New("the token of this lease is no longer held")

// Reuse is the hot path: when the grant key's last answer may still be
// reused, it records a new holder of its token and returns the lease; nil
// when Salesforce must be asked.
func (l *Ledger) Reuse(ctx context.Context, s logical.Storage, h Hold) (*Lease, error) {
	hid, err := newHolderID()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	g := l.reusableLocked(h)
	if g == nil {
		l.mu.Unlock()
		return nil, nil
	}
	if err := h.Accept(g.answer); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	tok := l.tokens[g.tid]
	p := l.addHolderLocked(tok, hid, h)
	l.mu.Unlock()
	if err := l.writer.persist(ctx, s, p); err != nil {
		l.dropUnwritten(tok, hid)
		if errors.Is(err, ErrRevokedMeanwhile) {
			return nil, nil
		}
		return nil, err
	}
	return &Lease{TokenID: tok.rec.ID, HolderID: hid, Answer: g.answer, ExpiresAt: p.h.ExpiresAt}, nil
}

func (l *Ledger) reusableLocked(h Hold) *cachedGrant {
	g := l.grants[h.GrantKey]
	if g == nil || g.generation != h.Generation || l.now().Sub(g.grantedAt) >= g.reuseFor {
		return nil
	}
	if tok := l.tokens[g.tid]; tok == nil || tok.revoking {
		delete(l.grants, h.GrantKey)
		return nil
	}
	return g
}

// addHolderLocked records a holder in memory, with its expiry counted from
// now: the holder must not expire before the lease Vault is about to start.
func (l *Ledger) addHolderLocked(tok *token, hid string, h Hold) *newHolder {
	now := l.now()
	tok.holders[hid] = &holder{expiresAt: now.Add(h.TTL), role: h.Role}
	tok.unheldSince = time.Time{}
	l.answers.add(hid, now)
	return holderWrite(tok.rec.ID, hid, h.Role, now.Add(h.TTL))
}

// dropUnwritten takes back a holder whose first write failed.
func (l *Ledger) dropUnwritten(tok *token, hid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers.drop(hid)
	if h := tok.holders[hid]; h != nil && h.batch == nil {
		delete(tok.holders, hid)
		l.markUnheldLocked(tok)
	}
}

// BeginGrant is called before Salesforce is asked for a token; the
// returned function once the answer was recorded or given up. While a grant
// is in flight the ledger remembers the tokens revoked since it began.
func (l *Ledger) BeginGrant() (done func()) {
	l.mu.Lock()
	id := l.inflight.begin(l.now())
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.inflight.end(id)
		l.inflight.pruneLocked(l.revoked)
		l.mu.Unlock()
	}
}

// RecordGrant records a token Salesforce answered, makes it the grant
// key's answer to reuse, and, if the role accepts it, records the new
// lease. All under the session's lock: a grant never interleaves with a
// last-holder revocation of the same Salesforce session. ErrRevokedMeanwhile
// means the answer was a token revoked while the grant was in flight: ask
// Salesforce again.
func (l *Ledger) RecordGrant(ctx context.Context, s logical.Storage, g Granted, h Hold) (*Lease, error) {
	hid, err := newHolderID()
	if err != nil {
		return nil, err
	}
	var lease *Lease
	err = l.withSession(g.Record.Session, func(sess *session) error {
		tok, err := sess.adopt(ctx, s, g.Record)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.cacheLocked(tok, g, h.GrantKey, h.Generation)
		if err := h.Accept(g.Answer); err != nil {
			l.mu.Unlock()
			return err
		}
		p := l.addHolderLocked(tok, hid, h)
		l.mu.Unlock()
		if err := l.writer.persist(ctx, s, p); err != nil {
			l.dropUnwritten(tok, hid)
			return err
		}
		lease = &Lease{TokenID: tok.rec.ID, HolderID: hid, Answer: g.Answer, ExpiresAt: p.h.ExpiresAt}
		return nil
	})
	return lease, err
}

// Offer records a token Salesforce answered without a lease asking for it
// (the access token of a consent's code exchange), as the grant key's
// answer to reuse: the first read takes it; unread, the sweep ends it once
// Grace has passed.
func (l *Ledger) Offer(ctx context.Context, s logical.Storage, g Granted, key string, generation uint64) error {
	return l.withSession(g.Record.Session, func(sess *session) error {
		tok, err := sess.adopt(ctx, s, g.Record)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.cacheLocked(tok, g, key, generation)
		l.mu.Unlock()
		return nil
	})
}

// cacheLocked makes g the key's answer to reuse. l.mu must be held.
func (l *Ledger) cacheLocked(tok *token, g Granted, key string, generation uint64) {
	now := l.now()
	tok.lastGrant = now
	l.grants[key] = &cachedGrant{tid: tok.rec.ID, generation: generation, answer: g.Answer, grantedAt: now, reuseFor: g.ReuseFor}
}

// adopt makes a granted token the ledger's: recorded durably if new,
// refused if it was revoked meanwhile. A token whose revocation is owed
// because no lease held it is alive (Salesforce just handed it out), so
// the new lease takes it and the debt is cancelled; one that break glass
// must end is ended first.
func (sess *session) adopt(ctx context.Context, s logical.Storage, rec *Record) (*token, error) {
	l := sess.l
	l.mu.Lock()
	_, dead := l.revoked[rec.ID]
	tok := l.tokens[rec.ID]
	now := l.now()
	l.mu.Unlock()
	switch {
	case dead:
		return nil, ErrRevokedMeanwhile
	case tok == nil:
		return sess.create(ctx, s, rec, now)
	case !tok.revokedAt.IsZero():
		if err := sess.forget(ctx, s, tok); err != nil {
			return nil, err
		}
		return nil, ErrRevokedMeanwhile
	case tok.rec.Pending != nil && tok.rec.Pending.Reason == ReasonBreakGlass:
		if err := sess.end(ctx, s, tok, ReasonBreakGlass); err != nil {
			return nil, fmt.Errorf("salesforce answered with a session that break glass ended and whose revocation is still failing: %w", err)
		}
		return nil, ErrRevokedMeanwhile
	case tok.revoking:
		return tok, sess.cancelDebt(ctx, s, tok)
	}
	return tok, nil
}

func (sess *session) create(ctx context.Context, s logical.Storage, rec *Record, now time.Time) (*token, error) {
	r := *rec
	r.CreatedAt, r.Pending = now, nil
	if err := putRecord(ctx, s, &r); err != nil {
		return nil, err
	}
	tok := newToken(&r)
	tok.unheldSince = now
	l := sess.l
	l.mu.Lock()
	l.tokens[r.ID] = tok
	l.mu.Unlock()
	return tok, nil
}

func (sess *session) cancelDebt(ctx context.Context, s logical.Storage, tok *token) error {
	l := sess.l
	if tok.rec.Pending != nil {
		r := *tok.rec
		r.Pending = nil
		if err := putRecord(ctx, s, &r); err != nil {
			return err
		}
		l.mu.Lock()
		tok.rec = &r
		l.mu.Unlock()
	}
	l.mu.Lock()
	tok.revoking = false
	l.mu.Unlock()
	return nil
}

// grantsInFlight are the start times of grants not yet recorded.
type grantsInFlight struct {
	next    uint64
	started map[uint64]time.Time
}

func (g *grantsInFlight) begin(now time.Time) uint64 {
	if g.started == nil {
		g.started = map[uint64]time.Time{}
	}
	g.next++
	g.started[g.next] = now
	return g.next
}

func (g *grantsInFlight) end(id uint64) { delete(g.started, id) }

func (g *grantsInFlight) empty() bool { return len(g.started) == 0 }

// pruneLocked forgets revoked tokens that no grant in flight can have been
// answered with: a grant that began after a revocation cannot get its token.
func (g *grantsInFlight) pruneLocked(revoked map[string]time.Time) {
	var oldest time.Time
	for _, t := range g.started {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	for tid, at := range revoked {
		if oldest.IsZero() || at.Before(oldest) {
			delete(revoked, tid)
		}
	}
}

func newHolderID() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("error generating a holder ID: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}
