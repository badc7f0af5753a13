package sfemu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// sessionKey: Salesforce keeps one session per app and user, and hands its
// token to every grant while it lives.
type sessionKey struct{ clientID, username string }

type session struct {
	token        string
	tokenSHA256  string
	clientID     string
	username     string
	userID       string
	scope        string
	grantType    string
	created      time.Time
	lastActivity time.Time
	revokedAt    *time.Time
	expiredAt    *time.Time // set by ExpireAll: dead as if timed out
	grants       int
}

// loginWindow counts one user's grants in the current hour. A fixed window
// is coarser than Salesforce's accounting but keeps the check O(1) under
// load.
type loginWindow struct {
	start time.Time
	count int
}

type counters struct {
	grants         map[string]int
	errors         map[string]int
	tokenCalls     int
	revokeCalls    int
	restCalls      int
	faultsInjected int
}

func (e *Emulator) resetLocked() {
	e.sessions = map[string]*session{}
	e.live = map[sessionKey]*session{}
	e.order = nil
	e.logins = map[string]*loginWindow{}
	e.pending = map[string]*pendingConsent{}
	e.codes = map[string]*authCode{}
	e.refresh = map[string]*refreshToken{}
	e.families = nil
	e.counters = counters{grants: map[string]int{}, errors: map[string]int{}}
}

func (e *Emulator) count(code string) {
	e.mu.Lock()
	e.counters.errors[code]++
	e.mu.Unlock()
}

// aliveLocked: a session dies when revoked, when expired by the admin API,
// or after the idle timeout measured from its last activity.
func (e *Emulator) aliveLocked(s *session, now time.Time) bool {
	return s.revokedAt == nil && s.expiredAt == nil && now.Sub(s.lastActivity) < e.timeout
}

// loginAllowedLocked spends one login of the user's hourly budget, or
// reports that it is spent.
func (e *Emulator) loginAllowedLocked(username string, now time.Time) bool {
	if e.rateLimit < 0 {
		return true
	}
	w := e.logins[username]
	if w == nil || now.Sub(w.start) >= time.Hour || now.Before(w.start) {
		w = &loginWindow{start: now}
		e.logins[username] = w
	}
	if w.count >= e.rateLimit {
		return false
	}
	w.count++
	return true
}

// grantLocked returns the live session of app and user, or starts one.
func (e *Emulator) grantLocked(app *appState, u User, grantType string, now time.Time) *session {
	key := sessionKey{app.ClientID, u.Username}
	if e.reuse {
		if s := e.live[key]; s != nil && e.aliveLocked(s, now) {
			s.grants++
			s.lastActivity = now
			e.counters.grants[grantType]++
			return s
		}
	}
	tok := e.newToken()
	sum := sha256.Sum256([]byte(tok))
	s := &session{
		token:        tok,
		tokenSHA256:  hex.EncodeToString(sum[:]),
		clientID:     app.ClientID,
		username:     u.Username,
		userID:       u.UserID,
		scope:        app.Scopes,
		grantType:    grantType,
		created:      now,
		lastActivity: now,
		grants:       1,
	}
	e.sessions[tok] = s
	e.live[key] = s
	e.order = append(e.order, s)
	e.counters.grants[grantType]++
	return s
}

// sessionLocked finds the live session of a token and, for API calls,
// records the activity that keeps it alive.
func (e *Emulator) sessionLocked(token string, now time.Time, touch bool) *session {
	s := e.sessions[token]
	if s == nil || !e.aliveLocked(s, now) {
		return nil
	}
	if touch {
		s.lastActivity = now
	}
	return s
}

// revokeLocked ends a session; it reports false when the token was not a
// live session (unknown, revoked or expired).
func (e *Emulator) revokeLocked(token string, now time.Time) bool {
	s := e.sessions[token]
	if s == nil || !e.aliveLocked(s, now) {
		return false
	}
	t := now
	s.revokedAt = &t
	if e.live[sessionKey{s.clientID, s.username}] == s {
		delete(e.live, sessionKey{s.clientID, s.username})
	}
	return true
}

// Reset drops every session, authorization and counter; apps and faults
// stay.
func (e *Emulator) Reset() {
	e.mu.Lock()
	e.resetLocked()
	e.mu.Unlock()
}

// ExpireAll kills every live session as an idle timeout would.
func (e *Emulator) ExpireAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, s := range e.order {
		if e.aliveLocked(s, now) {
			t := now
			s.expiredAt = &t
		}
	}
	e.live = map[sessionKey]*session{}
}

// RevokeAll revokes every live session, as an admin's "revoke all" would.
func (e *Emulator) RevokeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, s := range e.order {
		e.revokeLocked(s.token, now)
	}
}

// TokenActive reports whether token is a live session; it does not count
// as activity.
func (e *Emulator) TokenActive(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessionLocked(token, e.now(), false) != nil
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newToken makes a token shaped like Salesforce's: the 15-character org id,
// "!", then an opaque string.
func (e *Emulator) newToken() string {
	const n = 110
	var b strings.Builder
	b.Grow(15 + 1 + n)
	b.WriteString(e.orgID[:15])
	b.WriteString("!AQ")
	buf := make([]byte, 2*n)
	for b.Len() < 15+1+n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, c := range buf {
			// 248 = 4*62: rejecting the rest keeps the alphabet uniform.
			if c < 248 && b.Len() < 15+1+n {
				b.WriteByte(base62[c%62])
			}
		}
	}
	return b.String()
}

// tokenShaped tells a Salesforce access token (org id, "!", opaque part)
// from any other value, which revoke calls an unsupported token type.
func tokenShaped(t string) bool {
	i := strings.IndexByte(t, '!')
	if (i != 15 && i != 18) || !strings.HasPrefix(t, "00D") || len(t) == i+1 {
		return false
	}
	for j := 0; j < i; j++ {
		if !isBase62(t[j]) {
			return false
		}
	}
	for j := i + 1; j < len(t); j++ {
		if c := t[j]; !isBase62(c) && c != '.' && c != '_' {
			return false
		}
	}
	return true
}
