package sfemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	grantTypeJWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTypeCC  = "client_credentials"

	// Stats keys for grants by type.
	statJWT = "jwt_bearer"
	statCC  = "client_credentials"

	// maxFormBytes bounds a token or revoke body; a JWT assertion is far
	// smaller.
	maxFormBytes = 64 << 10
)

// The grant error table of docs/salesforce-protocol.md, word for word.
const (
	descNotApproved    = "user hasn't approved this consumer"
	descBadAudience    = "audience is invalid"
	descBadAssertion   = "invalid assertion"
	descExpired        = "expired authorization code"
	descIPRestricted   = "IP restricted or invalid login hours"
	descRateExceeded   = "login rate exceeded"
	descBadClientID    = "client identifier invalid"
	descBadClientCreds = "invalid client credentials"
	descNotAdminOK     = "user is not admin approved to access this app"
	descAppNotFound    = "External client app is not installed in this org"
	descInactiveUser   = "user is inactive"
	descInactiveOrg    = "organization is locked"
	descBadGrantType   = "grant type not supported"
	descNoScope        = "scope parameter not supported"
	descWrongDomain    = "request not supported on this domain"
	descNoCCUser       = "no client credentials user enabled"
	descMustPost       = "must use HTTP POST"
)

// tokenAnswer is the 200 body of a grant. Salesforce never sends
// expires_in; refresh_token comes only from the web server flow (with the
// refresh_token scope) and from refreshes under rotation.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Signature    string `json:"signature,omitempty"`
	Scope        string `json:"scope"`
	InstanceURL  string `json:"instance_url"`
	ID           string `json:"id"`
	TokenType    string `json:"token_type"`
	IssuedAt     string `json:"issued_at,omitempty"`
}

// grantError is one refusal of the token endpoint.
type grantError struct{ code, desc string }

// readForm parses a form-encoded body and nothing else: a JSON body or
// query parameters do not make a grant at Salesforce.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.PostForm, true
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.counters.tokenCalls++
	e.mu.Unlock()
	if r.Method != http.MethodPost {
		e.oauthFail(w, http.StatusBadRequest, "invalid_request", descMustPost)
		return
	}
	form, ok := readForm(w, r)
	if !ok {
		e.oauthFail(w, http.StatusBadRequest, "unsupported_grant_type", descBadGrantType)
		return
	}
	var (
		ans  *tokenAnswer
		gerr *grantError
	)
	switch form.Get("grant_type") {
	case grantTypeJWT:
		ans, gerr = e.grantJWT(r, form)
	case grantTypeCC:
		ans, gerr = e.grantClientCredentials(r, form)
	case grantTypeCode:
		ans, gerr = e.grantAuthorizationCode(r, form)
	case grantTypeRefresh:
		ans, gerr = e.grantRefreshToken(r, form)
	default:
		gerr = &grantError{"unsupported_grant_type", descBadGrantType}
	}
	if gerr != nil {
		e.oauthFail(w, http.StatusBadRequest, gerr.code, gerr.desc)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (e *Emulator) grantJWT(r *http.Request, form url.Values) (*tokenAnswer, *grantError) {
	if _, ok := form["scope"]; ok {
		return nil, &grantError{"invalid_request", descNoScope}
	}
	a, err := parseAssertion(form.Get("assertion"))
	if err != nil {
		return nil, &grantError{"invalid_grant", descBadAssertion}
	}
	e.mu.Lock()
	app := e.apps[a.str("iss")]
	audiences := e.acceptedAudiencesLocked(r)
	e.mu.Unlock()
	if app == nil {
		return nil, &grantError{"invalid_client_id", descBadClientID}
	}
	if app.NotInstalled {
		return nil, &grantError{"app_not_found", descAppNotFound}
	}
	if app.key == nil {
		// No certificate saved on the app: Salesforce cannot check the
		// signature and calls the client's credentials invalid.
		return nil, &grantError{"invalid_client", descBadClientCreds}
	}
	// Verification is the costly step; it runs outside the lock. The app
	// pointer is immutable: replacing a certificate replaces the app.
	if !a.verify(app.key) {
		return nil, &grantError{"invalid_grant", descBadAssertion}
	}
	if aud := a.audiences(); len(aud) != 1 || !contains(audiences, aud[0]) {
		return nil, &grantError{"invalid_grant", descBadAudience}
	}
	now := e.now()
	exp, ok := a.expiry()
	if !ok {
		return nil, &grantError{"invalid_grant", descBadAssertion}
	}
	// Salesforce's "within 3 minutes" is advice to the client, not a bound
	// it enforces: the Salesforce CLI sends exp in milliseconds, thousands of
	// years ahead, and real orgs accept it. Only a past exp is refused.
	if exp < now.Unix() {
		return nil, &grantError{"invalid_grant", descExpired}
	}
	username := a.subject()

	e.mu.Lock()
	defer e.mu.Unlock()
	// Re-read the app: an admin call may have replaced it meanwhile, and a
	// grant must follow the app as it is now.
	if cur := e.apps[app.ClientID]; cur != nil {
		app = cur
	}
	u, gerr := e.checkUserLocked(app, username, true, now)
	if gerr != nil {
		return nil, gerr
	}
	s := e.grantLocked(app, u, statJWT, now)
	return e.answerLocked(r, s), nil
}

func (e *Emulator) grantClientCredentials(r *http.Request, form url.Values) (*tokenAnswer, *grantError) {
	if h := hostOnly(r.Host); h == "login.salesforce.com" || h == "test.salesforce.com" {
		return nil, &grantError{"invalid_grant", descWrongDomain}
	}
	id, secret := clientCredentials(r, form)
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	app := e.apps[id]
	if app == nil {
		return nil, &grantError{"invalid_client_id", descBadClientID}
	}
	if app.NotInstalled {
		return nil, &grantError{"app_not_found", descAppNotFound}
	}
	if app.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		return nil, &grantError{"invalid_client", descBadClientCreds}
	}
	if app.RunAs == "" {
		return nil, &grantError{"invalid_grant", descNoCCUser}
	}
	u, gerr := e.checkUserLocked(app, app.RunAs, false, now)
	if gerr != nil {
		return nil, gerr
	}
	s := e.grantLocked(app, u, statCC, now)
	ans := e.answerLocked(r, s)
	ans.IssuedAt = strconv.FormatInt(now.UnixMilli(), 10)
	ans.Signature = Signature(app.ClientSecret, ans.ID, ans.IssuedAt)
	return ans, nil
}

// Signature is what Salesforce puts in a client-credentials answer:
// base64(HMAC-SHA256(key=client secret, message=id+issued_at)).
func Signature(clientSecret, id, issuedAt string) string {
	m := hmac.New(sha256.New, []byte(clientSecret))
	m.Write([]byte(id + issuedAt))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// checkUserLocked applies the org, user and login-budget rules in the order
// Salesforce reports them. The Run As user of client credentials needs no
// approval of the app, nor does the user of a web server flow (the consent
// or the refresh token is the approval), so needApproval is false for
// them. A user approves an app by consenting with the refresh_token scope,
// which lets JWT bearer grants through while that authorization lives.
func (e *Emulator) checkUserLocked(app *appState, username string, needApproval bool, now time.Time) (User, *grantError) {
	if e.inactiveOrg {
		return User{}, &grantError{"inactive_org", descInactiveOrg}
	}
	u, ok := app.user(username)
	if !ok {
		if needApproval || username == "" {
			// Salesforce answers an unknown username like an unapproved one.
			return User{}, &grantError{"invalid_grant", descNotApproved}
		}
		u = User{Username: username, UserID: derivedUserID(username), Approved: true, Active: true}
	}
	if !u.Active {
		return User{}, &grantError{"inactive_user", descInactiveUser}
	}
	if needApproval && !u.Approved && (app.AdminApprovedOnly || !e.hasApprovalLocked(app.ClientID, u.Username, now)) {
		if app.AdminApprovedOnly {
			return User{}, &grantError{"invalid_app_access", descNotAdminOK}
		}
		return User{}, &grantError{"invalid_grant", descNotApproved}
	}
	if u.IPRestricted {
		return User{}, &grantError{"invalid_grant", descIPRestricted}
	}
	if !e.loginAllowedLocked(u.Username, now) {
		return User{}, &grantError{"invalid_grant", descRateExceeded}
	}
	return u, nil
}

func (e *Emulator) answerLocked(r *http.Request, s *session) *tokenAnswer {
	base := e.baseLocked(r)
	return &tokenAnswer{
		AccessToken: s.token,
		Scope:       s.scope,
		InstanceURL: base,
		ID:          base + "/id/" + e.orgID + "/" + s.userID,
		TokenType:   "Bearer",
	}
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(hostport)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
