package sfemu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

const (
	// codeLifetime: an authorization code is single-use and valid for 15
	// minutes.
	codeLifetime = 15 * time.Minute
	// pendingLifetime bounds how long a login-and-consent page stays
	// answerable.
	pendingLifetime = 15 * time.Minute

	// Why a family (an authorization) ended, as Stats reports it.
	endRevoked       = "revoked"              // its refresh token was revoked
	endRotatedReused = "rotated_token_reused" // a rotated-out refresh token came back
	endApprovalLimit = "approval_limit"       // a newer approval pushed it out
	endPolicyExpired = "policy_expired"       // the refresh token policy ended it
	endExpiredByTest = "expired"              // ExpireRefreshTokens
)

// authorizeRequest is what an authorize URL asked for.
type authorizeRequest struct {
	clientID, redirectURI, scope, challenge, loginHint string
	state                                              string
	hasState                                           bool
}

// pendingConsent is an authorize request waiting at the login-and-consent
// page; the form answers it by its random id, from the same browser.
type pendingConsent struct {
	id      string
	browser string // the value of the browser cookie that must come back
	req     authorizeRequest
	created time.Time
}

// authCode is an authorization code: single-use, bound to the app, the
// redirect_uri and the PKCE challenge of its authorize request.
type authCode struct {
	clientID, username, redirectURI, challenge, scope string
	created                                           time.Time
	used                                              bool
}

// family is one authorization (one approval): the refresh tokens issued
// from one code exchange and, under rotation, each of their successors,
// and the access tokens they handed out.
type family struct {
	id                        string
	clientID, username, scope string
	created, lastRefresh      time.Time
	refreshes                 int
	endedAt                   *time.Time
	endReason                 string
	tokens                    []*refreshToken // oldest first; the last is current
	sessions                  []*session      // the access tokens it handed out
	accessTokensHandedOut     int
}

type refreshToken struct {
	token            string
	fam              *family
	issued, lastUsed time.Time
	rotatedOut       bool
}

// randomBase62 is n characters from crypto/rand, uniform over base62.
func randomBase62(n int) string {
	var b strings.Builder
	b.Grow(n)
	buf := make([]byte, 2*n)
	for b.Len() < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, c := range buf {
			// 248 = 4*62: rejecting the rest keeps the alphabet uniform.
			if c < 248 && b.Len() < n {
				b.WriteByte(base62[c%62])
			}
		}
	}
	return b.String()
}

// newCode makes a code shaped like Salesforce's: base64 with "+", "/" and
// "=" padding, so that a client which forgets to URL-decode it fails here
// as it would against a real org.
func newCode() string {
	buf := make([]byte, 49) // 49 bytes: base64 ends in "=="
	_, _ = rand.Read(buf)
	return "aPrx" + base64.StdEncoding.EncodeToString(buf)
}

// newRefreshTokenValue makes a refresh token shaped like Salesforce's.
func newRefreshTokenValue() string { return refreshPrefix + randomBase62(80) }

// refreshPrefix starts every Salesforce refresh token.
const refreshPrefix = "5Aep861"

// refreshShaped tells a refresh token from other values at revoke.
func refreshShaped(t string) bool {
	if !strings.HasPrefix(t, "5Aep") || len(t) < 20 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isBase62(c) && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sweepLocked forgets consents and codes long past their life. A used or
// expired code is kept for a while so that a replay is told the code
// expired rather than that it never existed.
func (e *Emulator) sweepLocked(now time.Time) {
	for id, p := range e.pending {
		if now.Sub(p.created) >= pendingLifetime {
			delete(e.pending, id)
		}
	}
	for c, ac := range e.codes {
		if now.Sub(ac.created) >= 2*codeLifetime {
			delete(e.codes, c)
		}
	}
}

// familyLiveLocked: not ended, and its current refresh token still within
// the app's policy.
func (e *Emulator) familyLiveLocked(f *family, now time.Time) bool {
	if f.endedAt != nil {
		return false
	}
	cur := f.tokens[len(f.tokens)-1]
	if app := e.apps[f.clientID]; app != nil && app.RefreshTokenPolicy.expired(cur.issued, cur.lastUsed, now) {
		return false
	}
	return true
}

// liveFamiliesLocked lists the live authorizations of an app and user,
// oldest first.
func (e *Emulator) liveFamiliesLocked(clientID, username string, now time.Time) []*family {
	var out []*family
	for _, f := range e.families {
		if f.clientID == clientID && f.username == username && e.familyLiveLocked(f, now) {
			out = append(out, f)
		}
	}
	return out
}

// hasApprovalLocked: a user who consented with the refresh_token scope has
// approved the app, which then also lets JWT bearer grants through.
func (e *Emulator) hasApprovalLocked(clientID, username string, now time.Time) bool {
	return len(e.liveFamiliesLocked(clientID, username, now)) > 0
}

// startFamilyLocked records a new approval and its first refresh token.
// Salesforce keeps a limited number of approvals per user and app: the
// newest pushes out the oldest, whose tokens then stop working.
func (e *Emulator) startFamilyLocked(app *appState, username, scope string, now time.Time) *refreshToken {
	if max := app.maxApprovals(); max > 0 {
		live := e.liveFamiliesLocked(app.ClientID, username, now)
		for i := 0; len(live)-i >= max; i++ {
			e.endFamilyLocked(live[i], now, endApprovalLimit, true)
		}
	}
	f := &family{
		id:       "auth-" + randomBase62(16),
		clientID: app.ClientID,
		username: username,
		scope:    scope,
		created:  now,
	}
	e.families = append(e.families, f)
	return e.newRefreshLocked(f, now)
}

func (e *Emulator) newRefreshLocked(f *family, now time.Time) *refreshToken {
	rt := &refreshToken{token: newRefreshTokenValue(), fam: f, issued: now, lastUsed: now}
	f.tokens = append(f.tokens, rt)
	e.refresh[rt.token] = rt
	return rt
}

// endFamilyLocked ends an authorization: none of its refresh tokens works
// any more and, when killSessions, every access token it handed out is
// revoked too (revoking a refresh token does that; an expiry does not).
func (e *Emulator) endFamilyLocked(f *family, now time.Time, reason string, killSessions bool) {
	if f.endedAt != nil {
		return
	}
	t := now
	f.endedAt = &t
	f.endReason = reason
	if killSessions {
		for _, s := range f.sessions {
			e.revokeLocked(s.token, now)
		}
	}
}

// linkLocked records that family f handed out session s.
func linkLocked(f *family, s *session) {
	f.accessTokensHandedOut++
	for _, x := range f.sessions {
		if x == s {
			return
		}
	}
	f.sessions = append(f.sessions, s)
}

// refreshUsableLocked: the token is known, current, and its family lives.
func (e *Emulator) refreshUsableLocked(rt *refreshToken, now time.Time) bool {
	return rt != nil && !rt.rotatedOut && e.familyLiveLocked(rt.fam, now)
}

// RefreshTokenActive reports whether a refresh token would be accepted
// now; asking does not count as a use.
func (e *Emulator) RefreshTokenActive(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refreshUsableLocked(e.refresh[token], e.now())
}

// Approvals counts the live authorizations (refresh token families) of a
// user for an app: at most five at Salesforce.
func (e *Emulator) Approvals(clientID, username string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.liveFamiliesLocked(clientID, username, e.now()))
}

// ExpireRefreshTokens ends every live authorization as an expiring refresh
// token policy would: refreshes then answer "expired access/refresh token";
// access tokens already handed out live on.
func (e *Emulator) ExpireRefreshTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, f := range e.families {
		e.endFamilyLocked(f, now, endExpiredByTest, false)
	}
}

// AuthorizationStats is one authorization (refresh token family) as Stats
// reports it: never a token, only the hash of the current refresh token.
type AuthorizationStats struct {
	ID                        string     `json:"id"`
	ClientID                  string     `json:"client_id"`
	Username                  string     `json:"username"`
	Scope                     string     `json:"scope"`
	Created                   time.Time  `json:"created"`
	LastRefresh               *time.Time `json:"last_refresh"`
	Refreshes                 int        `json:"refreshes"`
	RefreshTokensIssued       int        `json:"refresh_tokens_issued"`
	AccessTokensHandedOut     int        `json:"access_tokens_handed_out"`
	CurrentRefreshTokenSHA256 string     `json:"current_refresh_token_sha256"`
	Active                    bool       `json:"active"`
	EndedAt                   *time.Time `json:"ended_at"`
	EndReason                 string     `json:"end_reason,omitempty"`
}

// ApprovalStats counts one user's live approvals of one app.
type ApprovalStats struct {
	ClientID  string `json:"client_id"`
	Username  string `json:"username"`
	Approvals int    `json:"approvals"`
}

func (e *Emulator) authorizationStatsLocked(now time.Time) ([]AuthorizationStats, []ApprovalStats) {
	auths := make([]AuthorizationStats, 0, len(e.families))
	counts := map[[2]string]int{}
	for _, f := range e.families {
		live := e.familyLiveLocked(f, now)
		a := AuthorizationStats{
			ID:                        f.id,
			ClientID:                  f.clientID,
			Username:                  f.username,
			Scope:                     f.scope,
			Created:                   f.created,
			Refreshes:                 f.refreshes,
			RefreshTokensIssued:       len(f.tokens),
			AccessTokensHandedOut:     f.accessTokensHandedOut,
			CurrentRefreshTokenSHA256: sha256Hex(f.tokens[len(f.tokens)-1].token),
			Active:                    live,
			EndedAt:                   copyTime(f.endedAt),
			EndReason:                 f.endReason,
		}
		if f.refreshes > 0 {
			a.LastRefresh = copyTime(&f.lastRefresh)
		}
		auths = append(auths, a)
		k := [2]string{f.clientID, f.username}
		if _, seen := counts[k]; !seen {
			counts[k] = 0
		}
		if live {
			counts[k]++
		}
	}
	approvals := make([]ApprovalStats, 0, len(counts))
	for k, n := range counts {
		approvals = append(approvals, ApprovalStats{ClientID: k[0], Username: k[1], Approvals: n})
	}
	sort.Slice(approvals, func(i, j int) bool {
		if approvals[i].ClientID != approvals[j].ClientID {
			return approvals[i].ClientID < approvals[j].ClientID
		}
		return approvals[i].Username < approvals[j].Username
	})
	return auths, approvals
}
