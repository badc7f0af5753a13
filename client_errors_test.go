package salesforce

// Salesforce's refusals, retries and the errors they become: client_errors.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

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
