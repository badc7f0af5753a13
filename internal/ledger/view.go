package ledger

import (
	"sort"
	"time"
)

// View is a token as an operator sees it: never the token itself.
type View struct {
	ID          string
	Connection  string
	Username    string
	Session     SessionKey
	LoginURL    string
	CreatedAt   time.Time
	LastGrant   time.Time
	Holders     int
	Provisional int            // holders not yet known to belong to a registered lease
	ByRole      map[string]int // live holders by role
	NextExpiry  time.Time      // the earliest expiry among the holders
	UnheldSince time.Time
	// State is "active" (held), "unheld" (awaiting the sweep), "revoking"
	// (revoked at Salesforce, being forgotten) or "revocation_owed".
	State string
	// Pending is the owed revocation, if any.
	Pending *Pending
	// FailedRevocations and LastError are last-holder revocations that
	// failed (Vault retries them) since the token was last revoked.
	FailedRevocations int
	LastError         string
}

// Sessions lists every token the ledger holds, oldest first.
func (l *Ledger) Sessions() []View {
	l.mu.Lock()
	defer l.mu.Unlock()
	live := l.liveMarkerLocked(l.now())
	views := make([]View, 0, len(l.tokens))
	for _, tok := range l.tokens {
		views = append(views, l.viewLocked(tok, live))
	}
	sort.Slice(views, func(i, j int) bool {
		if !views[i].CreatedAt.Equal(views[j].CreatedAt) {
			return views[i].CreatedAt.Before(views[j].CreatedAt)
		}
		return views[i].ID < views[j].ID
	})
	return views
}

// Session returns one token's view, or nil.
func (l *Ledger) Session(id string) *View {
	l.mu.Lock()
	defer l.mu.Unlock()
	tok := l.tokens[id]
	if tok == nil {
		return nil
	}
	v := l.viewLocked(tok, l.liveMarkerLocked(l.now()))
	return &v
}

func (l *Ledger) viewLocked(tok *token, live time.Time) View {
	v := View{
		ID: tok.rec.ID, Connection: tok.rec.Connection, Username: tok.rec.Username,
		Session: tok.rec.Session, LoginURL: tok.rec.LoginURL, CreatedAt: tok.rec.CreatedAt,
		LastGrant: tok.lastGrant, Holders: len(tok.holders), ByRole: map[string]int{},
		UnheldSince: tok.unheldSince, FailedRevocations: tok.failed, LastError: tok.lastError,
	}
	for _, h := range tok.holders {
		v.ByRole[h.role]++
		if h.batch != nil && !l.confirmedLocked(h, live) {
			v.Provisional++
		}
		if v.NextExpiry.IsZero() || h.expiresAt.Before(v.NextExpiry) {
			v.NextExpiry = h.expiresAt
		}
	}
	if len(tok.holders) > 0 {
		v.UnheldSince = time.Time{}
	}
	if tok.rec.Pending != nil {
		p := *tok.rec.Pending
		v.Pending = &p
	}
	switch {
	case !tok.revokedAt.IsZero():
		v.State = "revoking"
	case tok.rec.Pending != nil:
		v.State = "revocation_owed"
	case len(tok.holders) == 0:
		v.State = "unheld"
	default:
		v.State = "active"
	}
	return v
}
