package salesforce

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
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
		Audience: "https://login.salesforce.com",
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
	want := tokenResponse{AccessToken: testToken, Scope: "api web", InstanceURL: "https://acme.my.salesforce.com", ID: testID, TokenType: "Bearer"}
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

func TestTokenRefusals(t *testing.T) {
	rows := []struct {
		code, desc, hintHas string
	}{
		{"invalid_grant", "user hasn't approved this consumer", "pre-authorize"},
		{"invalid_grant", "audience is invalid", "no trailing slash"},
		{"invalid_grant", "invalid assertion", "certificate"},
		{"invalid_grant", "expired authorization code", "clock"},
		{"invalid_grant", "IP restricted or invalid login hours", "Login IP Ranges"},
		{"invalid_grant", "login rate exceeded", "3,600"},
		{"invalid_grant", "request not supported on this domain", "My Domain"},
		{"invalid_grant", "no client credentials user enabled", "Run As"},
		{"invalid_client_id", "client identifier invalid", "2-10 minutes"},
		{"invalid_client", "invalid client credentials", "certificate"},
		{"invalid_app_access", "user is not admin approved to access this app", "profile"},
		{"app_not_found", "External client app is not installed in this org", "installed"},
		{"inactive_user", "user is inactive", "reactivate"},
		{"inactive_org", "org is locked", "org"},
		{"unsupported_grant_type", "grant type not supported", "login_url"},
		{"invalid_request", "scope parameter not supported", "scope"},
		{"some_new_code", "something new", "Connected App"},
	}
	for _, row := range rows {
		t.Run(row.code+"/"+row.desc, func(t *testing.T) {
			f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": row.code, "error_description": row.desc})
			})
			_, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername)
			var se *salesforceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *salesforceError", err, err)
			}
			if se.StatusCode != 400 || se.Code != row.code || se.Description != row.desc {
				t.Errorf("got %d %q %q", se.StatusCode, se.Code, se.Description)
			}
			if se.Hint == "" || !strings.Contains(se.Hint, row.hintHas) {
				t.Errorf("hint %q does not mention %q", se.Hint, row.hintHas)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "salesforce refused the JWT bearer token request: "+row.code+": "+row.desc+" (hint: ") {
				t.Errorf("message = %q", msg)
			}
			if f.hits.Load() != 1 {
				t.Errorf("a refusal was retried: %d hits", f.hits.Load())
			}
			if got := isInvalidAssertion(err); got != (row.desc == "invalid assertion") {
				t.Errorf("isInvalidAssertion = %v", got)
			}
		})
	}
}

func TestRefusalWithoutJSON(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html>error=not_this</html>")
	})
	_, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername)
	var se *salesforceError
	if !errors.As(err, &se) || se.Code != "" || se.Description != "Not Found" || se.Hint == "" {
		t.Fatalf("err = %#v", err)
	}
	if f.hits.Load() != 1 {
		t.Errorf("%d hits, want 1", f.hits.Load())
	}
}

func TestRedirectIsARefusal(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://acme.my.salesforce.com/services/oauth2/token", http.StatusFound)
	})
	_, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername)
	var se *salesforceError
	if !errors.As(err, &se) || se.StatusCode != http.StatusFound || !strings.Contains(se.Hint, "login_url") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryAfterMaintenancePage(t *testing.T) {
	var n atomic.Int32
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeMaintenance(w)
			return
		}
		writeJSON(w, http.StatusOK, tokenAnswer())
	})
	tok, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername)
	if err != nil || tok.AccessToken != testToken {
		t.Fatalf("tok = %v, err = %v", tok, err)
	}
	if f.hits.Load() != 2 {
		t.Errorf("%d hits, want 2", f.hits.Load())
	}
}

func TestRetryableAnswersExhaustAttempts(t *testing.T) {
	answers := map[string]http.HandlerFunc{
		"html 503":     func(w http.ResponseWriter, r *http.Request) { writeMaintenance(w) },
		"json 500":     func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 500, map[string]string{"error": "x"}) },
		"429":          func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) },
		"html 200":     func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, maintenancePage) },
		"200 no token": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"scope": "api"}) },
		"oversized 200": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte(" "), maxAnswerBytes+10))
		},
		"truncated json":  func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"access_token":"abc`) },
		"aborted answers": func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) },
	}
	for name, h := range answers {
		t.Run(name, func(t *testing.T) {
			f := newFakeSF(t, h)
			_, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername)
			var ue *unavailableError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want *unavailableError", err, err)
			}
			if ue.Attempts != fastRetry.MaxAttempts || int(f.hits.Load()) != fastRetry.MaxAttempts {
				t.Errorf("attempts = %d, hits = %d, want %d", ue.Attempts, f.hits.Load(), fastRetry.MaxAttempts)
			}
			if ue.Op != opJWTGrant || ue.Unwrap() == nil {
				t.Errorf("op = %q, err = %v", ue.Op, ue.Err)
			}
		})
	}
}

func TestPersistent503ReportsLastStatus(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) { writeMaintenance(w) })
	_, err := f.client(t, nil).GrantClientCredentials(context.Background(), "a-consumer-secret")
	var ue *unavailableError
	if !errors.As(err, &ue) || ue.LastStatus != 503 || ue.Attempts != 4 {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "text/html") {
		t.Errorf("message does not say what came back: %v", err)
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := newClient(clientSettings{LoginURL: "https://" + addr, ClientID: testClientID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.retry = fastRetry
	defer c.Close()
	err = c.Revoke(context.Background(), testToken)
	var ue *unavailableError
	if !errors.As(err, &ue) || ue.Attempts != fastRetry.MaxAttempts || ue.LastStatus != 0 {
		t.Fatalf("err = %#v", err)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) { writeMaintenance(w) })
	c := f.client(t, nil)
	c.retry = retryPolicy{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: 10 * time.Second}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.GrantJWT(ctx, rsaKey(t), testUsername)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v after cancel", elapsed)
	}
	var ue *unavailableError
	if !errors.As(err, &ue) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want unavailableError wrapping context.Canceled", err)
	}

	// A deadline too close for the next backoff ends the retries at once.
	c.retry = retryPolicy{MaxAttempts: 100, BaseDelay: 10 * time.Second, MaxDelay: 10 * time.Second}
	ctx, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	start = time.Now()
	_, err = c.GrantJWT(ctx, rsaKey(t), testUsername)
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v with a 500ms deadline", elapsed)
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

// TestErrorsAndLogsNeverCarrySecrets points the client at a server that
// echoes everything it receives into its error answers.
func TestErrorsAndLogsNeverCarrySecrets(t *testing.T) {
	const secret = "consumer-secret-0123456789"
	var mu sync.Mutex
	var assertions []string
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			q, _ := url.ParseQuery(string(b))
			mu.Lock()
			if a := q.Get("assertion"); a != "" {
				assertions = append(assertions, a)
			}
			mu.Unlock()
			_, pass, _ := r.BasicAuth()
			echoed := strings.Join([]string{q.Get("assertion"), q.Get("token"), pass, string(b)}, " ")
			writeJSON(w, status, map[string]string{"error": "invalid_grant " + echoed, "error_description": "bad: " + echoed,
				"access_token": testToken})
		}
	}
	for _, status := range []int{400, 500} {
		var logs bytes.Buffer
		logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
		f := newFakeSF(t, echo(status))
		c := f.client(t, logger)

		var errs []error
		_, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername)
		errs = append(errs, err)
		_, err = c.GrantClientCredentials(context.Background(), secret)
		errs = append(errs, err)
		errs = append(errs, c.Revoke(context.Background(), testToken))

		mu.Lock()
		forbidden := append([]string{secret, testToken, url.QueryEscape(testToken)}, assertions...)
		mu.Unlock()
		for i, err := range errs {
			if err == nil {
				t.Fatalf("status %d, call %d: no error", status, i)
			}
			for _, s := range forbidden {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%#v", err), s) {
					t.Errorf("status %d, call %d: error carries a secret: %v", status, i, err)
				}
			}
		}
		for _, s := range forbidden {
			if strings.Contains(logs.String(), s) {
				t.Errorf("status %d: logs carry a secret:\n%s", status, logs.String())
			}
		}
		if !strings.Contains(logs.String(), "attempt=1") {
			t.Errorf("no per-attempt debug log:\n%s", logs.String())
		}
	}
}

func TestHintForUnknownCodeIsGeneric(t *testing.T) {
	if h := hintFor(400, "brand_new", "who knows"); h != genericHint {
		t.Errorf("hint = %q", h)
	}
	if h := hintFor(404, "", "Not Found"); !strings.Contains(h, "login_url") {
		t.Errorf("404 hint = %q", h)
	}
	if isInvalidAssertion(errors.New("invalid assertion")) || isInvalidAssertion(nil) {
		t.Error("isInvalidAssertion true for a non-Salesforce error")
	}
	wrapped := fmt.Errorf("grant: %w", &salesforceError{Code: "invalid_grant", Description: "Invalid Assertion"})
	if !isInvalidAssertion(wrapped) {
		t.Error("isInvalidAssertion false for a wrapped refusal")
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := defaultRetryPolicy
	for n := 1; n < 70; n++ {
		for i := 0; i < 50; i++ {
			if d := p.delay(n); d < 0 || d > p.MaxDelay || (n == 1 && d > p.BaseDelay) {
				t.Fatalf("delay(%d) = %v", n, d)
			}
		}
	}
	if d := (retryPolicy{}).delay(3); d != 0 {
		t.Errorf("zero policy delay = %v", d)
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
