package salesforce

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// FuzzRoleWrite sends arbitrary role input. Whatever it is: no Go error (a
// 500), no panic, and a refused write leaves no role behind, while an
// accepted one reads back valid.
func FuzzRoleWrite(f *testing.F) {
	f.Add("app", "main", "jwt_bearer", "user@acme.com", "api,web", "15m", "1h", false)
	f.Add("app", "main", "client_credentials", "", "api", "0", "0", false)
	f.Add("app", "", "password", "a b", "", "-5", "x", true)
	f.Add("a.b-c_d", "nope", "", "\x00", ",,,", "99999999999999", "1", false)
	f.Add("app", "main", "jwt_bearer", "user@acme.com", "full", "2h", "1h", true)
	f.Fuzz(func(t *testing.T, name, conn, grant, username, scopes, ttl, maxTTL string, unknown bool) {
		if name == "" || len(name) > 300 {
			name = "app"
		}
		b, s := newConfigTestBackend(t)
		k := testKeyForms(t)
		cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
			"client_id": cfgClientID, "private_key": k.pkcs8, "client_secret": cfgSecret,
		})
		data := map[string]interface{}{
			"connection": conn, "grant_type": grant, "username": username,
			"scopes": scopes, "ttl": ttl, "max_ttl": maxTTL,
		}
		if unknown {
			data["maxttl"] = maxTTL
		}
		resp, err := b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.CreateOperation, Path: "roles/" + name, Data: data, Storage: s,
		})
		if err == logical.ErrUnsupportedPath || err == logical.ErrUnsupportedOperation {
			return // not a role path: the router's business
		}
		if err != nil {
			t.Fatalf("Go error (a 500): %v", err)
		}
		r, rerr := getRole(context.Background(), s, name)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if resp != nil && resp.IsError() {
			if r != nil {
				t.Fatalf("refused write left a role: %#v", r)
			}
			return
		}
		if r == nil {
			t.Fatalf("accepted write stored no role: %#v", resp)
		}
		if msg := validateRole(r, mustConnection(t, s, r.Connection)); msg != "" {
			t.Fatalf("accepted an invalid role (%s): %#v", msg, r)
		}
	})
}

func mustConnection(t *testing.T, s logical.Storage, name string) *connection {
	c, err := getConnection(context.Background(), s, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
