package sfemu

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebFlowConfigFile: every web server flow knob is read from the
// config file, and the defaults are Salesforce's.
func TestWebFlowConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sfemu.json")
	body := `{"pkce_mismatch_error": "invalid_request", "apps": [
	  {"client_id": "3MVG9a", "client_secret": "s", "scopes": "api refresh_token",
	   "callback_urls": ["https://vault.example.com/v1/salesforce/callback", "http://localhost:1717/OauthRedirect"],
	   "require_secret_for_web_server_flow": true, "refresh_token_rotation": true,
	   "refresh_token_policy": {"idle_seconds": 600}, "max_approvals_per_user": 3,
	   "users": [{"username": "a@example.com"}]},
	  {"client_id": "3MVG9b", "scopes": "api"}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := emu.app("3MVG9a")
	if len(a.CallbackURLs) != 2 || !a.RequireSecretForWebServerFlow || !a.RefreshTokenRotation ||
		a.RefreshTokenPolicy.IdleSeconds != 600 || a.RefreshTokenPolicyName != "idle_seconds 600" || a.MaxApprovalsPerUser != 3 {
		t.Errorf("app a: %+v", a)
	}
	b, _ := emu.app("3MVG9b")
	if len(b.CallbackURLs) != 0 || b.RequireSecretForWebServerFlow || b.RefreshTokenRotation ||
		b.RefreshTokenPolicyName != "valid_until_revoked" || b.MaxApprovalsPerUser != 5 {
		t.Errorf("defaults of app b: %+v", b)
	}
	if emu.pkceMismatch != "invalid_request" {
		t.Errorf("pkce_mismatch_error not read")
	}
	if def, _ := New(Config{}); def.pkceMismatch != "invalid_grant" {
		t.Errorf("pkce_mismatch_error default %q", def.pkceMismatch)
	}
}

// TestWebFlowConfigRefused: settings Salesforce would not take are refused
// with a message that names the field.
func TestWebFlowConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		app  App
		want string
	}{
		{App{ClientID: "x", CallbackURLs: []string{"/relative/callback"}}, "'callback_urls'"},
		{App{ClientID: "x", CallbackURLs: []string{"https://app.example.com/cb#frag"}}, "'callback_urls'"},
		{App{ClientID: "x", RequireSecretForWebServerFlow: true}, "'client_secret'"},
		{App{ClientID: "x", RefreshTokenPolicy: RefreshTokenPolicy{ExpireAfterSeconds: 60, IdleSeconds: 60}}, "not both"},
		{App{ClientID: "x", RefreshTokenPolicy: RefreshTokenPolicy{IdleSeconds: -1}}, "negative"},
	} {
		_, err := New(Config{Apps: []App{tc.app}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one naming %s", tc.app, err, tc.want)
		}
	}
	if _, err := New(Config{Apps: []App{{ClientID: "x", CallbackURLs: []string{"sfdc://success", "http://localhost:1717/OauthRedirect"}}}}); err != nil {
		t.Errorf("custom scheme and localhost callbacks: %v", err)
	}
}

// TestAdminOneApp: GET and PUT /__sfemu/apps/<client_id>; the old POST
// apps keeps working.
func TestAdminOneApp(t *testing.T) {
	h := newHarness(t, nil)
	a := h.admin("PUT", "apps/3MVG9put", `{"client_secret":"s","scopes":"api refresh_token","callback_urls":["`+callback+`"],"refresh_token_rotation":true,"refresh_token_policy":{"expire_after_seconds":60},"users":[{"username":"alice@example.com"}]}`)
	var v appView
	if a.status != 200 || json.Unmarshal(a.body, &v) != nil || v.ClientID != "3MVG9put" || !v.RefreshTokenRotation ||
		v.RefreshTokenPolicyName != "expire_after_seconds 60" || len(v.CallbackURLs) != 1 || !v.HasClientSecret {
		t.Fatalf("put app: %d %s", a.status, a.body)
	}
	if strings.Contains(string(a.body), `"s"`) {
		t.Errorf("app view shows the secret: %s", a.body)
	}
	if a := h.admin("GET", "apps/3MVG9put", ""); a.status != 200 || !strings.Contains(string(a.body), callback) {
		t.Errorf("get app: %d %s", a.status, a.body)
	}
	if a := h.admin("GET", "apps/3MVG9none", ""); a.status != 404 {
		t.Errorf("get unknown app: %d", a.status)
	}
	if a := h.admin("PUT", "apps/3MVG9put", `{"client_id":"3MVG9other"}`); a.status != 400 {
		t.Errorf("client_id differing from the path: %d %s", a.status, a.body)
	}
	if a := h.admin("PUT", "apps/3MVG9put", `{"require_secret_for_web_server_flow":true}`); a.status != 400 || !strings.Contains(string(a.body), "client_secret") {
		t.Errorf("invalid app: %d %s", a.status, a.body)
	}
	if a := h.admin("DELETE", "apps/3MVG9put", ""); a.status != 405 {
		t.Errorf("DELETE: %d", a.status)
	}
	// The flow works on the app just added.
	_, c := pkcePair(t)
	h.consent("3MVG9put", "alice@example.com", c)
}
