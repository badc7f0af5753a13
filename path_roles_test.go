package salesforce

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRoleBadInputIs400AndWritesNothing(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.mustOK(logical.UpdateOperation, "config/nokey", map[string]interface{}{
		"login_url": e.srv.URL, "client_id": emuClientID, "ca_cert": e.caPEM, "allow_non_salesforce_host": true,
	})
	cases := []struct {
		name string
		data map[string]interface{}
		want string
	}{
		{"no connection", map[string]interface{}{"username": emuUser}, "connection"},
		{"missing connection", map[string]interface{}{"connection": "nope", "username": emuUser}, "does not exist"},
		{"jwt without username", map[string]interface{}{"connection": "main"}, "username is required"},
		{"cc with username", map[string]interface{}{"connection": "main", "grant_type": "client_credentials", "username": emuUser}, "must be empty"},
		{"jwt on connection without key", map[string]interface{}{"connection": "nokey", "username": emuUser}, "no private key"},
		{"cc on connection without secret", map[string]interface{}{"connection": "nokey", "grant_type": "client_credentials"}, "no client_secret"},
		{"bad grant type", map[string]interface{}{"connection": "main", "username": emuUser, "grant_type": "password"}, "grant_type"},
		{"ttl above max_ttl", map[string]interface{}{"connection": "main", "username": emuUser, "ttl": "2h", "max_ttl": "1h"}, "cannot be greater than"},
		{"unknown field", map[string]interface{}{"connection": "main", "username": emuUser, "max-ttl": "1h"}, "max-ttl"},
		{"username with spaces", map[string]interface{}{"connection": "main", "username": "a b@c.com"}, "not a Salesforce username"},
		{"too many scopes", map[string]interface{}{"connection": "main", "username": emuUser, "scopes": manyScopes(100)}, "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.do(logical.CreateOperation, "roles/bad", tc.data)
			if err != nil {
				t.Fatalf("bad input must be a 400, not an error: %v", err)
			}
			if resp == nil || !resp.IsError() {
				t.Fatalf("want an error response, got %#v", resp)
			}
			assertContains(t, strings.ReplaceAll(errText(resp, err), `"`, ""), tc.want)
			if r, _ := getRole(t.Context(), e.storage, "bad"); r != nil {
				t.Fatalf("a refused write left a role behind: %#v", r)
			}
		})
	}
	for _, name := range []string{"a/b", "..", "-x", strings.Repeat("n", 200)} {
		resp, err := e.do(logical.CreateOperation, "roles/"+name, map[string]interface{}{"connection": "main", "username": emuUser})
		if err == nil && (resp == nil || !resp.IsError()) {
			t.Errorf("role name %q accepted", name)
		}
	}
}

func TestRoleConnectionAndUsernameAreFixed(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.mustOK(logical.UpdateOperation, "config/second", map[string]interface{}{
		"login_url": e.srv.URL, "client_id": emuClientID, "private_key": e.keyPEM, "ca_cert": e.caPEM, "allow_non_salesforce_host": true,
	})
	e.role("app", nil)
	for field, value := range map[string]string{"connection": "second", "username": "other@acme.com"} {
		resp, err := e.do(logical.UpdateOperation, "roles/app", map[string]interface{}{field: value})
		if err != nil || resp == nil || !resp.IsError() {
			t.Errorf("changing %s was accepted: %v %#v", field, err, resp)
		}
	}
	// Other fields still update, and the fixed ones may be restated unchanged.
	e.mustOK(logical.UpdateOperation, "roles/app", map[string]interface{}{"connection": "main", "username": emuUser, "ttl": "5m"})
	got := e.mustOK(logical.ReadOperation, "roles/app", nil).Data
	if got["connection"] != "main" || got["username"] != emuUser || got["ttl"] != int64(300) {
		t.Errorf("role after update: %#v", got)
	}
}

func TestRoleReadListDelete(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("a", nil)
	resp, err := e.do(logical.CreateOperation, "roles/b", map[string]interface{}{"connection": "main", "username": emuUser})
	if err != nil || resp == nil || len(resp.Warnings) == 0 {
		t.Errorf("a role without scopes should warn that no ceiling applies: %v %#v", err, resp)
	}
	list := e.mustOK(logical.ListOperation, "roles/", nil).Data["keys"].([]string)
	if strings.Join(list, ",") != "a,b" {
		t.Errorf("roles listed: %v", list)
	}
	got := e.mustOK(logical.ReadOperation, "roles/a", nil).Data
	if got["grant_type"] != grantJWTBearer || strings.Join(got["scopes"].([]string), " ") != "api web refresh_token" {
		t.Errorf("role read: %#v", got)
	}
	resp, err = e.do(logical.DeleteOperation, "config/main", nil)
	if err != nil || resp == nil || !resp.IsError() {
		t.Errorf("deleting a connection roles use was accepted: %v %#v", err, resp)
	}
	e.mustOK(logical.DeleteOperation, "roles/a", nil)
	if resp, _ := e.do(logical.ReadOperation, "roles/a", nil); resp != nil {
		t.Errorf("deleted role still reads: %#v", resp)
	}
}

func TestScopesOutside(t *testing.T) {
	cases := []struct {
		granted string
		ceiling []string
		want    string
	}{
		{"api web", []string{"api", "web"}, ""},
		{"api web refresh_token", []string{"api"}, "web refresh_token"},
		{"api refresh_token", []string{"api", "offline_access"}, ""},
		{"id profile email", []string{"id"}, ""},
		{"api chatter_api", []string{"full"}, ""},
		{"API", []string{"api"}, ""},
		{"", []string{"api"}, ""},
	}
	for _, tc := range cases {
		if got := strings.Join(scopesOutside(tc.granted, tc.ceiling), " "); got != tc.want {
			t.Errorf("scopesOutside(%q, %v) = %q, want %q", tc.granted, tc.ceiling, got, tc.want)
		}
	}
}

func manyScopes(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("scope_%d", i)
	}
	return strings.Join(s, ",")
}
