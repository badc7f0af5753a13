package sfemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keysOnce             sync.Once
	keyPEM, certPEM      string
	otherKey, otherCert  string
	keysErr, otherKeyErr error
)

// testKeys generates the two RSA key pairs once per test binary: key
// generation dominates otherwise.
func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		keyPEM, certPEM, keysErr = TestKeyPair()
		otherKey, otherCert, otherKeyErr = TestKeyPair()
	})
	if keysErr != nil || otherKeyErr != nil {
		t.Fatalf("generating keys: %v %v", keysErr, otherKeyErr)
	}
}

const (
	appMain    = "3MVG9mainApp"
	appAdmin   = "3MVG9adminApp"
	appNoCert  = "3MVG9noCert"
	appNoRunAs = "3MVG9noRunAs"
	appExt     = "3MVG9extApp"
	secret     = "main-consumer-secret"
)

func testConfig() Config {
	return Config{
		OrgID:     "00D5g000004XyZaEAK",
		Audiences: []string{"https://login.salesforce.com", "https://test.salesforce.com"},
		Apps: []App{
			{
				ClientID: appMain, CertificatePEM: certPEM, ClientSecret: secret,
				RunAs: "runas@example.com", Scopes: "api web refresh_token",
				Users: []User{
					{Username: "alice@example.com", UserID: "005000000000001AAA", Approved: true, Active: true},
					{Username: "bob@example.com", Approved: false, Active: true},
					{Username: "carol@example.com", Approved: true, Active: false},
					{Username: "dave@example.com", Approved: true, Active: true, IPRestricted: true},
					{Username: "runas@example.com", UserID: "005000000000009AAA", Approved: true, Active: true},
				},
			},
			{ClientID: appAdmin, CertificatePEM: certPEM, Scopes: "api", AdminApprovedOnly: true,
				Users: []User{{Username: "erin@example.com", Approved: false, Active: true}}},
			{ClientID: appNoCert, Scopes: "api", Users: []User{{Username: "alice@example.com", Approved: true, Active: true}}},
			{ClientID: appNoRunAs, ClientSecret: "s", Scopes: "api"},
			{ClientID: appExt, CertificatePEM: certPEM, ClientSecret: "s", RunAs: "x@example.com", NotInstalled: true},
		},
	}
}

type harness struct {
	t      testing.TB
	emu    *Emulator
	srv    *httptest.Server
	client *http.Client
	base   string
}

// newHarness serves an emulator over loopback TLS, as the plugin meets it.
func newHarness(t testing.TB, mutate func(*Config)) *harness {
	t.Helper()
	testKeys(t)
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	emu, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewTLSServer(emu)
	emu.SetBaseURL(srv.URL)
	t.Cleanup(func() { emu.Close(); srv.Close() })
	c := srv.Client()
	c.Timeout = 30 * time.Second
	return &harness{t: t, emu: emu, srv: srv, client: c, base: srv.URL}
}

func (h *harness) claims(over map[string]any) map[string]any {
	c := map[string]any{
		"iss": appMain,
		"sub": "alice@example.com",
		"aud": h.base,
		"exp": time.Now().Add(time.Minute).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func (h *harness) assertion(over map[string]any) string {
	h.t.Helper()
	a, err := SignAssertion(keyPEM, h.claims(over), nil)
	if err != nil {
		h.t.Fatalf("SignAssertion: %v", err)
	}
	return a
}

type answer struct {
	status int
	ctype  string
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", a.body, err)
	}
	return m
}

func (h *harness) do(req *http.Request) answer {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("reading body: %v", err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

func (h *harness) post(path string, form url.Values, prep func(*http.Request)) answer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if prep != nil {
		prep(req)
	}
	return h.do(req)
}

func (h *harness) get(path, token string) answer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do(req)
}

func (h *harness) jwtGrant(over map[string]any) answer {
	h.t.Helper()
	return h.post("/services/oauth2/token", url.Values{"grant_type": {grantTypeJWT}, "assertion": {h.assertion(over)}}, nil)
}

func (h *harness) ccGrant(id, sec string) answer {
	h.t.Helper()
	return h.post("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}}, nil)
}

// mustToken grants for alice and returns the access token.
func (h *harness) mustToken(over map[string]any) string {
	h.t.Helper()
	a := h.jwtGrant(over)
	if a.status != 200 {
		h.t.Fatalf("grant: %d %s", a.status, a.body)
	}
	return a.json(h.t)["access_token"].(string)
}

func (h *harness) revoke(token string) answer {
	h.t.Helper()
	return h.post("/services/oauth2/revoke", url.Values{"token": {token}}, nil)
}
