package salesforce

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

const (
	// vaultCallback is the redirect URI registered on the emulated app, as
	// Vault's own callback path would be.
	vaultCallback = "https://vault.example.com/v1/salesforce/callback"
	alice         = "alice@acme.com"
)

// newFlowEnv is an org whose app accepts the web server flow at
// vaultCallback, with alice and bob, and a connection "main" to it.
func newFlowEnv(t *testing.T, mutate func(*sfemu.App)) *testEnv {
	t.Helper()
	e := newTestEnv(t, func(c *sfemu.Config) {
		a := &c.Apps[0]
		a.CallbackURLs = []string{vaultCallback, "http://localhost:1717/OauthRedirect"}
		a.Users = append(a.Users,
			sfemu.User{Username: alice, UserID: "005000000000011AAA", Approved: true, Active: true},
			sfemu.User{Username: "bob@acme.com", UserID: "005000000000012AAA", Approved: true, Active: true})
		if mutate != nil {
			mutate(a)
		}
	})
	e.connection(map[string]interface{}{"redirect_uri": vaultCallback})
	return e
}

// as is a request made by a Vault identity.
func (e *testEnv) as(entity string, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: e.storage, EntityID: entity,
	})
}

// start begins an authorization as entity and returns its authorize URL.
func (e *testEnv) start(entity, name string, data map[string]interface{}) string {
	e.t.Helper()
	in := map[string]interface{}{"connection": "main"}
	for k, v := range data {
		in[k] = v
	}
	resp, err := e.as(entity, logical.UpdateOperation, "authorizations/"+name+"/start", in)
	if err != nil || resp.IsError() {
		e.t.Fatalf("start: %v %#v", err, resp)
	}
	return resp.Data["authorize_url"].(string)
}

// consent is the person at Salesforce's page: the URL the browser lands on.
func (e *testEnv) consent(authorizeURL, user string, allow bool) string {
	e.t.Helper()
	landed, err := e.emu.Consent(authorizeURL, user, allow)
	if err != nil {
		e.t.Fatal(err)
	}
	return landed
}

func (e *testEnv) complete(entity, name, landed string) (*logical.Response, error) {
	return e.as(entity, logical.UpdateOperation, "authorizations/"+name+"/complete", map[string]interface{}{"url": landed})
}

// authorize runs a whole consent of user for authorization name.
func (e *testEnv) authorize(name, user string) *logical.Response {
	e.t.Helper()
	resp, err := e.complete("ent-1", name, e.consent(e.start("ent-1", name, nil), user, true))
	if err != nil || resp.IsError() {
		e.t.Fatalf("complete: %v %#v", err, resp)
	}
	return resp
}

func (e *testEnv) authRole(name, authz string) {
	e.t.Helper()
	e.mustOK(logical.UpdateOperation, "roles/"+name, map[string]interface{}{
		"connection": "main", "grant_type": "authorization_code", "authorization": authz,
	})
}

func (e *testEnv) refreshTokenOf(name string) string {
	e.t.Helper()
	a, err := getAuthorization(context.Background(), e.storage, name)
	if err != nil || a == nil {
		e.t.Fatalf("authorization %s: %v", name, err)
	}
	return a.RefreshToken
}

func TestAuthorizationFlowToLeases(t *testing.T) {
	e := newFlowEnv(t, nil)
	url := e.start("ent-1", "alice", map[string]interface{}{"login_hint": alice, "scopes": "api"})
	for _, want := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "scope=api+refresh_token", "login_hint=alice%40acme.com", "redirect_uri=" + urlEscape(vaultCallback)} {
		if !strings.Contains(url, want) {
			t.Errorf("authorize_url lacks %q: %s", want, url)
		}
	}
	if got := e.mustOK(logical.ReadOperation, "authorizations/alice", nil).Data["status"]; got != authPending {
		t.Errorf("status before consent = %v, want pending", got)
	}
	resp, err := e.complete("ent-1", "alice", e.consent(url, alice, true))
	if err != nil || resp.IsError() {
		t.Fatal(err, resp)
	}
	if resp.Data["status"] != authActive || resp.Data["username"] != alice {
		t.Fatalf("after consent: %v", resp.Data)
	}
	for k, v := range e.mustOK(logical.ReadOperation, "authorizations/alice", nil).Data {
		if s, ok := v.(string); ok && s == e.refreshTokenOf("alice") {
			t.Fatalf("reading the authorization shows the refresh token (%s)", k)
		}
	}

	e.authRole("rep", "alice")
	first := e.creds("rep")
	if first.Data["username"] != alice || !e.active(token(first)) {
		t.Fatalf("creds of the authorization: %v", first.Data)
	}
	// The code exchange's access token serves the first read: no refresh.
	if got := e.emu.Stats().Grants["refresh_token"]; got != 0 {
		t.Errorf("first read made %d refreshes, want 0", got)
	}
	second := e.creds("rep")
	if token(second) != token(first) {
		t.Error("a read within reuse_interval asked salesforce again")
	}
	e.clock.Advance(2 * defaultReuseInterval)
	third := e.creds("rep")
	if got := e.emu.Stats().Grants["refresh_token"]; got != 1 {
		t.Errorf("a read after reuse_interval made %d refreshes, want 1", got)
	}
	for _, l := range []*logical.Response{first, second, third} {
		if err := e.revokeLease(l); err != nil {
			t.Fatal(err)
		}
	}
	if e.active(token(third)) {
		t.Error("the access token outlived its last lease")
	}
	if !e.emu.RefreshTokenActive(e.refreshTokenOf("alice")) {
		t.Error("revoking the leases revoked the refresh token: the consent must outlive them")
	}
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// Vault's own callback completes the flow for a browser with no Vault token,
// and answers a small page, never a token.
func TestCallbackAnswersAPage(t *testing.T) {
	e := newFlowEnv(t, nil)
	landed, _ := url.Parse(e.consent(e.start("ent-1", "alice", nil), alice, true))
	q := landed.Query()
	resp := e.mustOK(logical.ReadOperation, "callback", map[string]interface{}{"code": q.Get("code"), "state": q.Get("state")})
	body := string(resp.Data[logical.HTTPRawBody].([]byte))
	if resp.Data[logical.HTTPStatusCode] != 200 || !strings.Contains(body, "Authorization complete") || !strings.Contains(body, alice) {
		t.Fatalf("callback page: %v\n%s", resp.Data[logical.HTTPStatusCode], body)
	}
	if resp.Data[logical.HTTPCacheControlHeader] != "no-store" || strings.Contains(body, "<script") || strings.Contains(body, "src=") {
		t.Fatalf("the page must be self-contained and never cached:\n%s", body)
	}
	if strings.Contains(body, e.refreshTokenOf("alice")) || resp.Secret != nil {
		t.Fatal("the callback answered a token")
	}
	// The same answer again: the state was used.
	resp = e.mustOK(logical.ReadOperation, "callback", map[string]interface{}{"code": q.Get("code"), "state": q.Get("state")})
	if resp.Data[logical.HTTPStatusCode] != 400 || !strings.Contains(string(resp.Data[logical.HTTPRawBody].([]byte)), "used or expired state") {
		t.Fatalf("a replayed callback: %v %s", resp.Data[logical.HTTPStatusCode], resp.Data[logical.HTTPRawBody])
	}
}

func TestAuthorizationRefusals(t *testing.T) {
	t.Run("the person denies", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		resp, err := e.complete("ent-1", "alice", e.consent(e.start("ent-1", "alice", nil), alice, false))
		if err != nil || !resp.IsError() {
			t.Fatalf("want a 400, got %v %#v", err, resp)
		}
		assertContains(t, errText(resp, err), "authorization failed: access_denied", "(hint: start the authorization again and allow access)")
	})
	t.Run("the person denies, spelled as Salesforce's help spells it", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		landed, _ := url.Parse(e.consent(e.start("ent-1", "alice", nil), alice, false))
		resp := e.mustOK(logical.ReadOperation, "callback", map[string]interface{}{
			"error": "access-denied", "error_description": "end-user denied authorization", "state": landed.Query().Get("state"),
		})
		if body := string(resp.Data[logical.HTTPRawBody].([]byte)); resp.Data[logical.HTTPStatusCode] != 400 || !strings.Contains(body, "authorization failed: access_denied") {
			t.Fatalf("callback with access-denied: %v\n%s", resp.Data[logical.HTTPStatusCode], body)
		}
	})
	t.Run("a replayed state is refused and the code never redeemed", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		landed := e.consent(e.start("ent-1", "alice", nil), alice, true)
		if resp, err := e.complete("ent-1", "alice", landed); err != nil || resp.IsError() {
			t.Fatal(err, resp)
		}
		calls := e.emu.Stats().TokenCalls
		resp, err := e.complete("ent-1", "alice", landed)
		assertContains(t, errText(resp, err), "unknown, used or expired state")
		if e.emu.Stats().TokenCalls != calls {
			t.Error("a replayed state redeemed its code")
		}
	})
	t.Run("an expired flow", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		landed := e.consent(e.start("ent-1", "alice", nil), alice, true)
		e.clock.Advance(flowTTL + time.Second)
		resp, err := e.complete("ent-1", "alice", landed)
		assertContains(t, errText(resp, err), "unknown, used or expired state")
	})
	t.Run("another identity may not complete it", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		landed := e.consent(e.start("ent-1", "alice", nil), alice, true)
		resp, err := e.complete("ent-2", "alice", landed)
		if !errors.Is(err, logical.ErrPermissionDenied) {
			t.Fatalf("want a 403, got %v %#v", err, resp)
		}
		if resp, err := e.complete("ent-1", "alice", landed); err != nil || resp.IsError() {
			t.Fatalf("a refused completion by another identity consumed the flow: %v %#v", err, resp)
		}
	})
	t.Run("the wrong person consents", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		landed := e.consent(e.start("ent-1", "alice", map[string]interface{}{"bound_username": alice}), "bob@acme.com", true)
		resp, err := e.complete("ent-1", "alice", landed)
		assertContains(t, errText(resp, err), `"bob@acme.com" consented`, "revoked")
		for _, a := range e.emu.Stats().Authorizations {
			if a.Username == "bob@acme.com" && a.Active {
				t.Fatal("the refresh token of the wrong person's consent is still alive")
			}
		}
	})
	t.Run("a code redeemed with another flow's verifier", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		first := e.consent(e.start("ent-1", "alice", nil), alice, true)
		e.start("ent-1", "alice", nil) // a second flow, whose state we swap in
		other := e.start("ent-1", "alice", nil)
		u, _ := url.Parse(first)
		o, _ := url.Parse(other)
		resp, err := e.as("ent-1", logical.UpdateOperation, "authorizations/alice/complete", map[string]interface{}{
			"code": u.Query().Get("code"), "state": o.Query().Get("state"),
		})
		if err != nil || !resp.IsError() {
			t.Fatalf("a PKCE mismatch must be a 400, got %v %#v", err, resp)
		}
		assertContains(t, errText(resp, err), "code verifier")
	})
	t.Run("a connection without redirect_uri cannot start", func(t *testing.T) {
		e := newFlowEnv(t, nil)
		e.connection(map[string]interface{}{"redirect_uri": ""})
		resp, err := e.as("ent-1", logical.UpdateOperation, "authorizations/alice/start", map[string]interface{}{"connection": "main"})
		assertContains(t, errText(resp, err), "redirect_uri")
	})
}

// A rotated refresh token is stored before its access token is handed out,
// and the one it replaced is dead.
func TestRefreshTokenRotation(t *testing.T) {
	e := newFlowEnv(t, func(a *sfemu.App) { a.RefreshTokenRotation = true })
	e.authorize("alice", alice)
	e.authRole("rep", "alice")
	before := e.refreshTokenOf("alice")
	e.creds("rep")
	e.clock.Advance(2 * defaultReuseInterval)
	e.creds("rep")
	after := e.refreshTokenOf("alice")
	if after == before || !e.emu.RefreshTokenActive(after) || e.emu.RefreshTokenActive(before) {
		t.Fatal("the rotated refresh token was not stored in place of the old one")
	}
	e.clock.Advance(2 * defaultReuseInterval)
	e.creds("rep") // the stored token works
}

// A refresh whose answer is lost on an app that rotates refresh tokens is
// never retried with the possibly dead token; on one that does not rotate,
// the next read simply tries again.
func TestLostRefreshAnswer(t *testing.T) {
	for _, rotating := range []bool{false, true} {
		e := newFlowEnv(t, func(a *sfemu.App) { a.RefreshTokenRotation = rotating })
		e.authorize("alice", alice)
		e.authRole("rep", "alice")
		e.creds("rep")
		e.clock.Advance(2 * defaultReuseInterval)
		if rotating {
			e.clock.Advance(2 * defaultReuseInterval)
			e.creds("rep") // one successful rotation teaches the engine the app rotates
			e.clock.Advance(2 * defaultReuseInterval)
		}
		e.emu.SetFaults(sfemu.Faults{TokenFailureRate: 1, Status: 503, Seed: 1})
		_, err := e.do(logical.ReadOperation, "creds/rep", nil)
		if coded, ok := err.(logical.HTTPCodedError); !ok || coded.Code() != 502 {
			t.Fatalf("rotating=%v: a failing salesforce is a 502, got %v", rotating, err)
		}
		e.emu.SetFaults(sfemu.Faults{})
		status := e.mustOK(logical.ReadOperation, "authorizations/alice", nil).Data["status"]
		if rotating && status != authReauthRequired {
			t.Errorf("rotating: status %v, want reauth_required", status)
		}
		if !rotating {
			if status != authActive {
				t.Errorf("not rotating: status %v, want active", status)
			}
			e.creds("rep")
		}
	}
}

// A refresh token Salesforce no longer accepts ends the consent until the
// person authorizes again; doing so revokes nothing the new one needs.
func TestReauthorization(t *testing.T) {
	e := newFlowEnv(t, nil)
	e.authorize("alice", alice)
	e.authRole("rep", "alice")
	e.creds("rep")
	e.emu.ExpireRefreshTokens()
	e.clock.Advance(2 * defaultReuseInterval)
	resp, err := e.do(logical.ReadOperation, "creds/rep", nil)
	assertContains(t, errText(resp, err), "expired access/refresh token", "authorizations/alice/start")
	if got := e.mustOK(logical.ReadOperation, "authorizations/alice", nil).Data["status"]; got != authReauthRequired {
		t.Fatalf("status %v, want reauth_required", got)
	}
	calls := e.emu.Stats().TokenCalls
	if resp, err := e.do(logical.ReadOperation, "creds/rep", nil); err != nil || !resp.IsError() || e.emu.Stats().TokenCalls != calls {
		t.Fatalf("a read of an expired consent asked salesforce again: %v %#v", err, resp)
	}

	e.authorize("alice", alice)
	old := e.refreshTokenOf("alice")
	e.authorize("alice", alice) // again: the previous refresh token is revoked
	if e.emu.RefreshTokenActive(old) || !e.emu.RefreshTokenActive(e.refreshTokenOf("alice")) {
		t.Fatal("re-authorizing must revoke the previous refresh token and keep the new one")
	}
	e.creds("rep")
}

// Deleting an authorization revokes its refresh token, which ends every
// access token issued from it; its roles refuse at once.
func TestDeleteAuthorization(t *testing.T) {
	e := newFlowEnv(t, nil)
	e.authorize("alice", alice)
	e.authRole("rep", "alice")
	lease := e.creds("rep")
	rt := e.refreshTokenOf("alice")
	e.mustOK(logical.DeleteOperation, "authorizations/alice", nil)
	if e.emu.RefreshTokenActive(rt) || e.active(token(lease)) {
		t.Fatal("delete left the refresh token or its access token alive")
	}
	resp, err := e.do(logical.ReadOperation, "creds/rep", nil)
	assertContains(t, errText(resp, err), `authorization "alice"`, "does not exist")
	if err := e.revokeLease(lease); err != nil {
		t.Fatalf("the lease's revocation after delete: %v", err)
	}
}

func TestDeleteAuthorizationWhileSalesforceIsDown(t *testing.T) {
	e := newFlowEnv(t, nil)
	e.authorize("alice", alice)
	e.authRole("rep", "alice")
	rt := e.refreshTokenOf("alice")
	e.emu.SetFaults(sfemu.Faults{RevokeFailureRate: 1, Status: 503, Seed: 1})
	resp := e.mustOK(logical.DeleteOperation, "authorizations/alice", nil)
	if resp == nil || len(resp.Warnings) == 0 {
		t.Fatal("a delete salesforce did not confirm must say so")
	}
	if got := e.mustOK(logical.ReadOperation, "authorizations/alice", nil).Data["status"]; got != authRevoking {
		t.Fatalf("status %v, want revoking", got)
	}
	resp, err := e.do(logical.ReadOperation, "creds/rep", nil)
	assertContains(t, errText(resp, err), "was deleted")
	e.emu.SetFaults(sfemu.Faults{})
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if e.emu.RefreshTokenActive(rt) {
		t.Fatal("the sweep did not finish the revocation")
	}
	if r, _ := e.do(logical.ReadOperation, "authorizations/alice", nil); r != nil {
		t.Fatalf("the authorization is still there: %#v", r)
	}
}

// Flows survive a restart, and those nobody finished are swept.
func TestFlowsSurviveRestartAndExpire(t *testing.T) {
	e := newFlowEnv(t, nil)
	landed := e.consent(e.start("ent-1", "alice", nil), alice, true)
	e.restart()
	if resp, err := e.complete("ent-1", "alice", landed); err != nil || resp.IsError() {
		t.Fatalf("after a restart the flow could not complete: %v %#v", err, resp)
	}
	e.start("ent-1", "bob", nil)
	e.clock.Advance(flowTTL + time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if keys, _ := e.storage.List(context.Background(), flowStoragePrefix); len(keys) != 0 {
		t.Fatalf("expired flows left: %v", keys)
	}
}

func TestAuthorizationCodeRoleValidation(t *testing.T) {
	e := newFlowEnv(t, nil)
	for _, tc := range []struct {
		data map[string]interface{}
		want string
	}{
		{map[string]interface{}{"grant_type": "authorization_code"}, "authorization"},
		{map[string]interface{}{"grant_type": "authorization_code", "authorization": "alice", "username": alice}, `"username" must be empty`},
		{map[string]interface{}{"grant_type": "jwt_bearer", "username": alice, "authorization": "alice"}, "applies only"},
	} {
		tc.data["connection"] = "main"
		resp, err := e.do(logical.UpdateOperation, "roles/x", tc.data)
		assertContains(t, errText(resp, err), tc.want)
	}
	for _, bad := range []string{"http://vault.example.com/cb", "https://vault.example.com/cb#frag", "not a url"} {
		resp, err := e.do(logical.UpdateOperation, "config/main", map[string]interface{}{"redirect_uri": bad})
		assertContains(t, errText(resp, err), "redirect_uri")
	}
	e.mustOK(logical.UpdateOperation, "config/main", map[string]interface{}{"redirect_uri": "http://localhost:1717/OauthRedirect"})
}
