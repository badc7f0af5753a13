package salesforce

import (
	"strings"
	"testing"
)

func TestValidateEndpointURL(t *testing.T) {
	cases := []struct {
		in    string
		allow bool
		want  string // normalised; "" means refused
		err   string // part of the refusal
	}{
		// Salesforce hosts.
		{"https://login.salesforce.com", false, "https://login.salesforce.com", ""},
		{"https://login.salesforce.com/", false, "https://login.salesforce.com", ""},
		{"https://test.salesforce.com:443", false, "https://test.salesforce.com", ""},
		{"https://acme.my.salesforce.com", false, "https://acme.my.salesforce.com", ""},
		{"https://acme--uat.sandbox.my.salesforce.com", false, "https://acme--uat.sandbox.my.salesforce.com", ""},
		{"https://Acme.My.Salesforce.com", false, "https://Acme.My.Salesforce.com", ""},
		{"HTTPS://login.salesforce.com", false, "https://login.salesforce.com", ""},
		{"https://acme.my.site.com", false, "https://acme.my.site.com", ""},
		{"https://acme.lightning.force.com", false, "https://acme.lightning.force.com", ""},
		{"https://acme.my.salesforce.mil", false, "https://acme.my.salesforce.mil", ""},
		{"https://na1.cloudforce.com", false, "https://na1.cloudforce.com", ""},
		{"https://login.database.com", false, "https://login.database.com", ""},
		{"https://salesforce.com", false, "https://salesforce.com", ""},
		// Not Salesforce.
		{"https://evil.com", false, "", "not a Salesforce domain"},
		{"https://salesforce.com.evil.com", false, "", "not a Salesforce domain"},
		{"https://evilsalesforce.com", false, "", "not a Salesforce domain"},
		{"https://login.salesforce.com.", false, "", "DNS name"},
		{"https://login..salesforce.com", false, "", "DNS name"},
		{"https://login_x.salesforce.com", false, "", "DNS name"},
		{"https://10.0.0.1", false, "", "not a Salesforce domain"},
		{"https://evil.com", true, "https://evil.com", ""},
		// Shape.
		{"http://login.salesforce.com", false, "", "must use https"},
		{"http://login.salesforce.com", true, "", "loopback"},
		{"ftp://login.salesforce.com", true, "", "must use https"},
		{"https://user:pass@login.salesforce.com", false, "", "user information"},
		{"https://evil.com@login.salesforce.com", true, "", "user information"},
		{"https://login.salesforce.com?x=1", false, "", "query"},
		{"https://login.salesforce.com?", false, "", "query"},
		{"https://login.salesforce.com#frag", false, "", "fragment"},
		{"https://login.salesforce.com/services/oauth2/token", false, "", "path"},
		{"https://login.salesforce.com//", false, "", "path"},
		{"https://login.salesforce.com:8443", false, "", "default port"},
		{"https://login.salesforce.com:0", true, "", "invalid port"},
		{"https://login.salesforce.com:99999", true, "", "invalid port"},
		{"https://login.salesforce.com:8443", true, "https://login.salesforce.com:8443", ""},
		{"login.salesforce.com", false, "", "absolute URL"},
		{"https://", false, "", "absolute URL"},
		{"", false, "", "absolute URL"},
		{"https:login.salesforce.com", false, "", "absolute URL"},
		{" https://login.salesforce.com", false, "", "spaces"},
		{"https://login.salesforce.com\n", false, "", "spaces"},
		{"https://" + strings.Repeat("a", maxURLLen), true, "", "at most"},
		{"https://[fe80::1%25eth0]", true, "", "zone"},
		// Loopback, for the emulator and tests.
		{"http://127.0.0.1:8080", true, "http://127.0.0.1:8080", ""},
		{"http://127.0.0.1:8080", false, "", "must use https"},
		{"http://127.9.9.9", true, "http://127.9.9.9", ""},
		{"http://localhost:80", true, "http://localhost", ""},
		{"http://[::1]:9000/", true, "http://[::1]:9000", ""},
		{"http://10.1.2.3", true, "", "loopback"},
		{"https://127.0.0.1:8443", true, "https://127.0.0.1:8443", ""},
		{"https://127.0.0.1:8443", false, "", "default port"},
	}
	for _, tc := range cases {
		got, err := validateEndpointURL("login_url", tc.in, tc.allow)
		switch {
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%q allow=%v: got %q, %v; want %q", tc.in, tc.allow, got, err, tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("%q allow=%v: accepted as %q", tc.in, tc.allow, got)
		case tc.want == "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%q allow=%v: error %q does not say %q", tc.in, tc.allow, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "pass"):
			t.Errorf("%q: error %q may echo userinfo", tc.in, err)
		}
	}
}

func TestConfigLoginURLThroughTheAPI(t *testing.T) {
	b, s := newConfigTestBackend(t)
	cfgRefused(t, b, s, "create", "config/main", map[string]interface{}{
		"client_id": cfgClientID, "login_url": "http://127.0.0.1:8080",
	}, "'login_url'", "allow_non_salesforce_host=true")
	cfgOK(t, b, s, "create", "config/main", map[string]interface{}{
		"client_id": cfgClientID, "login_url": "http://127.0.0.1:8080/", "allow_non_salesforce_host": true,
	})
	read := cfgOK(t, b, s, "read", "config/main", nil)
	if read.Data["login_url"] != "http://127.0.0.1:8080" || read.Data["audience"] != "http://127.0.0.1:8080" {
		t.Fatalf("read: %v", read.Data)
	}
}
