package sfemu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	appWeb      = "3MVG9webApp"      // web server flow, secret optional
	appWebReq   = "3MVG9webRequired" // requires the secret
	appWebRot   = "3MVG9webRotation" // rotation on
	webSecret   = "web-consumer-secret"
	callback    = "https://app.example.com/oauth/callback"
	cliCallback = "http://localhost:1717/OauthRedirect"
)

// webUsers: alice approved, bob not (self-approves at consent), carol
// inactive, dave IP restricted.
func webUsers() []User {
	return []User{
		{Username: "alice@example.com", UserID: "005000000000001AAA", Approved: true, Active: true},
		{Username: "bob@example.com", Approved: false, Active: true},
		{Username: "carol@example.com", Approved: true, Active: false},
		{Username: "dave@example.com", Approved: true, Active: true, IPRestricted: true},
	}
}

// withWebApps adds the web server flow's apps to the test config, with
// mutate applied to each (nil for none).
func withWebApps(mutate func(*App)) func(*Config) {
	return func(c *Config) {
		for _, a := range []App{
			{ClientID: appWeb, ClientSecret: webSecret, Scopes: "api web refresh_token", CallbackURLs: []string{callback, cliCallback, "https://app.example.com/cb?tenant=acme"}},
			{ClientID: appWebReq, ClientSecret: webSecret, Scopes: "api refresh_token", CallbackURLs: []string{callback}, RequireSecretForWebServerFlow: true},
			{ClientID: appWebRot, ClientSecret: webSecret, Scopes: "api refresh_token", CallbackURLs: []string{callback}, RefreshTokenRotation: true},
		} {
			a.Users = webUsers()
			if mutate != nil {
				mutate(&a)
			}
			c.Apps = append(c.Apps, a)
		}
	}
}

// pkcePair is a verifier as Salesforce documents it (base64url of random
// bytes) and its S256 challenge.
func pkcePair(t testing.TB) (verifier, challenge string) {
	t.Helper()
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	return verifier, s256(verifier)
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL builds an authorize URL; over replaces or (with "") drops
// parameters.
func (h *harness) authorizeURL(clientID, challenge string, over map[string]string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {callback},
		"state":                 {"st4te with space&amp"},
		"scope":                 {"api refresh_token"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	for k, v := range over {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return h.base + "/services/oauth2/authorize?" + q.Encode()
}

// browser is a user agent with a cookie jar that follows the emulator's
// redirects and stops at any other, as a test watching the callback does.
type browser struct {
	h *harness
	c *http.Client
}

func (h *harness) newBrowser() *browser {
	h.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	c := &http.Client{
		Transport: h.client.Transport,
		Jar:       jar,
		Timeout:   30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), h.base+"/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return &browser{h: h, c: c}
}

type page struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.h.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header.Get("Location"), resp.Header, string(body)}
}

func (b *browser) open(u string) page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(req)
}

var pendingField = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// submit answers the login-and-consent form of p as a person would:
// username typed, Allow or Deny pressed.
func (b *browser) submit(p page, username, action string) page {
	b.h.t.Helper()
	m := pendingField.FindStringSubmatch(p.body)
	if m == nil {
		b.h.t.Fatalf("no consent form in the page (status %d): %s", p.status, p.body)
	}
	form := url.Values{"pending": {m[1]}, "username": {username}, "action": {action}}
	req, err := http.NewRequest(http.MethodPost, b.h.base+"/services/oauth2/authorize", strings.NewReader(form.Encode()))
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// callbackParams reads the query of a redirect to the callback.
func (h *harness) callbackParams(p page, wantPrefix string) url.Values {
	h.t.Helper()
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, wantPrefix+"?") {
		h.t.Fatalf("want a redirect to %s, got %d %q: %s", wantPrefix, p.status, p.location, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Query()
}

// consent runs the whole browser flow and returns the code.
func (h *harness) consent(clientID, username, challenge string) string {
	h.t.Helper()
	b := h.newBrowser()
	q := h.callbackParams(b.submit(b.open(h.authorizeURL(clientID, challenge, nil)), username, "allow"), callback)
	if q.Get("code") == "" {
		h.t.Fatalf("no code in the callback: %v", q)
	}
	return q.Get("code")
}

func (h *harness) exchange(clientID, code, verifier string, over map[string]string) answer {
	h.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {callback},
		"client_id":     {clientID},
		"client_secret": {webSecret},
		"code_verifier": {verifier},
	}
	for k, v := range over {
		if v == "" {
			form.Del(k)
		} else {
			form.Set(k, v)
		}
	}
	return h.post("/services/oauth2/token", form, nil)
}

func (h *harness) refreshGrant(clientID, rt string) answer {
	h.t.Helper()
	return h.post("/services/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {clientID}, "client_secret": {webSecret},
	}, nil)
}

// authorize runs consent and code exchange and returns the answer's
// access and refresh tokens.
func (h *harness) authorize(clientID, username string) (access, refresh string) {
	h.t.Helper()
	v, c := pkcePair(h.t)
	a := h.exchange(clientID, h.consent(clientID, username, c), v, nil)
	if a.status != 200 {
		h.t.Fatalf("exchange: %d %s", a.status, a.body)
	}
	m := a.json(h.t)
	access, _ = m["access_token"].(string)
	refresh, _ = m["refresh_token"].(string)
	if access == "" || refresh == "" {
		h.t.Fatalf("exchange answer lacks a token: %s", a.body)
	}
	return access, refresh
}

// wantOAuthError checks a token endpoint refusal word for word.
func wantOAuthError(t testing.TB, a answer, code, desc string) {
	t.Helper()
	if a.status != 400 || a.ctype != contentTypeJSON {
		t.Fatalf("want 400 JSON %s/%s, got %d %q %s", code, desc, a.status, a.ctype, a.body)
	}
	if m := a.json(t); m["error"] != code || m["error_description"] != desc || len(m) != 2 {
		t.Fatalf("want %s/%s, got %s", code, desc, a.body)
	}
}

// fakeClock is a settable clock for policy and lifetime tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (h *harness) useFakeClock() *fakeClock {
	c := &fakeClock{now: time.Now()}
	h.emu.SetClock(c.Now)
	return c
}
