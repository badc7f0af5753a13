package sfemu

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func loadUsers(c *Config) {
	c.LoginRateLimitPerHour = -1
	for i := 0; i < 8; i++ {
		c.Apps[0].Users = append(c.Apps[0].Users, User{Username: fmt.Sprintf("load%d@example.com", i), Approved: true, Active: true})
	}
}

func (h *harness) fastClient(conns int) *http.Client {
	tr := h.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// TestLoad hammers one emulator over loopback TLS with grants, revokes and
// REST calls from 8 goroutines; the race detector watches the state, and
// the counters must add up afterwards.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	h := newHarness(t, loadUsers)
	const workers, perWorker = 8, 1000
	client := h.fastClient(workers)
	var tokenCalls, revokeCalls, failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		// Signing is the client's cost, not the emulator's: sign once per
		// worker and reuse the assertion while it is valid.
		assertion := h.assertion(map[string]any{"sub": fmt.Sprintf("load%d@example.com", w), "exp": time.Now().Add(3 * time.Minute).Unix()})
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var tok string
			send := func(req *http.Request) (int, string) {
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					return 0, ""
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			form := func(path string, f url.Values) *http.Request {
				req, _ := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return req
			}
			for i := 0; i < perWorker; i++ {
				switch i % 8 {
				case 0, 1, 2:
					tokenCalls.Add(1)
					var req *http.Request
					if i%2 == 0 {
						req = form("/services/oauth2/token", url.Values{"grant_type": {grantTypeJWT}, "assertion": {assertion}})
					} else {
						req = form("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {appMain}, "client_secret": {secret}})
					}
					code, body := send(req)
					if code != 200 {
						failures.Add(1)
						continue
					}
					if i%2 == 0 {
						_, rest, _ := strings.Cut(body, `"access_token":"`)
						tok, _, _ = strings.Cut(rest, `"`)
					}
				case 7:
					if tok == "" {
						continue
					}
					revokeCalls.Add(1)
					// Another worker may have revoked the shared run-as
					// session, never this worker's own user's.
					if code, body := send(form("/services/oauth2/revoke", url.Values{"token": {tok}})); code != 200 && body != "error=invalid_token" {
						failures.Add(1)
					}
					tok = ""
				default:
					req, _ := http.NewRequest(http.MethodGet, h.base+"/services/data/v65.0/limits", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					code, _ := send(req)
					if (tok != "" && code != 200) || (tok == "" && code != 401) {
						failures.Add(1)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failed requests", n)
	}
	st := h.emu.Stats()
	if int64(st.TokenCalls) != tokenCalls.Load() || int64(st.RevokeCalls) != revokeCalls.Load() {
		t.Errorf("counters: token %d/%d revoke %d/%d", st.TokenCalls, tokenCalls.Load(), st.RevokeCalls, revokeCalls.Load())
	}
	sum := 0
	for _, s := range st.Sessions {
		sum += s.Grants
	}
	if sum != st.Grants[statJWT]+st.Grants[statCC] {
		t.Errorf("session grants %d != grants %v", sum, st.Grants)
	}
	t.Logf("%d requests in %v: %.0f requests/s (race detector on)", workers*perWorker, elapsed, float64(workers*perWorker)/elapsed.Seconds())
}

func benchGrant(b *testing.B, parallel bool) {
	h := newHarness(b, loadUsers)
	assertion := h.assertion(map[string]any{"exp": time.Now().Add(3 * time.Minute).Unix()})
	body := url.Values{"grant_type": {grantTypeJWT}, "assertion": {assertion}}.Encode()
	client := h.fastClient(64)
	grant := func() {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/services/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	b.ResetTimer()
	start := time.Now()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				grant()
			}
		})
	} else {
		for i := 0; i < b.N; i++ {
			grant()
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "grants/s")
}

// BenchmarkTokenGrant measures JWT grants over loopback TLS, one at a time:
// signature verification included, assertion signing excluded.
func BenchmarkTokenGrant(b *testing.B) { benchGrant(b, false) }

// BenchmarkTokenGrantParallel is the same with GOMAXPROCS clients.
func BenchmarkTokenGrantParallel(b *testing.B) { benchGrant(b, true) }
