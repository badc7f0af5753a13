package sfemu

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCodeExchangeRefusals walks the code exchange's refusals, each with
// a fresh code: PKCE, the redirect_uri, the client's secret, the code.
func TestCodeExchangeRefusals(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	v, c := pkcePair(t)
	tests := []struct {
		name       string
		app        string
		challenge  string
		verifier   string
		over       map[string]string
		code, desc string
	}{
		{"verifier does not match", appWeb, c, "wrong-" + v, nil, "invalid_grant", "invalid code verifier"},
		{"verifier missing", appWeb, c, "", nil, "invalid_grant", "invalid code verifier"},
		{"challenge sent as plain", appWeb, v, v, nil, "invalid_grant", "invalid code verifier"},
		{"verifier without challenge", appWeb, "", v, nil, "invalid_grant", "unexpected code verifier"},
		{"redirect_uri differs", appWeb, c, v, map[string]string{"redirect_uri": cliCallback}, "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"redirect_uri missing", appWeb, c, v, map[string]string{"redirect_uri": ""}, "redirect_uri_mismatch", "redirect_uri must match configuration"},
		{"wrong secret", appWeb, c, v, map[string]string{"client_secret": "wrong"}, "invalid_client", "invalid client credentials"},
		{"secret required", appWebReq, c, v, map[string]string{"client_secret": ""}, "invalid_client", "invalid client credentials"},
		{"unknown app", appWeb, c, v, map[string]string{"client_id": "3MVG9unknown"}, "invalid_client_id", "client identifier invalid"},
		{"code of another app", appWeb, c, v, map[string]string{"client_id": appWebRot}, "invalid_grant", "invalid authorization code"},
		{"unknown code", appWeb, c, v, map[string]string{"code": "aPrxbm90IGEgY29kZQ=="}, "invalid_grant", "invalid authorization code"},
		{"no code", appWeb, c, v, map[string]string{"code": ""}, "invalid_grant", "invalid authorization code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := h.consent(tc.app, "alice@example.com", tc.challenge)
			over := map[string]string{"code_verifier": tc.verifier}
			for k, v := range tc.over {
				over[k] = v
			}
			if tc.verifier == "" {
				over["code_verifier"] = ""
			}
			wantOAuthError(t, h.exchange(tc.app, code, tc.verifier, over), tc.code, tc.desc)
			// A refusal does not spend the code: the right request
			// still redeems it.
			if tc.challenge == c {
				if a := h.exchange(tc.app, code, v, nil); a.status != 200 {
					t.Fatalf("code spent by a refused exchange: %d %s", a.status, a.body)
				}
			}
		})
	}
}

// TestPKCEVerifierWithTilde: Salesforce refuses a verifier with "~" even
// when its hash matches; a client must draw verifiers from base64url.
func TestPKCEVerifierWithTilde(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	v := strings.Repeat("a~", 30)
	wantOAuthError(t, h.exchange(appWeb, h.consent(appWeb, "alice@example.com", s256(v)), v, nil), "invalid_grant", "invalid code verifier")
}

// TestPKCEMismatchAsDocumented: the documented reading answers a mismatch
// with invalid_request; a missing verifier stays invalid_grant.
func TestPKCEMismatchAsDocumented(t *testing.T) {
	h := newHarness(t, func(c *Config) { withWebApps(nil)(c); c.PKCEMismatchError = "invalid_request" })
	v, c := pkcePair(t)
	wantOAuthError(t, h.exchange(appWeb, h.consent(appWeb, "alice@example.com", c), "x"+v, nil), "invalid_request", "invalid code verifier")
	wantOAuthError(t, h.exchange(appWeb, h.consent(appWeb, "alice@example.com", c), "", map[string]string{"code_verifier": ""}), "invalid_grant", "invalid code verifier")
	if _, err := New(Config{PKCEMismatchError: "invalid_scope"}); err == nil {
		t.Error("pkce_mismatch_error accepts any value")
	}
}

// TestClientSecretRules: the secret is needed only where the app requires
// it, HTTP Basic works, and a sent secret is always checked.
func TestClientSecretRules(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	v, c := pkcePair(t)
	if a := h.exchange(appWeb, h.consent(appWeb, "alice@example.com", c), v, map[string]string{"client_secret": ""}); a.status != 200 {
		t.Fatalf("no secret, not required: %d %s", a.status, a.body)
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {h.consent(appWebReq, "alice@example.com", c)},
		"redirect_uri": {callback}, "code_verifier": {v},
	}
	a := h.post("/services/oauth2/token", form, func(r *http.Request) { r.SetBasicAuth(appWebReq, webSecret) })
	if a.status != 200 {
		t.Fatalf("secret by HTTP Basic: %d %s", a.status, a.body)
	}
	rt := a.json(t)["refresh_token"].(string)
	noSecret := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {appWebReq}}
	wantOAuthError(t, h.post("/services/oauth2/token", noSecret, nil), "invalid_client", "invalid client credentials")
	if a := h.refreshGrant(appWebReq, rt); a.status != 200 {
		t.Fatalf("refresh with the secret: %d %s", a.status, a.body)
	}
}

// TestCodeLifetime: a code lives 15 minutes.
func TestCodeLifetime(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	clock := h.useFakeClock()
	v, c := pkcePair(t)
	code := h.consent(appWeb, "alice@example.com", c)
	clock.Advance(15*time.Minute - time.Second)
	if a := h.exchange(appWeb, code, v, nil); a.status != 200 {
		t.Fatalf("code at 14:59: %d %s", a.status, a.body)
	}
	code = h.consent(appWeb, "alice@example.com", c)
	clock.Advance(15 * time.Minute)
	wantOAuthError(t, h.exchange(appWeb, code, v, nil), "invalid_grant", "expired authorization code")
}
