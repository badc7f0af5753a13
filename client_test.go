package salesforce

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	hclog "github.com/hashicorp/go-hclog"
)

const (
	testClientID = "3MVG9testConsumerKey.with_dots"
	testUsername = "integration@acme.example"
	testToken    = "00D5g000004XyZa!AQ4AQFakeAccessTokenValue1234567890"
	testID       = "https://login.salesforce.com/id/00D5g000004XyZaEAK/0055g00000ABCDeAAH"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	testKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// fastRetry keeps retry tests quick while still exercising the backoff path.
var fastRetry = retryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// fakeSF is a Salesforce stand-in on a loopback TLS server: it counts hits
// and hands each request to the test's handler.
type fakeSF struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newFakeSF(t testing.TB, h http.HandlerFunc) *fakeSF {
	return newFakeSFWith(t, h, nil)
}

// newFakeSFWith lets a test configure the server before it starts, when
// nothing can race with the change.
func newFakeSFWith(t testing.TB, h http.HandlerFunc, configure func(*http.Server)) *fakeSF {
	t.Helper()
	f := &fakeSF{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	// The untrusted-certificate test makes handshakes fail on purpose.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if configure != nil {
		configure(f.srv.Config)
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSF) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
}

func (f *fakeSF) client(t testing.TB, logger hclog.Logger) *sfClient {
	t.Helper()
	c, err := newClient(clientSettings{
		LoginURL: f.srv.URL,
		ClientID: testClientID,
		CACert:   f.caPEM(),
	}, logger)
	if err != nil {
		t.Fatalf("newClient: %v", err)
	}
	c.retry = fastRetry
	t.Cleanup(c.Close)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func tokenAnswer() map[string]string {
	return map[string]string{
		"access_token": testToken,
		"scope":        "api web",
		"instance_url": "https://acme.my.salesforce.com",
		"id":           testID,
		"token_type":   "Bearer",
	}
}

const maintenancePage = "<html><body><h1>Down for maintenance</h1></body></html>"

func writeMaintenance(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, maintenancePage)
}

func readForm(t testing.TB, r *http.Request) url.Values {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want form-encoded", ct)
	}
	b, _ := io.ReadAll(r.Body)
	q, err := url.ParseQuery(string(b))
	if err != nil {
		t.Errorf("form body %q: %v", b, err)
	}
	return q
}

// decodeClaims returns the assertion's payload as raw JSON values, so the
// test sees exactly what Salesforce would, not what a JWT library makes of it.
func decodeClaims(t *testing.T, jws string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignAssertion(t *testing.T) {
	key := rsaKey(t)
	now := time.Now()
	jws, err := signAssertion(key, testClientID, testUsername, "https://login.salesforce.com/", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse(jws, func(tok *jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		t.Fatalf("assertion does not verify with the public key: %v", err)
	}
	if tok.Header["alg"] != "RS256" {
		t.Errorf("alg = %v", tok.Header["alg"])
	}

	claims := decodeClaims(t, jws)
	want := map[string]string{"iss": `"` + testClientID + `"`, "sub": `"` + testUsername + `"`,
		"aud": `"https://login.salesforce.com"`}
	for k, v := range want {
		if string(claims[k]) != v {
			t.Errorf("claim %s = %s, want %s", k, claims[k], v)
		}
	}
	for k := range claims {
		if k != "iss" && k != "sub" && k != "aud" && k != "exp" {
			t.Errorf("unexpected claim %q", k)
		}
	}
	var exp int64
	if err := json.Unmarshal(claims["exp"], &exp); err != nil {
		t.Fatalf("exp %s is not an integer: %v", claims["exp"], err)
	}
	if exp <= now.Unix() || exp > now.Add(180*time.Second).Unix() {
		t.Errorf("exp %d not within (now, now+180s] of %d", exp, now.Unix())
	}
}

func TestSignAssertionRefusesMissingInputs(t *testing.T) {
	key := rsaKey(t)
	cases := map[string]func() (string, error){
		"key":      func() (string, error) { return signAssertion(nil, testClientID, testUsername, "https://x", time.Now()) },
		"clientID": func() (string, error) { return signAssertion(key, "", testUsername, "https://x", time.Now()) },
		"username": func() (string, error) { return signAssertion(key, testClientID, "", "https://x", time.Now()) },
		"audience": func() (string, error) { return signAssertion(key, testClientID, testUsername, "/", time.Now()) },
	}
	for name, f := range cases {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestGrantJWT(t *testing.T) {
	key := rsaKey(t)
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/services/oauth2/token" {
			t.Errorf("%s %s, want POST /services/oauth2/token", r.Method, r.URL.Path)
		}
		if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, Version) || !strings.HasPrefix(ua, "vault-plugin-secrets-salesforce/") {
			t.Errorf("User-Agent = %q", ua)
		}
		if _, _, ok := r.BasicAuth(); ok {
			t.Error("JWT bearer grant must not send client authentication")
		}
		form := readForm(t, r)
		if len(form) != 2 || form.Get("grant_type") != grantTypeJWTBearer || form.Get("assertion") == "" {
			t.Errorf("form = %v, want exactly grant_type and assertion", form)
		}
		if form.Has("client_id") || form.Has("scope") {
			t.Errorf("form carries client_id or scope: %v", form)
		}
		if _, err := jwt.Parse(form.Get("assertion"), func(*jwt.Token) (any, error) { return &key.PublicKey, nil }); err != nil {
			t.Errorf("assertion does not verify: %v", err)
		}
		writeJSON(w, http.StatusOK, tokenAnswer())
	})
	c := f.client(t, nil)
	tok, err := c.GrantJWT(context.Background(), key, testUsername)
	if err != nil {
		t.Fatal(err)
	}
	// Without audiences, aud is the login URL.
	want := tokenResponse{AccessToken: testToken, Scope: "api web", InstanceURL: "https://acme.my.salesforce.com", ID: testID, TokenType: "Bearer",
		Audience: f.srv.URL}
	if *tok != want {
		t.Errorf("token = %+v, want %+v", *tok, want)
	}
}

func signatureOf(secret, id, issuedAt string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + issuedAt))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestGrantClientCredentials(t *testing.T) {
	// ':' and '+' would be misread without RFC 6749's form encoding.
	const secret = "S3cr3t:with+odd/chars=="
	const issuedAt = "1732790000123"
	cases := []struct {
		name      string
		signature string
		wantErr   bool
	}{
		{"valid signature", signatureOf(secret, testID, issuedAt), false},
		{"no signature", "", false},
		{"signature by another secret", signatureOf("other-secret", testID, issuedAt), true},
		{"signature not base64", "%%%", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
				user, pass, ok := r.BasicAuth()
				if !ok {
					t.Error("no HTTP Basic credentials")
				}
				if u, _ := url.QueryUnescape(user); u != testClientID {
					t.Errorf("basic user = %q (decoded %q)", user, u)
				}
				if p, _ := url.QueryUnescape(pass); p != secret {
					t.Errorf("basic password = %q (decoded %q)", pass, p)
				}
				form := readForm(t, r)
				if len(form) != 1 || form.Get("grant_type") != "client_credentials" {
					t.Errorf("form = %v, want only grant_type=client_credentials", form)
				}
				a := tokenAnswer()
				if tc.signature != "" {
					a["issued_at"] = issuedAt
					a["signature"] = tc.signature
				}
				writeJSON(w, http.StatusOK, a)
			})
			tok, err := f.client(t, nil).GrantClientCredentials(context.Background(), secret)
			if tc.wantErr {
				var ue *unavailableError
				if !errors.As(err, &ue) || ue.Attempts != 1 {
					t.Fatalf("err = %v, want an unavailableError after 1 attempt", err)
				}
				if f.hits.Load() != 1 {
					t.Errorf("a forged answer was retried: %d hits", f.hits.Load())
				}
				if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks the token or secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != testToken {
				t.Errorf("access token = %q", tok.AccessToken)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, err error, hits int32)
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }, wantNil},
		{"invalid_token form", formAnswer(400, "error=invalid_token"), wantNil},
		{"invalid_token json", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, map[string]string{"error": "invalid_token"})
		}, wantNil},
		{"unsupported_token_type", formAnswer(400, "error=unsupported_token_type&error_description=this%20token%20type%20is%20not%20supported"),
			func(t *testing.T, err error, hits int32) {
				var se *salesforceError
				if !errors.As(err, &se) || se.Code != "unsupported_token_type" || se.Description != "this token type is not supported" || se.Hint == "" {
					t.Fatalf("err = %#v", err)
				}
				if !strings.HasPrefix(err.Error(), "salesforce refused the token revocation: unsupported_token_type") {
					t.Errorf("message = %q", err)
				}
				if hits != 1 {
					t.Errorf("%d hits, want 1", hits)
				}
			}},
		// A proxy's or portal's page is not Salesforce's confirmation: the
		// token may well be alive, so the revocation failed and is retried.
		{"200 with an HTML page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "<html><body>Welcome to the corporate portal</body></html>")
		}, func(t *testing.T, err error, hits int32) {
			var ue *unavailableError
			if !errors.As(err, &ue) || hits != 4 || !strings.Contains(err.Error(), "text/html") {
				t.Fatalf("err = %v, hits = %d; want a failed revocation, retried", err, hits)
			}
		}},
		{"500s", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			func(t *testing.T, err error, hits int32) {
				var ue *unavailableError
				if !errors.As(err, &ue) || ue.Attempts != 4 || ue.Op != opRevoke || hits != 4 {
					t.Fatalf("err = %#v, hits = %d", err, hits)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/services/oauth2/revoke" {
					t.Errorf("path = %q", r.URL.Path)
				}
				if form := readForm(t, r); form.Get("token") != testToken || len(form) != 1 {
					t.Errorf("form = %v", form)
				}
				tc.handler(w, r)
			})
			err := f.client(t, nil).Revoke(context.Background(), testToken)
			tc.check(t, err, f.hits.Load())
		})
	}
}

func wantNil(t *testing.T, err error, _ int32) {
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
}

func formAnswer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestCACert(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, tokenAnswer()) })

	untrusting, err := newClient(clientSettings{LoginURL: f.srv.URL, ClientID: testClientID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	untrusting.retry = fastRetry
	_, err = untrusting.GrantJWT(context.Background(), rsaKey(t), testUsername)
	var ue *unavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "ca_cert") {
		t.Fatalf("err = %v, want an unavailableError that points at ca_cert", err)
	}
	if ue.Attempts != 1 || f.hits.Load() != 0 {
		t.Errorf("an untrusted certificate was retried: attempts %d, hits %d", ue.Attempts, f.hits.Load())
	}

	if _, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername); err != nil {
		t.Fatalf("with ca_cert: %v", err)
	}

	_, err = newClient(clientSettings{LoginURL: f.srv.URL, ClientID: testClientID, CACert: "not a pem"}, nil)
	if err == nil || !strings.Contains(err.Error(), "ca_cert") || strings.HasSuffix(err.Error(), ".") {
		t.Errorf("invalid PEM: err = %v", err)
	}
}

func TestNewClientRefusesBadLoginURL(t *testing.T) {
	for _, u := range []string{"", "login.salesforce.com", "ftp://x", "https://"} {
		if _, err := newClient(clientSettings{LoginURL: u, ClientID: testClientID}, nil); err == nil {
			t.Errorf("login_url %q accepted", u)
		}
	}
}

func TestUserAgent(t *testing.T) {
	if !strings.Contains(userAgent, Version) || !strings.Contains(userAgent, projectURL) {
		t.Errorf("userAgent = %q", userAgent)
	}
	for _, v := range []string{"", " "} {
		if ua := buildUserAgent(v); !strings.HasPrefix(ua, "vault-plugin-secrets-salesforce/v") {
			t.Errorf("buildUserAgent(%q) = %q", v, ua)
		}
	}
}

// TestConnectionsAreReused proves bodies are drained and closed: every grant
// after the first rides the same TLS connection.
func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	f := newFakeSFWith(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+testToken+`","padding":"`+strings.Repeat("x", 8000)+`"}`)
	}, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	})
	c := f.client(t, nil)
	for i := 0; i < 5; i++ {
		if _, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential grants, want 1", n)
	}
}

func BenchmarkSignAssertion(b *testing.B) {
	key := rsaKey(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signAssertion(key, testClientID, testUsername, "https://login.salesforce.com", now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGrantJWT(b *testing.B) {
	answer, _ := json.Marshal(tokenAnswer())
	f := newFakeSF(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})
	c := f.client(b, nil)
	key := rsaKey(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GrantJWT(ctx, key, testUsername); err != nil {
			b.Fatal(err)
		}
	}
}
