package sfemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestSessionReuseAndRevoke is the fact that shapes the plugin's design:
// repeated grants share one token until it is revoked.
func TestSessionReuseAndRevoke(t *testing.T) {
	h := newHarness(t, nil)
	first := h.mustToken(nil)
	for i := 0; i < 7; i++ {
		if got := h.mustToken(nil); got != first {
			t.Fatalf("grant %d returned a new token while the session lives", i+2)
		}
	}
	if a := h.get("/services/data/v65.0/limits", first); a.status != 200 {
		t.Fatalf("limits: %d %s", a.status, a.body)
	}
	a := h.revoke(first)
	if a.status != 200 || len(a.body) != 0 {
		t.Fatalf("revoke: %d %q", a.status, a.body)
	}
	if h.emu.TokenActive(first) {
		t.Fatal("revoked token still active")
	}
	a = h.get("/services/data/v65.0/limits", first)
	if a.status != 401 || a.ctype != contentTypeJSON || string(a.body) != `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` {
		t.Fatalf("dead token: %d %q %s", a.status, a.ctype, a.body)
	}
	a = h.revoke(first)
	if a.status != 400 || a.ctype != contentTypeForm || string(a.body) != "error=invalid_token" {
		t.Fatalf("second revoke: %d %q %q", a.status, a.ctype, a.body)
	}
	second := h.mustToken(nil)
	if second == first {
		t.Fatal("grant after revoke returned the revoked token")
	}
	// Client credentials of the same app is another user (the Run As one),
	// hence another session, reused in turn.
	c1 := h.ccGrant(appMain, secret).json(t)["access_token"]
	c2 := h.ccGrant(appMain, secret).json(t)["access_token"]
	if c1 != c2 || c1 == second {
		t.Fatalf("cc tokens: %v %v (jwt %v)", c1, c2, second)
	}

	st := h.emu.Stats()
	if st.Grants[statJWT] != 9 || st.Grants[statCC] != 2 {
		t.Errorf("grants = %v", st.Grants)
	}
	if len(st.Sessions) != 3 {
		t.Fatalf("sessions = %+v", st.Sessions)
	}
	s0 := st.Sessions[0]
	sum := sha256.Sum256([]byte(first))
	if s0.TokenSHA256 != hex.EncodeToString(sum[:]) || s0.Grants != 8 || s0.Active || s0.RevokedAt == nil || s0.Username != "alice@example.com" {
		t.Errorf("first session = %+v", s0)
	}
	if !st.Sessions[1].Active || st.Sessions[1].RevokedAt != nil {
		t.Errorf("second session = %+v", st.Sessions[1])
	}
}

func TestRevokeByGET(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	if a := h.get("/services/oauth2/revoke?token="+url.QueryEscape(tok), ""); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("GET revoke: %d %s", a.status, a.body)
	}
	if h.emu.TokenActive(tok) {
		t.Fatal("token survived revoke")
	}
}

func TestRevokeErrors(t *testing.T) {
	h := newHarness(t, nil)
	const unsupported = "error=unsupported_token_type&error_description=this%20token%20type%20is%20not%20supported"
	for name, tc := range map[string]struct{ token, body string }{
		"not token-shaped":   {"hello", unsupported},
		"empty":              {"", unsupported},
		"JWT-looking":        {"a.b.c", unsupported},
		"unknown but shaped": {"00D5g000004XyZa!AQ4AQnotissued", "error=invalid_token"},
		"other org":          {"00D000000000001!AQ4AQnotissued", "error=invalid_token"},
	} {
		a := h.revoke(tc.token)
		if a.status != 400 || a.ctype != contentTypeForm || string(a.body) != tc.body {
			t.Errorf("%s: %d %q %q", name, a.status, a.ctype, a.body)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SessionTimeoutSeconds = 900 })
	var mu sync.Mutex
	now := time.Now()
	h.emu.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	exp := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"exp": now.Add(time.Minute).Unix()}
	}

	tok := h.mustToken(exp())
	// Activity keeps the session alive past the timeout from its creation.
	for i := 0; i < 3; i++ {
		step(10 * time.Minute)
		if a := h.get("/services/data/v65.0/limits", tok); a.status != 200 {
			t.Fatalf("call %d after 10 min idle: %d", i, a.status)
		}
	}
	// A grant is activity too, and returns the same token.
	step(10 * time.Minute)
	if got := h.mustToken(exp()); got != tok {
		t.Fatal("grant within the timeout started a new session")
	}
	step(15*time.Minute + time.Second)
	if h.emu.TokenActive(tok) {
		t.Fatal("session outlived its idle timeout")
	}
	if a := h.get("/services/data/v65.0/limits", tok); a.status != 401 {
		t.Fatalf("expired token: %d", a.status)
	}
	if a := h.revoke(tok); string(a.body) != "error=invalid_token" {
		t.Fatalf("revoke of expired token: %s", a.body)
	}
	if got := h.mustToken(exp()); got == tok {
		t.Fatal("grant after timeout returned the expired token")
	}
}

func TestNoSessionReuse(t *testing.T) {
	f := false
	h := newHarness(t, func(c *Config) { c.ReuseSessions = &f })
	a, b := h.mustToken(nil), h.mustToken(nil)
	if a == b {
		t.Fatal("reuse_sessions=false returned the same token twice")
	}
	if !h.emu.TokenActive(a) || !h.emu.TokenActive(b) {
		t.Fatal("both tokens should live")
	}
	h.revoke(a)
	if h.emu.TokenActive(a) || !h.emu.TokenActive(b) {
		t.Fatal("revoking one token must leave the other")
	}
}

func TestExpireAllAndRevokeAll(t *testing.T) {
	h := newHarness(t, nil)
	a := h.mustToken(nil)
	h.emu.ExpireAll()
	if h.emu.TokenActive(a) {
		t.Fatal("ExpireAll left a session")
	}
	b := h.mustToken(nil)
	if b == a {
		t.Fatal("grant after ExpireAll reused the expired session")
	}
	h.emu.RevokeAll()
	if h.emu.TokenActive(b) {
		t.Fatal("RevokeAll left a session")
	}
	st := h.emu.Stats()
	if st.Sessions[0].ExpiredAt == nil || st.Sessions[1].RevokedAt == nil {
		t.Errorf("stats: %+v", st.Sessions)
	}
	h.emu.Reset()
	if st := h.emu.Stats(); len(st.Sessions) != 0 || st.TokenCalls != 0 {
		t.Errorf("after Reset: %+v", st)
	}
}

func TestSetUserAtRunTime(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.emu.SetUser(appMain, User{Username: "alice@example.com", UserID: "005000000000001AAA", Approved: false, Active: true}); err != nil {
		t.Fatal(err)
	}
	if m := h.jwtGrant(nil).json(t); m["error_description"] != descNotApproved {
		t.Fatalf("disapproved: %v", m)
	}
	if err := h.emu.SetUser(appMain, User{Username: "alice@example.com", Approved: true, Active: false}); err != nil {
		t.Fatal(err)
	}
	if m := h.jwtGrant(nil).json(t); m["error"] != "inactive_user" {
		t.Fatalf("deactivated: %v", m)
	}
	if err := h.emu.SetUser(appMain, User{Username: "new@example.com", Approved: true, Active: true}); err != nil {
		t.Fatal(err)
	}
	if a := h.jwtGrant(map[string]any{"sub": "new@example.com"}); a.status != 200 {
		t.Fatalf("added user: %d %s", a.status, a.body)
	}
	if err := h.emu.SetUser("nope", User{Username: "x"}); err == nil {
		t.Fatal("SetUser on an unknown app succeeded")
	}
}

func TestClientCredentialsSignature(t *testing.T) {
	h := newHarness(t, nil)
	for name, prep := range map[string]func() answer{
		"body": func() answer { return h.ccGrant(appMain, secret) },
		"basic": func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}},
				func(r *http.Request) { r.SetBasicAuth(appMain, secret) })
		},
	} {
		a := prep()
		if a.status != 200 || a.ctype != contentTypeJSON {
			t.Fatalf("%s: %d %s", name, a.status, a.body)
		}
		m := a.json(t)
		id, _ := m["id"].(string)
		issued, _ := m["issued_at"].(string)
		if id != h.base+"/id/00D5g000004XyZaEAK/005000000000009AAA" {
			t.Errorf("%s: id = %q", name, id)
		}
		ms, err := strconv.ParseInt(issued, 10, 64)
		if err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
			t.Errorf("%s: issued_at %q is not milliseconds since the epoch", name, issued)
		}
		// Verified the way a client would, independently of Signature.
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(id + issued))
		if m["signature"] != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Errorf("%s: signature does not verify", name)
		}
		if m["signature"] == Signature("other", id, issued) {
			t.Errorf("%s: signature ignores the secret", name)
		}
	}
}
