package sfemu

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The authorize endpoint's answers, in Salesforce's words (see the web
// server flow section of docs/salesforce-protocol.md).
const (
	descNoRedirect       = "redirect_uri not provided"
	descRedirectMismatch = "redirect_uri must match configuration" //nolint:gosec // G101: Salesforce's error text, not a credential
	descBadResponseType  = "response type not supported"
	descDenied           = "end-user denied authorization"
	errAppAccessDenied   = "OAUTH_APP_ACCESS_DENIED"

	// loginFailed is what Salesforce's login page says for a wrong
	// username or password, an inactive user, or a locked org alike.
	loginFailed = "Please check your username and password. If you still can't log in, contact your Salesforce administrator."
	// loginRestricted: the profile's login IP ranges or hours.
	loginRestricted = "Login restricted: your login IP address or login hours do not allow you to log in now."

	// browserCookie ties a login-and-consent form to the browser that
	// fetched it, as Salesforce's login session cookies do.
	browserCookie = "sfemu_browser"
)

// ErrLoginFailed is returned by Consent for a username the login page
// would refuse.
var ErrLoginFailed = errors.New("login failed")

// authorizeFailure is a refused authorize request: shown on Salesforce's
// error page when the callback cannot be trusted, else sent to it.
type authorizeFailure struct {
	page       bool
	code, desc string
}

func (e *Emulator) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		e.startConsent(w, r, r.URL.Query())
	case http.MethodPost:
		form, ok := readForm(w, r)
		if !ok {
			e.errorPage(w, http.StatusBadRequest, "invalid_request", "the form must be application/x-www-form-urlencoded")
			return
		}
		if form.Has("pending") {
			e.serveConsentForm(w, r, form)
			return
		}
		// Salesforce also takes the authorize parameters as a POST body.
		e.startConsent(w, r, form)
	default:
		w.Header().Set("Allow", "GET, POST")
		e.errorPage(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP GET")
	}
}

// checkAuthorizeLocked validates an authorize request in Salesforce's
// order: the app, then the callback (an unknown or unregistered one never
// receives a redirect), then the rest, which is reported to the callback.
func (e *Emulator) checkAuthorizeLocked(q url.Values) (authorizeRequest, *appState, *authorizeFailure) {
	req := authorizeRequest{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		scope:       q.Get("scope"),
		challenge:   q.Get("code_challenge"),
		loginHint:   q.Get("login_hint"),
		state:       q.Get("state"),
		hasState:    q.Has("state"),
	}
	app := e.apps[req.clientID]
	switch {
	case app == nil:
		return req, nil, &authorizeFailure{true, "invalid_client_id", descBadClientID}
	case app.NotInstalled:
		return req, nil, &authorizeFailure{true, "app_not_found", descAppNotFound}
	case req.redirectURI == "":
		return req, nil, &authorizeFailure{true, "redirect_uri_missing", descNoRedirect}
	case !app.callbackRegistered(req.redirectURI):
		return req, nil, &authorizeFailure{true, "redirect_uri_mismatch", descRedirectMismatch}
	case q.Get("response_type") != "code":
		// Only the web server flow is emulated: other response types
		// (the user-agent and hybrid flows) are refused as unknown ones.
		return req, app, &authorizeFailure{false, "unsupported_response_type", descBadResponseType}
	}
	// code_challenge_method is not checked: Salesforce documents the
	// challenge as the S256 hash, and a challenge made any other way fails
	// at the token endpoint as a verifier that does not match.
	return req, app, nil
}

// startConsent answers an authorize request with the login-and-consent
// page, or with the refusal.
func (e *Emulator) startConsent(w http.ResponseWriter, r *http.Request, q url.Values) {
	e.mu.Lock()
	now := e.now()
	e.sweepLocked(now)
	req, app, fail := e.checkAuthorizeLocked(q)
	if fail != nil {
		e.mu.Unlock()
		e.refuseAuthorize(w, r, req, fail)
		return
	}
	browser := ""
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 {
		browser = c.Value
	} else {
		browser = randomBase62(40)
	}
	p := &pendingConsent{id: randomBase62(43), browser: browser, req: req, created: now}
	e.pending[p.id] = p
	page := e.consentPageLocked(app, p, req.loginHint, "")
	e.mu.Unlock()

	//nolint:gosec // G124: Secure follows the emulator's scheme; it also serves plain http on loopback
	http.SetCookie(w, &http.Cookie{
		Name: browserCookie, Value: browser, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	e.renderConsent(w, http.StatusOK, page)
}

func (e *Emulator) refuseAuthorize(w http.ResponseWriter, r *http.Request, req authorizeRequest, fail *authorizeFailure) {
	if fail.page {
		e.errorPage(w, http.StatusBadRequest, fail.code, fail.desc)
		return
	}
	e.count(fail.code)
	redirect(w, callbackURL(req, [][2]string{{"error", fail.code}, {"error_description", fail.desc}}))
}

// serveConsentForm takes the answer of a login-and-consent page.
func (e *Emulator) serveConsentForm(w http.ResponseWriter, r *http.Request, form url.Values) {
	e.mu.Lock()
	now := e.now()
	p := e.pending[form.Get("pending")]
	if p == nil || now.Sub(p.created) >= pendingLifetime {
		e.mu.Unlock()
		e.errorPage(w, http.StatusBadRequest, "invalid_request", "this login page has expired or was already answered: start again from the application")
		return
	}
	c, err := r.Cookie(browserCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(p.browser)) != 1 {
		e.mu.Unlock()
		e.errorPage(w, http.StatusBadRequest, "invalid_request", "cookies are required to log in: enable cookies and start again from the application")
		return
	}
	app := e.apps[p.req.clientID]
	if app == nil {
		delete(e.pending, p.id)
		e.mu.Unlock()
		e.errorPage(w, http.StatusBadRequest, "invalid_client_id", descBadClientID)
		return
	}
	username := strings.TrimSpace(form.Get("username"))
	action := form.Get("action")
	if action != "allow" && action != "deny" {
		page := e.consentPageLocked(app, p, username, "Choose Allow or Deny.")
		e.mu.Unlock()
		e.renderConsent(w, http.StatusOK, page)
		return
	}
	loc, loginErr := e.decideLocked(app, p.req, username, action == "allow", now)
	if loginErr != "" {
		page := e.consentPageLocked(app, p, username, loginErr)
		e.mu.Unlock()
		e.renderConsent(w, http.StatusOK, page)
		return
	}
	delete(e.pending, p.id)
	e.mu.Unlock()
	redirect(w, loc)
}

// decideLocked applies a user's answer to an authorize request. It
// returns where the browser goes next, or the login page's complaint.
func (e *Emulator) decideLocked(app *appState, req authorizeRequest, username string, allow bool, now time.Time) (location, loginErr string) {
	if !allow {
		e.counters.errors["access_denied"]++
		return callbackURL(req, [][2]string{{"error", "access_denied"}, {"error_description", descDenied}}), ""
	}
	u, known := app.user(username)
	switch {
	case !known || !u.Active || e.inactiveOrg:
		e.counters.errors["login_failed"]++
		return "", loginFailed
	case u.IPRestricted:
		e.counters.errors["login_failed"]++
		return "", loginRestricted
	case app.AdminApprovedOnly && !u.Approved:
		e.counters.errors[errAppAccessDenied]++
		return callbackURL(req, [][2]string{{"error", errAppAccessDenied}, {"error_description", descNotAdminOK}}), ""
	}
	code := newCode()
	e.codes[code] = &authCode{
		clientID:    app.ClientID,
		username:    u.Username,
		redirectURI: req.redirectURI,
		challenge:   req.challenge,
		scope:       app.grantedScope(req.scope),
		created:     now,
	}
	return callbackURL(req, [][2]string{{"code", code}}), ""
}

// Consent answers an authorize URL as a user at the login-and-consent page
// would, without HTML: it returns the Location the browser is sent to
// (the callback with code and state, or with an error). A refusal shown on
// Salesforce's error page, or a login the page would refuse (an unknown,
// inactive or restricted user: ErrLoginFailed), is an error.
func (e *Emulator) Consent(authorizeURL, username string, allow bool) (string, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("parsing 'authorize_url': %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.sweepLocked(now)
	req, app, fail := e.checkAuthorizeLocked(u.Query())
	if fail != nil {
		if fail.page {
			return "", fmt.Errorf("salesforce shows its error page: %s: %s", fail.code, fail.desc)
		}
		e.counters.errors[fail.code]++
		return callbackURL(req, [][2]string{{"error", fail.code}, {"error_description", fail.desc}}), nil
	}
	loc, loginErr := e.decideLocked(app, req, username, allow, now)
	if loginErr != "" {
		return "", fmt.Errorf("%w for %q: %s", ErrLoginFailed, username, loginErr)
	}
	return loc, nil
}

// callbackURL is the registered callback with params and then the state
// appended, form-encoded (spaces as "+"), after any query it already has.
func callbackURL(req authorizeRequest, params [][2]string) string {
	if req.hasState {
		params = append(params, [2]string{"state", req.state})
	}
	var b strings.Builder
	b.WriteString(req.redirectURI)
	sep := "?"
	if strings.Contains(req.redirectURI, "?") {
		sep = "&"
	}
	for _, p := range params {
		b.WriteString(sep)
		sep = "&"
		b.WriteString(url.QueryEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p[1]))
	}
	return b.String()
}

func redirect(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	w.WriteHeader(http.StatusFound)
}
