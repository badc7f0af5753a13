package sfemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	grantTypeCode    = "authorization_code"
	grantTypeRefresh = "refresh_token"

	// Stats keys for grants by type.
	statCode    = "authorization_code"
	statRefresh = "refresh_token"
)

// The web server flow's token errors, in Salesforce's words (see
// docs/salesforce-protocol.md for where each comes from).
const (
	descBadCode            = "invalid authorization code"
	descBadVerifier        = "invalid code verifier"
	descUnexpectedVerifier = "unexpected code verifier"
	descExpiredRefresh     = "expired access/refresh token"
)

// clientCredentials takes client_id and client_secret from the body or,
// when present, from HTTP Basic (whose parts RFC 6749 form-encodes).
func clientCredentials(r *http.Request, form url.Values) (id, secret string) {
	id, secret = form.Get("client_id"), form.Get("client_secret")
	if bu, bp, ok := r.BasicAuth(); ok {
		if v, err := url.QueryUnescape(bu); err == nil {
			bu = v
		}
		if v, err := url.QueryUnescape(bp); err == nil {
			bp = v
		}
		id, secret = bu, bp
	}
	return id, secret
}

// webClientLocked authenticates the app of a code exchange or refresh: a
// secret is needed only when the app requires one, and is checked whenever
// it is sent.
func (e *Emulator) webClientLocked(id, secret string) (*appState, *grantError) {
	app := e.apps[id]
	switch {
	case app == nil:
		return nil, &grantError{"invalid_client_id", descBadClientID}
	case app.NotInstalled:
		return nil, &grantError{"app_not_found", descAppNotFound}
	case secret != "" && (app.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1):
		return nil, &grantError{"invalid_client", descBadClientCreds}
	case secret == "" && app.RequireSecretForWebServerFlow:
		return nil, &grantError{"invalid_client", descBadClientCreds}
	}
	return app, nil
}

// pkceMatches: the challenge is base64url(SHA-256(verifier)) without
// padding. Salesforce refuses a verifier holding "~" although RFC 7636
// allows it (it documents the verifier as base64url), so the emulator
// does too.
func pkceMatches(verifier, challenge string) bool {
	if strings.ContainsRune(verifier, '~') {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// grantAuthorizationCode redeems a code. A refusal leaves the code unused
// (except that it may expire), so the emulator is never stricter than
// Salesforce about a retry.
func (e *Emulator) grantAuthorizationCode(r *http.Request, form url.Values) (*tokenAnswer, *grantError) {
	id, secret := clientCredentials(r, form)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	app, gerr := e.webClientLocked(id, secret)
	if gerr != nil {
		return nil, gerr
	}
	c := e.codes[form.Get("code")]
	switch {
	case c == nil || c.clientID != app.ClientID:
		return nil, &grantError{"invalid_grant", descBadCode}
	case c.used || now.Sub(c.created) >= codeLifetime:
		return nil, &grantError{"invalid_grant", descExpired}
	case form.Get("redirect_uri") != c.redirectURI:
		return nil, &grantError{"redirect_uri_mismatch", descRedirectMismatch}
	}
	verifier := form.Get("code_verifier")
	switch {
	case c.challenge != "" && verifier == "":
		return nil, &grantError{"invalid_grant", descBadVerifier}
	case c.challenge == "" && verifier != "":
		return nil, &grantError{"invalid_grant", descUnexpectedVerifier}
	case c.challenge != "" && !pkceMatches(verifier, c.challenge):
		return nil, &grantError{e.pkceMismatch, descBadVerifier}
	}
	u, gerr := e.checkUserLocked(app, c.username, false, now)
	if gerr != nil {
		return nil, gerr
	}
	c.used = true
	// The approval comes first: when it pushes out the user's oldest one,
	// the access tokens that one handed out die, and the session handed
	// out below must not be one of them.
	var rt *refreshToken
	if offline(c.scope) {
		rt = e.startFamilyLocked(app, u.Username, c.scope, now)
	}
	s := e.grantLocked(app, u, statCode, now)
	ans := e.webAnswerLocked(r, app, s, c.scope, now)
	if rt != nil {
		linkLocked(rt.fam, s)
		ans.RefreshToken = rt.token
	}
	return ans, nil
}

// grantRefreshToken answers an access token for a refresh token: the live
// session of the app and user if there is one (the emulator's rule, as
// for every grant), else a new one. Under rotation it also answers a new
// refresh token and ends the one used; the ended one coming back revokes
// the whole family.
func (e *Emulator) grantRefreshToken(r *http.Request, form url.Values) (*tokenAnswer, *grantError) {
	id, secret := clientCredentials(r, form)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	app, gerr := e.webClientLocked(id, secret)
	if gerr != nil {
		return nil, gerr
	}
	expired := &grantError{"invalid_grant", descExpiredRefresh}
	rt := e.refresh[form.Get("refresh_token")]
	if rt == nil || rt.fam.clientID != app.ClientID || rt.fam.endedAt != nil {
		return nil, expired
	}
	f := rt.fam
	if rt.rotatedOut {
		// A rotated-out token is either stolen or replayed by a confused
		// client: Salesforce ends the whole authorization.
		e.endFamilyLocked(f, now, endRotatedReused, true)
		return nil, expired
	}
	if app.RefreshTokenPolicy.expired(rt.issued, rt.lastUsed, now) {
		e.endFamilyLocked(f, now, endPolicyExpired, false)
		return nil, expired
	}
	u, gerr := e.checkUserLocked(app, f.username, false, now)
	if gerr != nil {
		return nil, gerr
	}
	rt.lastUsed = now
	f.lastRefresh = now
	f.refreshes++
	s := e.grantLocked(app, u, statRefresh, now)
	linkLocked(f, s)
	ans := e.webAnswerLocked(r, app, s, f.scope, now)
	if app.RefreshTokenRotation {
		rt.rotatedOut = true
		ans.RefreshToken = e.newRefreshLocked(f, now).token
	}
	return ans, nil
}

// webAnswerLocked is the answer of the web server and refresh flows: the
// authorization's scope, issued_at in milliseconds and, for an app with a
// consumer secret, the signature over id and issued_at. No expires_in.
func (e *Emulator) webAnswerLocked(r *http.Request, app *appState, s *session, scope string, now time.Time) *tokenAnswer {
	ans := e.answerLocked(r, s)
	ans.Scope = scope
	ans.IssuedAt = strconv.FormatInt(now.UnixMilli(), 10)
	if app.ClientSecret != "" {
		ans.Signature = Signature(app.ClientSecret, ans.ID, ans.IssuedAt)
	}
	return ans
}
