package sfemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebServerFlowThroughTheForm is the flow as a person and the engine
// meet it: a login-and-consent page, a redirect to the exact callback with
// a URL-encoded code and the state, a code exchange with PKCE, and an
// answer shaped as Salesforce's.
func TestWebServerFlowThroughTheForm(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	verifier, challenge := pkcePair(t)
	b := h.newBrowser()
	p := b.open(h.authorizeURL(appWeb, challenge, map[string]string{"login_hint": "alice@example.com", "prompt": "login consent"}))

	if p.status != 200 || p.header.Get("Content-Type") != contentTypeHTML {
		t.Fatalf("authorize page: %d %q %s", p.status, p.header.Get("Content-Type"), p.body)
	}
	for _, want := range []string{`id="username"`, `value="alice@example.com"`, `id="allow"`, `id="deny"`, `<li>api</li>`, `<li>refresh_token</li>`, appWeb} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %s: %s", want, p.body)
		}
	}
	// Self-contained: no script, nothing fetched from elsewhere.
	for _, banned := range []string{"<script", "src=", "<link", "http://", "https://"} {
		if strings.Contains(p.body, banned) {
			t.Errorf("page holds %q: %s", banned, p.body)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "form-action") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if !strings.Contains(p.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control = %q", p.header.Get("Cache-Control"))
	}

	q := h.callbackParams(b.submit(p, "alice@example.com", "allow"), callback)
	code := q.Get("code")
	if q.Get("state") != "st4te with space&amp" || len(q) != 2 {
		t.Fatalf("callback query %v", q)
	}
	// The code holds "=", "+" or "/": only a client that URL-decodes the
	// callback gets it right, as at Salesforce.
	if !strings.ContainsAny(code, "=+/") {
		t.Errorf("code %q has no character that needs URL-encoding", code)
	}

	before := time.Now()
	a := h.exchange(appWeb, code, verifier, nil)
	if a.status != 200 || a.ctype != contentTypeJSON {
		t.Fatalf("exchange: %d %s", a.status, a.body)
	}
	m := a.json(t)
	for _, k := range []string{"access_token", "refresh_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("answer lacks %q: %s", k, a.body)
		}
	}
	if _, ok := m["expires_in"]; ok || len(m) != 8 {
		t.Errorf("answer has unexpected fields: %s", a.body)
	}
	if m["scope"] != "api refresh_token" || m["token_type"] != "Bearer" || m["instance_url"] != h.base ||
		m["id"] != h.base+"/id/00D5g000004XyZaEAK/005000000000001AAA" {
		t.Errorf("answer: %s", a.body)
	}
	ms, err := strconv.ParseInt(m["issued_at"].(string), 10, 64)
	if err != nil || ms < before.Add(-time.Second).UnixMilli() || ms > time.Now().Add(time.Second).UnixMilli() {
		t.Errorf("issued_at %v is not now in milliseconds", m["issued_at"])
	}
	if m["signature"] != Signature(webSecret, m["id"].(string), m["issued_at"].(string)) {
		t.Errorf("signature does not verify: %s", a.body)
	}
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)
	if !tokenShaped(access) || !refreshShaped(refresh) || !strings.HasPrefix(refresh, "5Aep") {
		t.Errorf("tokens not shaped like Salesforce's")
	}
	if a := h.get("/services/data/v65.0/limits", access); a.status != 200 {
		t.Fatalf("REST with the new token: %d %s", a.status, a.body)
	}
	if !h.emu.RefreshTokenActive(refresh) || h.emu.Approvals(appWeb, "alice@example.com") != 1 {
		t.Fatal("the authorization was not recorded")
	}

	// Single-use.
	wantOAuthError(t, h.exchange(appWeb, code, verifier, nil), "invalid_grant", "expired authorization code")

	// Stats show the authorization, never a token.
	raw := h.admin("GET", "stats", "")
	var st Stats
	if err := json.Unmarshal(raw.body, &st); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw.body), refresh) || strings.Contains(string(raw.body), access) || strings.Contains(string(raw.body), code) {
		t.Fatal("stats leak a token or code")
	}
	if len(st.Authorizations) != 1 || !st.Authorizations[0].Active || st.Authorizations[0].CurrentRefreshTokenSHA256 != sha256Hex(refresh) ||
		st.Authorizations[0].Scope != "api refresh_token" || st.Authorizations[0].AccessTokensHandedOut != 1 ||
		len(st.Approvals) != 1 || st.Approvals[0].Approvals != 1 || st.Grants[statCode] != 1 {
		t.Errorf("stats: %s", raw.body)
	}
}

// TestConsentWithoutRefreshScope: no refresh_token scope, no refresh token
// and no approval recorded.
func TestConsentWithoutRefreshScope(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	v, c := pkcePair(t)
	b := h.newBrowser()
	q := h.callbackParams(b.submit(b.open(h.authorizeURL(appWeb, c, map[string]string{"scope": "api web"})), "alice@example.com", "allow"), callback)
	a := h.exchange(appWeb, q.Get("code"), v, nil)
	if a.status != 200 {
		t.Fatalf("exchange: %d %s", a.status, a.body)
	}
	if m := a.json(t); m["refresh_token"] != nil || m["scope"] != "api web" {
		t.Fatalf("answer: %s", a.body)
	}
	if h.emu.Approvals(appWeb, "alice@example.com") != 0 {
		t.Fatal("approval recorded without a refresh token")
	}
}

// TestCallbackWithQuery: the code and state follow the callback's own
// query.
func TestCallbackWithQuery(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	_, c := pkcePair(t)
	b := h.newBrowser()
	cb := "https://app.example.com/cb?tenant=acme"
	p := b.submit(b.open(h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": cb, "state": "s"})), "alice@example.com", "allow")
	if !strings.HasPrefix(p.location, cb+"&code=") || !strings.HasSuffix(p.location, "&state=s") {
		t.Fatalf("location %q", p.location)
	}
}

// TestDeny sends the user back with Salesforce's words and the state.
func TestDeny(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	_, c := pkcePair(t)
	b := h.newBrowser()
	p := b.submit(b.open(h.authorizeURL(appWeb, c, map[string]string{"state": "xyz"})), "", "deny")
	if want := callback + "?error=access_denied&error_description=end-user+denied+authorization&state=xyz"; p.status != 302 || p.location != want {
		t.Fatalf("deny: %d %q, want %q", p.status, p.location, want)
	}
	if h.emu.Stats().Errors["access_denied"] != 1 {
		t.Error("deny not counted")
	}
}

// TestLoginPageRefusals: a login the page refuses shows the page again
// with the error, and the same page then still works.
func TestLoginPageRefusals(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	_, c := pkcePair(t)
	b := h.newBrowser()
	first := b.open(h.authorizeURL(appWeb, c, nil))
	for _, who := range []string{"nobody@example.com", "carol@example.com", "dave@example.com", ""} {
		p := b.submit(first, who, "allow")
		if p.status != 200 || !strings.Contains(p.body, `id="error"`) || !pendingField.MatchString(p.body) {
			t.Fatalf("login as %q: %d %q %s", who, p.status, p.location, p.body)
		}
	}
	p := b.submit(first, "nobody@example.com", "allow")
	if !strings.Contains(p.body, "Please check your username and password.") || !strings.Contains(p.body, `value="nobody@example.com"`) {
		t.Errorf("login error page: %s", p.body)
	}
	h.callbackParams(b.submit(p, "alice@example.com", "allow"), callback)

	// Answered once: the page is gone.
	if p := b.submit(first, "alice@example.com", "allow"); p.status != 400 || !strings.Contains(p.body, "expired or was already answered") {
		t.Errorf("second answer: %d %s", p.status, p.body)
	}
	// Another browser (no cookie of this one) cannot answer the page.
	page := b.open(h.authorizeURL(appWeb, c, nil))
	if p := h.newBrowser().submit(page, "alice@example.com", "allow"); p.status != 400 || !strings.Contains(p.body, "cookies are required") {
		t.Errorf("answer from another browser: %d %q %s", p.status, p.location, p.body)
	}
	// A locked org refuses every login.
	h2 := newHarness(t, func(cfg *Config) { withWebApps(nil)(cfg); cfg.InactiveOrg = true })
	b2 := h2.newBrowser()
	if p := b2.submit(b2.open(h2.authorizeURL(appWeb, c, nil)), "alice@example.com", "allow"); p.status != 200 || !strings.Contains(p.body, `id="error"`) {
		t.Errorf("login to a locked org: %d %q", p.status, p.location)
	}
}

// TestAuthorizeRefusals: an unknown app or callback gets Salesforce's
// error page, never a redirect; the rest goes back to the callback.
func TestAuthorizeRefusals(t *testing.T) {
	h := newHarness(t, withWebApps(func(a *App) {
		if a.ClientID == appWebReq {
			a.AdminApprovedOnly = true
		}
	}))
	_, c := pkcePair(t)
	pages := []struct {
		name       string
		url        string
		code, desc string
	}{
		{"unknown app", h.authorizeURL("3MVG9unknown", c, nil), "invalid_client_id", "client identifier invalid"},
		{"no redirect_uri", h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": ""}), "redirect_uri_missing", "redirect_uri not provided"},
		{"unregistered redirect_uri", h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": "https://evil.example.com/cb"}), "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"trailing slash", h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": callback + "/"}), "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"other case", h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": strings.ToUpper(callback)}), "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"app without callbacks", h.authorizeURL(appMain, c, nil), "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"app not installed", h.authorizeURL(appExt, c, nil), "app_not_found", "External client app is not installed in this org"},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			p := h.newBrowser().open(tc.url)
			if p.status != 400 || p.location != "" || p.header.Get("Content-Type") != contentTypeHTML ||
				!strings.Contains(p.body, `<code id="error-code">`+tc.code+`</code>`) ||
				!strings.Contains(p.body, `<code id="error-description">`+tc.desc+`</code>`) {
				t.Fatalf("%d %q %s", p.status, p.location, p.body)
			}
		})
	}

	p := h.newBrowser().open(h.authorizeURL(appWeb, c, map[string]string{"response_type": "token", "state": "s"}))
	if want := callback + "?error=unsupported_response_type&error_description=response+type+not+supported&state=s"; p.location != want {
		t.Errorf("response_type=token: %d %q", p.status, p.location)
	}
	// Admin-approved apps: a user without the profile or permission set
	// cannot approve the app himself.
	b := h.newBrowser()
	p = b.submit(b.open(h.authorizeURL(appWebReq, c, map[string]string{"state": "s"})), "bob@example.com", "allow")
	if want := callback + "?error=OAUTH_APP_ACCESS_DENIED&error_description=user+is+not+admin+approved+to+access+this+app&state=s"; p.location != want {
		t.Errorf("unapproved user on an admin-approved app: %d %q", p.status, p.location)
	}
}

// TestConsentByAdminAPI drives the same consent without HTML.
func TestConsentByAdminAPI(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	v, c := pkcePair(t)
	body, _ := json.Marshal(consentRequest{AuthorizeURL: h.authorizeURL(appWeb, c, nil), Username: "alice@example.com", Allow: true})
	a := h.admin("POST", "consent", string(body))
	var out map[string]string
	if a.status != 200 || json.Unmarshal(a.body, &out) != nil {
		t.Fatalf("consent: %d %s", a.status, a.body)
	}
	u, _ := url.Parse(out["location"])
	if !strings.HasPrefix(out["location"], callback+"?code=") {
		t.Fatalf("location %q", out["location"])
	}
	if a := h.exchange(appWeb, u.Query().Get("code"), v, nil); a.status != 200 {
		t.Fatalf("exchange of an admin consent: %d %s", a.status, a.body)
	}
	body, _ = json.Marshal(consentRequest{AuthorizeURL: h.authorizeURL(appWeb, c, nil), Username: "nobody@example.com", Allow: true})
	if a := h.admin("POST", "consent", string(body)); a.status != http.StatusForbidden {
		t.Errorf("unknown user: %d %s", a.status, a.body)
	}
	body, _ = json.Marshal(consentRequest{AuthorizeURL: h.authorizeURL(appWeb, c, map[string]string{"redirect_uri": "https://evil.example.com"}), Username: "alice@example.com", Allow: true})
	if a := h.admin("POST", "consent", string(body)); a.status != 400 || !strings.Contains(string(a.body), "redirect_uri_mismatch") {
		t.Errorf("unregistered callback: %d %s", a.status, a.body)
	}
	loc, err := h.emu.Consent(h.authorizeURL(appWeb, c, map[string]string{"state": "q"}), "", false)
	if err != nil || loc != callback+"?error=access_denied&error_description=end-user+denied+authorization&state=q" {
		t.Errorf("Consent deny: %q %v", loc, err)
	}
}
