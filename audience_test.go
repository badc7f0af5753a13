package salesforce

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// documentedOrg makes the emulator an org as Salesforce documents the JWT
// flow: it takes login and test as aud, and not its own URL, so a grant
// that sends the login URL first is refused once.
func documentedOrg(cfg *sfemu.Config) {
	no := false
	cfg.AcceptOwnURL = &no
	cfg.Audiences = []string{productionAudience, sandboxAudience}
}

func TestAudienceCandidates(t *testing.T) {
	const app = "3MVG9app"
	conn := func(loginURL, audience string) *connection {
		return &connection{Name: "c", LoginURL: loginURL, ClientID: app, Audience: audience}
	}
	kept := func(aud, loginURL, clientID string) *acceptedAudience {
		return &acceptedAudience{Audience: aud, LoginURL: loginURL, ClientID: clientID}
	}
	rows := []struct {
		name     string
		conn     *connection
		accepted *acceptedAudience
		want     []string
	}{
		{"production login host", conn("https://login.salesforce.com", ""), nil, []string{productionAudience}},
		{"test host", conn("https://test.salesforce.com", ""), nil, []string{sandboxAudience}},
		{"production My Domain", conn("https://acme.my.salesforce.com", ""), nil,
			[]string{"https://acme.my.salesforce.com", productionAudience}},
		{"sandbox My Domain", conn("https://acme--uat.sandbox.my.salesforce.com", ""), nil,
			[]string{"https://acme--uat.sandbox.my.salesforce.com", sandboxAudience}},
		{"loopback emulator is otherwise", conn("https://127.0.0.1:8443", ""), nil,
			[]string{"https://127.0.0.1:8443", productionAudience}},
		{"accepted goes first", conn("https://acme.my.salesforce.com", ""),
			kept(productionAudience, "https://acme.my.salesforce.com", app),
			[]string{productionAudience, "https://acme.my.salesforce.com"}},
		{"accepted for another login_url is ignored", conn("https://acme.my.salesforce.com", ""),
			kept(sandboxAudience, "https://old.my.salesforce.com", app),
			[]string{"https://acme.my.salesforce.com", productionAudience}},
		{"accepted for another app is ignored", conn("https://acme.my.salesforce.com", ""),
			kept(sandboxAudience, "https://acme.my.salesforce.com", "3MVG9other"),
			[]string{"https://acme.my.salesforce.com", productionAudience}},
		{"explicit audience alone", conn("https://acme.my.salesforce.com", "https://login.salesforce.com"),
			kept(sandboxAudience, "https://acme.my.salesforce.com", app), []string{productionAudience}},
	}
	for _, row := range rows {
		if got := audienceCandidates(row.conn, row.accepted); !slices.Equal(got, row.want) {
			t.Errorf("%s: candidates = %q, want %q", row.name, got, row.want)
		}
	}
}

func TestIsSandboxHost(t *testing.T) {
	sandbox := []string{
		"test.salesforce.com", "TEST.salesforce.com",
		"acme--uat.sandbox.my.salesforce.com",
		"acme--uat.my.salesforce.com",
		"cs42.salesforce.com",
		"acme--uat.cs42.my.salesforce.com",
		"acme.cs8.my.salesforce.com",
	}
	production := []string{
		"login.salesforce.com", "acme.my.salesforce.com", "cs42.my.salesforce.com",
		"acme.my.site.com", "acme--uat.my.site.com", "csx.salesforce.com", "cs.salesforce.com",
		"127.0.0.1", "localhost", "test.salesforce.com.evil.example", "acme.sandbox.my.salesforce.com.example",
		"eu12.salesforce.com",
	}
	for _, h := range sandbox {
		if !isSandboxHost(h) {
			t.Errorf("%s: not taken for a sandbox", h)
		}
	}
	for _, h := range production {
		if isSandboxHost(h) {
			t.Errorf("%s: taken for a sandbox", h)
		}
	}
}

func TestIsAudienceRefusal(t *testing.T) {
	rows := []struct {
		code, desc string
		want       bool
	}{
		{"invalid_grant", "audience is invalid", true},
		{"invalid_grant", "Audience validation failed", true},
		{"INVALID_GRANT", "AUDIENCE VALIDATION FAILED", true},
		{"invalid_grant", "invalid assertion", false},
		{"invalid_grant", "user hasn't approved this consumer", false},
		{"invalid_request", "audience is invalid", false},
	}
	for _, row := range rows {
		err := error(&salesforceError{StatusCode: 400, Code: row.code, Description: row.desc})
		if got := isAudienceRefusal(err); got != row.want {
			t.Errorf("%s / %s: %v, want %v", row.code, row.desc, got, row.want)
		}
	}
	if isAudienceRefusal(errors.New("audience is invalid")) {
		t.Error("an error that is not Salesforce's refusal was taken for one")
	}
}

// TestGrantJWTTriesAudiencesInTurn: the client moves to the next audience
// on an audience refusal only, and says which one was accepted.
func TestGrantJWTTriesAudiencesInTurn(t *testing.T) {
	const first, second = "https://acme.my.salesforce.com", productionAudience
	refuse := func(desc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			aud := audClaim(t, readForm(t, r).Get("assertion"))
			if aud == first {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": desc})
				return
			}
			writeJSON(w, http.StatusOK, tokenAnswer())
		}
	}
	for _, desc := range []string{"audience is invalid", "Audience validation failed"} {
		f := newFakeSF(t, refuse(desc))
		tok, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername, first, second)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		if tok.Audience != second || f.hits.Load() != 2 {
			t.Errorf("%s: accepted %q after %d calls, want %q after 2", desc, tok.Audience, f.hits.Load(), second)
		}
	}
	f := newFakeSF(t, refuse("user hasn't approved this consumer"))
	_, err := f.client(t, nil).GrantJWT(context.Background(), rsaKey(t), testUsername, first, second)
	if err == nil || f.hits.Load() != 1 {
		t.Errorf("another refusal moved to the next audience: err=%v after %d calls", err, f.hits.Load())
	}
}

func audClaim(t *testing.T, jws string) string {
	t.Helper()
	var aud string
	if raw, ok := decodeClaims(t, jws)["aud"]; ok {
		aud = strings.Trim(string(raw), `"`)
	}
	return aud
}

func acceptedAud(e *testEnv) string {
	e.t.Helper()
	resp := e.mustOK(logical.ReadOperation, "config/main", nil)
	return resp.Data["accepted_audience"].(string)
}

func tokenCalls(e *testEnv) (calls, refusals int) {
	st := e.emu.Stats()
	return st.TokenCalls, st.Errors["invalid_grant"]
}

// TestAudienceFallsBackAndIsKept is the default rule against an org as
// Salesforce documents it: the login URL (the emulator's own) is refused,
// login.salesforce.com accepted and kept, and sent first from then on.
func TestAudienceFallsBackAndIsKept(t *testing.T) {
	e := newTestEnv(t, documentedOrg)
	e.connection(map[string]interface{}{"reuse_interval": 0})
	e.role("app", nil)
	if got := acceptedAud(e); got != "" {
		t.Fatalf("accepted_audience = %q before any grant", got)
	}

	e.creds("app")
	if calls, refusals := tokenCalls(e); calls != 2 || refusals != 1 {
		t.Fatalf("first grant: %d token calls, %d refused; want 2 and 1", calls, refusals)
	}
	if got := acceptedAud(e); got != productionAudience {
		t.Fatalf("accepted_audience = %q, want %q", got, productionAudience)
	}
	resp := e.mustOK(logical.ReadOperation, "config/main", nil)
	if resp.Data["audience"] != e.srv.URL {
		t.Errorf("audience = %v, want the login URL %s: no explicit audience is set", resp.Data["audience"], e.srv.URL)
	}

	e.creds("app")
	if calls, refusals := tokenCalls(e); calls != 3 || refusals != 1 {
		t.Errorf("later grant: %d token calls, %d refused; want 3 and 1 (the kept audience sent first)", calls, refusals)
	}
}

func TestAudienceKeptAcrossRestart(t *testing.T) {
	e := newTestEnv(t, documentedOrg)
	e.connection(map[string]interface{}{"reuse_interval": 0})
	e.role("app", nil)
	e.creds("app")

	// A new backend on the same storage: a restart, or another node
	// after a failover.
	conf := logical.TestBackendConfig()
	conf.StorageView = e.storage
	conf.Logger = hclog.NewNullLogger()
	conf.System = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	restarted := raw.(*backend)
	t.Cleanup(func() { restarted.Cleanup(context.Background()) })
	before, refusedBefore := tokenCalls(e)
	resp, err := restarted.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.ReadOperation, Path: "creds/app", Storage: e.storage,
	})
	if err != nil || resp == nil || resp.IsError() {
		t.Fatalf("creds after restart: err=%v resp=%v", err, resp)
	}
	if calls, refusals := tokenCalls(e); calls != before+1 || refusals != refusedBefore {
		t.Errorf("after restart: %d token calls (%d refused), want %d (%d refused)", calls, refusals, before+1, refusedBefore)
	}
}

func TestExplicitAudienceNeverFallsBack(t *testing.T) {
	e := newTestEnv(t, documentedOrg)
	e.connection(map[string]interface{}{"audience": "https://acme.my.salesforce.com"})
	e.role("app", nil)
	resp, err := e.do(logical.ReadOperation, "creds/app", nil)
	assertContains(t, errText(resp, err), "audience is invalid")
	if calls, _ := tokenCalls(e); calls != 1 {
		t.Errorf("%d token calls, want 1: an explicit audience has no fallback", calls)
	}
	read := e.mustOK(logical.ReadOperation, "config/main", nil)
	if read.Data["audience"] != "https://acme.my.salesforce.com" || read.Data["accepted_audience"] != "" {
		t.Errorf("audience = %v, accepted_audience = %v", read.Data["audience"], read.Data["accepted_audience"])
	}
}

// TestSandboxHostPicksTest points a sandbox My Domain at the emulator (the
// client dials the emulator whatever the host) and expects test as the
// audience Salesforce accepts after the My Domain is refused.
func TestSandboxHostPicksTest(t *testing.T) {
	e := newTestEnv(t, documentedOrg)
	e.connection(map[string]interface{}{"login_url": "https://acme--uat.sandbox.my.salesforce.com", "reuse_interval": 0})
	e.role("app", nil)
	conn, err := getConnection(context.Background(), e.storage, "main")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := e.b.client(conn)
	if err != nil {
		t.Fatal(err)
	}
	emuAddr := e.srv.Listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	cl.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, emuAddr)
	}
	cl.transport.TLSClientConfig.ServerName = "127.0.0.1"

	e.creds("app")
	if got := acceptedAud(e); got != sandboxAudience {
		t.Errorf("accepted_audience = %q, want %q", got, sandboxAudience)
	}
	if calls, refusals := tokenCalls(e); calls != 2 || refusals != 1 {
		t.Errorf("%d token calls, %d refused; want 2 and 1", calls, refusals)
	}
}

func TestAcceptedAudienceGoesWithTheConnection(t *testing.T) {
	e := newTestEnv(t, documentedOrg)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app")
	if acceptedAud(e) == "" {
		t.Fatal("no accepted audience after a grant")
	}
	e.mustOK(logical.DeleteOperation, "roles/app", nil)
	e.mustOK(logical.DeleteOperation, "config/main", nil)
	if entry, err := e.storage.Get(context.Background(), audienceStoragePrefix+"main"); err != nil || entry != nil {
		t.Errorf("the accepted audience outlived its connection: %v %v", entry, err)
	}
}
