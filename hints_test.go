package salesforce

import (
	"net/http"
	"strings"
	"testing"
)

func TestEveryHintRuleIsComplete(t *testing.T) {
	for i, r := range hintRules {
		name := r.code + "/" + strings.Join(r.descs, ",")
		if r.meaning == "" || r.fix == "" {
			t.Errorf("%s: a rule needs a meaning and a fix", name)
		}
		h := r.hint()
		// An app setting names where to change it in both kinds of app;
		// app_not_found exists for External Client Apps only.
		if r.eca != "" && !strings.Contains(h, r.eca) {
			t.Errorf("%s: hint %q does not name the External Client App screen", name, h)
		}
		if r.ca != "" && !strings.Contains(h, r.ca) {
			t.Errorf("%s: hint %q does not name the Connected App screen", name, h)
		}
		if (r.eca == "") != (r.ca == "") && r.code != "app_not_found" {
			t.Errorf("%s: names a Setup screen for one kind of app only", name)
		}
		// A catch-all must come after the specific rows of its code,
		// or they would never match.
		if len(r.descs) == 0 {
			for _, later := range hintRules[i+1:] {
				if later.code == r.code {
					t.Errorf("%s: the catch-all hides the later row %s", name, strings.Join(later.descs, ","))
				}
			}
		}
	}
}

func TestHintsThatWereWrong(t *testing.T) {
	ip := hintFor(http.StatusBadRequest, "invalid_grant", "IP restricted or invalid login hours")
	assertContains(t, ip, "egress IP", "Login IP Ranges", "Network Access", "Login Hours", "does not help")
	if strings.Contains(ip, "relax the Connected App's IP policy") {
		t.Errorf("the IP hint still suggests relaxing the app's IP policy, which the JWT flow ignores: %q", ip)
	}

	aud := hintFor(http.StatusBadRequest, "invalid_grant", "audience is invalid")
	if got := hintFor(http.StatusBadRequest, "invalid_grant", "Audience validation failed"); got != aud {
		t.Errorf("'Audience validation failed' hint = %q, want the audience hint %q", got, aud)
	}
	assertContains(t, aud, "audience", "https://test.salesforce.com", "My Domain")

	pre := hintFor(http.StatusBadRequest, "invalid_grant", "user hasn't approved this consumer")
	assertContains(t, pre, "External Client App Manager", "App Manager > the app > Manage")
	assertContains(t, genericHint, "External Client App", "Connected App")
}

// TestWebServerFlowHints: the user authorizations' refusals have their own
// rows, matched whatever the case, and access-denied as Salesforce's own
// example spells it.
func TestWebServerFlowHints(t *testing.T) {
	rows := []struct{ code, desc, want string }{
		{"invalid_grant", "expired access/refresh token", "authorize again"},
		{"invalid_grant", "invalid code verifier", "start the authorization again"},
		{"invalid_grant", "invalid authorization code", "whole URL"},
		{"invalid_grant", "expired authorization code", "a code works once"},
		{"redirect_uri_mismatch", "redirect_uri must match configuration", "Callback URL"},
		{"access-denied", "end-user denied authorization", "allow access"},
		{"OAUTH_APP_ACCESS_DENIED", "", "Manage Profiles"},
		{"oauth_app_access_denied", "", "Select Permission Sets"},
	}
	for _, row := range rows {
		if h := hintFor(http.StatusBadRequest, row.code, row.desc); !strings.Contains(h, row.want) {
			t.Errorf("%s / %s: hint %q does not mention %q", row.code, row.desc, h, row.want)
		}
	}
	refresh := hintFor(http.StatusBadRequest, "invalid_grant", "expired access/refresh token")
	assertContains(t, refresh, "Refresh Token Policy", "External Client App Manager", "App Manager > the app > Manage")
}
