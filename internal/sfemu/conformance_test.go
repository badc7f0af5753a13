package sfemu

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestErrorTable walks every row of the grant error table in
// docs/salesforce-protocol.md: status, content type, and the exact error and
// error_description a client matches on.
func TestErrorTable(t *testing.T) {
	h := newHarness(t, nil)
	past := time.Now().Add(-time.Minute).Unix()
	jwt := func(over map[string]any) func() answer { return func() answer { return h.jwtGrant(over) } }
	otherSigned := func() answer {
		a, err := SignAssertion(otherKey, h.claims(nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		return h.post("/services/oauth2/token", url.Values{"grant_type": {grantTypeJWT}, "assertion": {a}}, nil)
	}
	rawAssertion := func(a string) func() answer {
		return func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {grantTypeJWT}, "assertion": {a}}, nil)
		}
	}
	hs256 := func() answer {
		a, err := SignAssertion(keyPEM, h.claims(nil), map[string]any{"alg": "HS256"})
		if err != nil {
			t.Fatal(err)
		}
		return rawAssertion(a)()
	}
	cc := func(id, sec string) func() answer { return func() answer { return h.ccGrant(id, sec) } }
	tests := []struct {
		name       string
		call       func() answer
		code, desc string
	}{
		{"user not pre-authorized", jwt(map[string]any{"sub": "bob@example.com"}), "invalid_grant", "user hasn't approved this consumer"},
		{"unknown username", jwt(map[string]any{"sub": "nobody@example.com"}), "invalid_grant", "user hasn't approved this consumer"},
		{"wrong audience", jwt(map[string]any{"aud": "https://acme.my.salesforce.com"}), "invalid_grant", "audience is invalid"},
		{"audience with trailing slash", jwt(map[string]any{"aud": h.base + "/"}), "invalid_grant", "audience is invalid"},
		{"login audience with trailing slash", jwt(map[string]any{"aud": "https://login.salesforce.com/"}), "invalid_grant", "audience is invalid"},
		{"two audiences", jwt(map[string]any{"aud": []string{h.base, "https://login.salesforce.com"}}), "invalid_grant", "audience is invalid"},
		{"key not matching the certificate", otherSigned, "invalid_grant", "invalid assertion"},
		{"malformed JWT", rawAssertion("not.a-jwt"), "invalid_grant", "invalid assertion"},
		{"missing assertion", rawAssertion(""), "invalid_grant", "invalid assertion"},
		{"alg not RS256", hs256, "invalid_grant", "invalid assertion"},
		{"exp in the past", jwt(map[string]any{"exp": past}), "invalid_grant", "expired authorization code"},
		{"exp in the past as a string", jwt(map[string]any{"exp": strconv.FormatInt(past, 10)}), "invalid_grant", "expired authorization code"},
		{"exp not a number", jwt(map[string]any{"exp": "soon"}), "invalid_grant", "invalid assertion"},
		{"exp missing", jwt(map[string]any{"exp": nil}), "invalid_grant", "invalid assertion"},
		{"IP restricted", jwt(map[string]any{"sub": "dave@example.com"}), "invalid_grant", "IP restricted or invalid login hours"},
		{"unknown consumer key", jwt(map[string]any{"iss": "3MVG9unknown"}), "invalid_client_id", "client identifier invalid"},
		{"certificate not saved on the app", jwt(map[string]any{"iss": appNoCert}), "invalid_client", "invalid client credentials"},
		{"wrong client secret", cc(appMain, "wrong"), "invalid_client", "invalid client credentials"},
		{"not admin approved", jwt(map[string]any{"iss": appAdmin, "sub": "erin@example.com"}), "invalid_app_access", "user is not admin approved to access this app"},
		{"external client app not installed", jwt(map[string]any{"iss": appExt}), "app_not_found", "External client app is not installed in this org"},
		{"external client app not installed (cc)", cc(appExt, "s"), "app_not_found", "External client app is not installed in this org"},
		{"inactive user", jwt(map[string]any{"sub": "carol@example.com"}), "inactive_user", descInactiveUser},
		{"unknown grant type", func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {"password"}}, nil)
		}, "unsupported_grant_type", "grant type not supported"},
		{"JSON body", func() answer {
			req, _ := http.NewRequest(http.MethodPost, h.base+"/services/oauth2/token",
				strings.NewReader(`{"grant_type":"client_credentials","client_id":"`+appMain+`","client_secret":"`+secret+`"}`))
			req.Header.Set("Content-Type", "application/json")
			return h.do(req)
		}, "unsupported_grant_type", "grant type not supported"},
		{"scope field", func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {grantTypeJWT}, "assertion": {h.assertion(nil)}, "scope": {"api"}}, nil)
		}, "invalid_request", "scope parameter not supported"},
		{"no run-as user", cc(appNoRunAs, "s"), "invalid_grant", "no client credentials user enabled"},
		{"unknown client (cc)", cc("3MVG9unknown", "s"), "invalid_client_id", "client identifier invalid"},
		{"cc on login.salesforce.com", func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {appMain}, "client_secret": {secret}},
				func(r *http.Request) { r.Host = "login.salesforce.com" })
		}, "invalid_grant", "request not supported on this domain"},
		{"cc on test.salesforce.com", func() answer {
			return h.post("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {appMain}, "client_secret": {secret}},
				func(r *http.Request) { r.Host = "test.salesforce.com:443" })
		}, "invalid_grant", "request not supported on this domain"},
		{"GET on the token endpoint", func() answer { return h.get("/services/oauth2/token", "") }, "invalid_request", "must use HTTP POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.call()
			if a.status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400 (body %s)", a.status, a.body)
			}
			if a.ctype != contentTypeJSON {
				t.Errorf("Content-Type = %q, want %q", a.ctype, contentTypeJSON)
			}
			m := a.json(t)
			if m["error"] != tc.code || m["error_description"] != tc.desc {
				t.Errorf("got %v / %v, want %s / %s", m["error"], m["error_description"], tc.code, tc.desc)
			}
			if len(m) != 2 {
				t.Errorf("error body has extra fields: %s", a.body)
			}
		})
	}
	if got := h.emu.Stats().Grants; got[statJWT] != 0 || got[statCC] != 0 {
		t.Errorf("refusals counted as grants: %v", got)
	}
}

func TestInactiveOrg(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InactiveOrg = true })
	m := h.jwtGrant(nil).json(t)
	if m["error"] != "inactive_org" || m["error_description"] != descInactiveOrg {
		t.Errorf("got %v", m)
	}
	m = h.ccGrant(appMain, secret).json(t)
	if m["error"] != "inactive_org" {
		t.Errorf("cc: got %v", m)
	}
}

func TestLoginRateExceeded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginRateLimitPerHour = 3 })
	now := time.Now()
	h.emu.SetClock(func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if a := h.jwtGrant(map[string]any{"exp": now.Add(time.Minute).Unix()}); a.status != 200 {
			t.Fatalf("grant %d: %d %s", i, a.status, a.body)
		}
	}
	m := h.jwtGrant(map[string]any{"exp": now.Add(time.Minute).Unix()}).json(t)
	if m["error"] != "invalid_grant" || m["error_description"] != "login rate exceeded" {
		t.Fatalf("4th grant: %v", m)
	}
	// Another user has a budget of its own.
	if a := h.ccGrant(appMain, secret); a.status != 200 {
		t.Fatalf("run-as user: %d %s", a.status, a.body)
	}
	// The budget comes back after an hour.
	now = now.Add(time.Hour + time.Second)
	if a := h.jwtGrant(map[string]any{"exp": now.Add(time.Minute).Unix()}); a.status != 200 {
		t.Fatalf("after an hour: %d %s", a.status, a.body)
	}
}

func TestDefaultLoginRateIs3600(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if e.rateLimit != 3600 {
		t.Errorf("rate limit = %d", e.rateLimit)
	}
}

// TestJWTAccepted covers the forms of a good assertion that real clients
// send: exp as a string (simple-salesforce), exp far ahead or in
// milliseconds (Salesforce CLI), prn instead of sub, each accepted
// audience, aud as a one-element array.
func TestJWTAccepted(t *testing.T) {
	h := newHarness(t, nil)
	exp := time.Now().Add(2 * time.Minute).Unix()
	millis := time.Now().UnixMilli() + 300
	cases := map[string]map[string]any{
		"exp as string":             {"exp": strconv.FormatInt(exp, 10)},
		"exp an hour ahead":         {"exp": time.Now().Add(time.Hour).Unix()},
		"exp in milliseconds":       {"exp": millis},
		"exp in milliseconds, text": {"exp": strconv.FormatInt(millis, 10)},
		"login audience":            {"aud": "https://login.salesforce.com"},
		"test audience":             {"aud": "https://test.salesforce.com"},
		"aud as array":              {"aud": []string{h.base}},
		"prn wins over sub":         {"prn": "alice@example.com", "sub": "bob@example.com"},
		"extra claims":              {"iat": time.Now().Unix(), "jti": "x", "nbf": time.Now().Unix()},
	}
	for name, over := range cases {
		t.Run(name, func(t *testing.T) {
			a := h.jwtGrant(over)
			if a.status != 200 || a.ctype != contentTypeJSON {
				t.Fatalf("%d %q %s", a.status, a.ctype, a.body)
			}
			m := a.json(t)
			for _, k := range []string{"refresh_token", "expires_in", "issued_at", "signature"} {
				if _, ok := m[k]; ok {
					t.Errorf("unexpected %s in %s", k, a.body)
				}
			}
			tok, _ := m["access_token"].(string)
			if !strings.HasPrefix(tok, "00D5g000004XyZa!") || !tokenShaped(tok) {
				t.Errorf("token %q is not Salesforce-shaped", tok)
			}
			want := map[string]any{
				"scope": "api web refresh_token", "instance_url": h.base, "token_type": "Bearer",
				"id": h.base + "/id/00D5g000004XyZaEAK/005000000000001AAA",
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
	// The prn case must have logged in alice, not bob (who is not approved).
	a := h.jwtGrant(map[string]any{"prn": "bob@example.com", "sub": "alice@example.com"})
	if a.status != 400 {
		t.Errorf("prn=bob should be refused, got %d", a.status)
	}
}
