package salesforce

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

func TestCredsReturnsLeasedToken(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "15m", "max_ttl": "1h"})

	resp := e.creds("app")
	if !e.active(token(resp)) {
		t.Fatal("the token handed out is not live at salesforce")
	}
	if resp.Secret.TTL.Minutes() != 15 || resp.Secret.MaxTTL.Hours() != 1 || !resp.Secret.Renewable {
		t.Errorf("lease ttl=%s max_ttl=%s renewable=%v, want 15m, 1h, true", resp.Secret.TTL, resp.Secret.MaxTTL, resp.Secret.Renewable)
	}
	for _, f := range []string{"instance_url", "scope", "token_type", "id", "username", "organization_id", "user_id"} {
		if s, _ := resp.Data[f].(string); s == "" {
			t.Errorf("creds response lacks %q: %#v", f, resp.Data)
		}
	}
	if resp.Data["instance_url"] != e.srv.URL || resp.Data["token_type"] != "Bearer" {
		t.Errorf("instance_url=%v token_type=%v", resp.Data["instance_url"], resp.Data["token_type"])
	}
	if resp.Secret.InternalData["secret_type"] != secretTypeAccessToken {
		t.Errorf("secret type %v", resp.Secret.InternalData["secret_type"])
	}
	for k, v := range resp.Secret.InternalData {
		if s, ok := v.(string); ok && s == token(resp) {
			t.Errorf("lease internal data %q holds the raw access token", k)
		}
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.mustOK(logical.UpdateOperation, "roles/cc", map[string]interface{}{
		"connection": "main", "grant_type": "client_credentials", "scopes": "api,web,refresh_token",
	})
	resp := e.creds("cc")
	if !e.active(token(resp)) {
		t.Fatal("client credentials token not live")
	}
	if got := e.emu.Stats().Grants["client_credentials"]; got != 1 {
		t.Errorf("client_credentials grants at salesforce = %d, want 1", got)
	}
	if err := e.revokeLease(resp); err != nil {
		t.Fatal(err)
	}
	if e.active(token(resp)) {
		t.Error("client credentials token still live after its only lease was revoked")
	}
}

func TestScopeCeilingRefusesExtraScopes(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("narrow", map[string]interface{}{"scopes": "api"})

	resp, err := e.do(logical.ReadOperation, "creds/narrow", nil)
	if err != nil || !resp.IsError() || resp.Secret != nil {
		t.Fatalf("want a 400 and no lease, got err=%v resp=%#v", err, resp)
	}
	assertContains(t, errText(resp, err), "web", "refresh_token", "narrow")
	// The refusal costs the one grant and nothing more: further refused
	// reads within reuse_interval call salesforce not at all.
	for i := 0; i < 3; i++ {
		if resp, err := e.do(logical.ReadOperation, "creds/narrow", nil); err != nil || !resp.IsError() {
			t.Fatalf("read %d: want a 400, got err=%v resp=%#v", i+2, err, resp)
		}
	}
	if st := e.emu.Stats(); st.TokenCalls != 1 || st.RevokeCalls != 0 {
		t.Errorf("4 refused reads made %d token and %d revoke calls, want 1 and 0", st.TokenCalls, st.RevokeCalls)
	}
	// No lease holds the refused token: the sweep ends it once the grace
	// has passed.
	e.clock.Advance(sweepGrace + time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.emu.Stats().Sessions {
		if s.Active {
			t.Errorf("a token refused by the ceiling is still live at salesforce after the sweep (%s)", s.Username)
		}
	}

	// "full" is a ceiling that allows everything, as at Salesforce.
	e.role("full", map[string]interface{}{"scopes": "full"})
	e.creds("full")
}

func TestSalesforceRefusalsSurfaceWithHint(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*sfemu.Config)
		conn   map[string]interface{}
		role   map[string]interface{}
		want   []string
	}{
		{
			name:   "user not pre-authorized",
			mutate: func(c *sfemu.Config) { c.Apps[0].Users[0].Approved = false },
			want:   []string{"invalid_grant", "user hasn't approved this consumer", "pre-authorize"},
		},
		{
			name: "wrong audience",
			conn: map[string]interface{}{"audience": "https://acme.my.salesforce.com"},
			want: []string{"invalid_grant", "audience is invalid"},
		},
		{
			name: "key does not match the app's certificate",
			mutate: func(c *sfemu.Config) {
				_, other, err := sfemu.TestKeyPair()
				if err != nil {
					panic(err)
				}
				c.Apps[0].CertificatePEM = other
			},
			want: []string{"invalid_grant", "invalid assertion", "certificate"},
		},
		{
			name:   "unknown consumer key",
			mutate: func(c *sfemu.Config) { c.Apps[0].ClientID = "3MVG9someOtherApp" },
			want:   []string{"invalid_client_id", "client identifier invalid"},
		},
		{
			name:   "inactive user",
			mutate: func(c *sfemu.Config) { c.Apps[0].Users[0].Active = false },
			want:   []string{"inactive_user"},
		},
		{
			name: "wrong consumer secret",
			conn: map[string]interface{}{"client_secret": "not-the-secret"},
			role: map[string]interface{}{"grant_type": "client_credentials", "username": ""},
			want: []string{"invalid_client", "invalid client credentials"},
		},
		{
			name:   "no run as user",
			mutate: func(c *sfemu.Config) { c.Apps[0].RunAs = "" },
			role:   map[string]interface{}{"grant_type": "client_credentials", "username": ""},
			want:   []string{"invalid_grant", "no client credentials user enabled", "Run As"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, tc.mutate)
			e.connection(tc.conn)
			e.role("app", tc.role)
			resp, err := e.do(logical.ReadOperation, "creds/app", nil)
			if err != nil {
				t.Fatalf("a refusal by salesforce must be a 400, got error %v", err)
			}
			if resp == nil || !resp.IsError() || resp.Secret != nil {
				t.Fatalf("want an error response and no lease, got %#v", resp)
			}
			assertContains(t, errText(resp, err), tc.want...)
		})
	}
}

func TestSalesforceDownIs502(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.emu.SetFaults(sfemu.Faults{TokenFailureRate: 1, Status: 503, Seed: 1})
	resp, err := e.do(logical.ReadOperation, "creds/app", nil)
	coded, ok := err.(logical.HTTPCodedError)
	if !ok || coded.Code() != 502 {
		t.Fatalf("want a 502 coded error, got err=%v resp=%#v", err, resp)
	}
}

func TestConcurrentReadsShareOneGrant(t *testing.T) {
	reuse := false // a new token per grant: only our own sharing can keep it at one
	e := newTestEnv(t, func(c *sfemu.Config) { c.ReuseSessions = &reuse })
	e.connection(nil)
	e.role("app", nil)

	const readers = 32
	tokens := make(chan string, readers)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.ReadOperation, Path: "creds/app", Storage: e.storage,
			})
			if err != nil || resp.IsError() {
				t.Errorf("creds: %v %#v", err, resp)
				return
			}
			tokens <- token(resp)
		}()
	}
	wg.Wait()
	close(tokens)
	distinct := map[string]bool{}
	for tok := range tokens {
		distinct[tok] = true
	}
	if len(distinct) != 1 {
		t.Errorf("%d concurrent reads got %d distinct tokens, want 1", readers, len(distinct))
	}
	if got := e.emu.Stats().TokenCalls; got != 1 {
		t.Errorf("%d concurrent reads made %d token requests at salesforce, want 1", readers, got)
	}
}

func TestReuseIntervalBoundsGrants(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(map[string]interface{}{"reuse_interval": "60s"})
	e.role("app", nil)
	for i := 0; i < 5; i++ {
		e.creds("app")
		e.clock.Advance(5 * time.Second)
	}
	if got := e.emu.Stats().TokenCalls; got != 1 {
		t.Fatalf("5 reads within the reuse interval made %d grants, want 1", got)
	}
	e.clock.Advance(40 * time.Second)
	first := e.creds("app")
	if got := e.emu.Stats().TokenCalls; got != 2 {
		t.Fatalf("a read after the reuse interval made %d grants in all, want 2", got)
	}
	// Salesforce answers the second grant with the same live session.
	if len(e.emu.Stats().Sessions) != 1 || !e.active(token(first)) {
		t.Errorf("the second grant should have returned the same session")
	}
}

func TestPendingKeyPromotedWhenSalesforceRefusesCurrent(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app")

	rot := e.mustOK(logical.UpdateOperation, "config/main/rotate-key", nil)
	pendingFP := rot.Data["pending_key_fingerprint"].(string)
	// Before the admin uploads the new certificate, grants keep the old key.
	e.clock.Advance(2 * defaultReuseInterval)
	e.creds("app")
	if cur := e.mustOK(logical.ReadOperation, "config/main", nil).Data["private_key_fingerprint"]; cur == pendingFP {
		t.Fatal("the pending key was promoted before salesforce refused the current one")
	}

	// The admin replaces the app's certificate with the pending one.
	if err := e.emu.SetAppCertificate(emuClientID, rot.Data["pending_certificate"].(string)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * defaultReuseInterval)
	e.creds("app")
	got := e.mustOK(logical.ReadOperation, "config/main", nil).Data
	if got["private_key_fingerprint"] != pendingFP || got["pending_key_set"] == true {
		t.Errorf("after salesforce accepted only the pending key it should be current: %#v", got)
	}
}

func TestReuseNeverCrossesConnections(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app")

	// Same Connected App and user, but a key Salesforce does not know.
	otherKey, _, err := sfemu.TestKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	e.mustOK(logical.UpdateOperation, "config/wrongkey", map[string]interface{}{
		"login_url": e.srv.URL, "client_id": emuClientID, "private_key": otherKey,
		"ca_cert": e.caPEM, "allow_non_salesforce_host": true,
	})
	e.mustOK(logical.UpdateOperation, "roles/wrongkey", map[string]interface{}{
		"connection": "wrongkey", "username": emuUser, "scopes": "api,web,refresh_token",
	})
	resp, err := e.do(logical.ReadOperation, "creds/wrongkey", nil)
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("a connection whose key salesforce refuses was handed another connection's token: %v %#v", err, resp)
	}
	assertContains(t, errText(resp, err), "invalid assertion")
}
