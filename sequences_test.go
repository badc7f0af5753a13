package salesforce

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// The sequences of issue 10 ("the token promise, in every sequence"), each
// as it broke.

// A role written without scopes has no ceiling: it reads tokens, and its
// write says so.
func TestRoleWithoutScopesHasNoCeiling(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	resp := e.mustOK(logical.UpdateOperation, "roles/open", map[string]interface{}{"connection": "main", "username": emuUser})
	if resp == nil || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "scopes") {
		t.Fatalf("a role without scopes must warn that it has no ceiling: %#v", resp)
	}
	if got := e.creds("open").Data["scope"]; got != "api web refresh_token" {
		t.Fatalf("scope = %v", got)
	}
}

// A client_credentials role and a jwt_bearer role for the app's Run As user
// get the same Salesforce session; break glass on either ends it for both.
func TestClientCredentialsAndJWTShareTheRunAsSession(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.mustOK(logical.UpdateOperation, "roles/cc", map[string]interface{}{"connection": "main", "grant_type": "client_credentials"})
	e.mustOK(logical.UpdateOperation, "roles/jwt", map[string]interface{}{"connection": "main", "username": emuRunAs})
	cc, jwt := e.creds("cc"), e.creds("jwt")
	if token(cc) != token(jwt) {
		t.Fatal("salesforce shares one session between the flows for one user; the emulator must too")
	}
	list := e.mustOK(logical.ListOperation, "sessions/", nil)
	if keys := list.Data["keys"].([]string); len(keys) != 1 {
		t.Fatalf("one salesforce session must be one ledger session, got %v", keys)
	}
	resp := e.mustOK(logical.UpdateOperation, "revoke/jwt", nil)
	if resp.Data["revoked_tokens"] != 1 || resp.Data["released_leases"] != 2 {
		t.Fatalf("break glass on the jwt role answered %v, want 1 token and 2 leases", resp.Data)
	}
	if e.active(token(cc)) {
		t.Fatal("break glass on the jwt role left the shared session alive")
	}
}

// A sandbox copy of a Connected App has the same consumer key in another
// org: its sessions are others, and break glass on it leaves production's.
func TestSandboxCopyIsAnotherSession(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("prod", nil)
	sandbox := e.otherOrg("00D5g000009SbXaEAK")
	e.mustOK(logical.UpdateOperation, "config/sandbox", map[string]interface{}{
		"login_url": sandbox.srv.URL, "client_id": emuClientID, "private_key": e.keyPEM,
		"ca_cert": sandbox.caPEM, "allow_non_salesforce_host": true,
	})
	e.mustOK(logical.UpdateOperation, "roles/sandbox", map[string]interface{}{"connection": "sandbox", "username": emuUser})
	prod, sb := e.creds("prod"), e.creds("sandbox")
	resp := e.mustOK(logical.UpdateOperation, "revoke/sandbox", nil)
	if resp.Data["revoked_tokens"] != 1 || resp.Data["released_leases"] != 1 {
		t.Fatalf("break glass on the sandbox role answered %v", resp.Data)
	}
	if sandbox.emu.TokenActive(token(sb)) {
		t.Fatal("break glass left the sandbox session alive")
	}
	if !e.active(token(prod)) {
		t.Fatal("break glass on the sandbox copy killed the production session")
	}
}

// 1 and 2: a read that took a connection before an admin rewrote it
// finishes with the old settings, but neither its client nor its grant is
// used by the reads after the write.
func TestStaleReadDuringConnectionRewrite(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	moved := e.otherOrg("00D5g000007MvDaEAK")

	reached, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hs := &hookStorage{Storage: e.storage, afterGet: func(_ context.Context, key string) {
		if key == configStoragePrefix+"main" {
			once.Do(func() { close(reached); <-resume })
		}
	}}
	stale := make(chan *logical.Response, 1)
	go func() {
		resp, err := e.readWith(context.Background(), hs, "app")
		if err != nil || resp.IsError() {
			t.Errorf("the read in flight during the rewrite: %v %#v", err, resp)
		}
		stale <- resp
	}()
	<-reached
	e.connection(map[string]interface{}{"login_url": moved.srv.URL, "ca_cert": moved.caPEM})
	close(resume)
	old := <-stale
	if old == nil {
		t.FailNow()
	}

	after := e.creds("app")
	if !moved.emu.TokenActive(token(after)) || token(after) == token(old) {
		t.Fatal("a read after the rewrite was answered through the old settings or with the old grant")
	}
	if got := moved.emu.Stats().TokenCalls; got != 1 {
		t.Fatalf("the rewritten connection's org saw %d grants, want 1", got)
	}
	if got := e.emu.Stats().TokenCalls; got != 1 {
		t.Fatalf("the old org saw %d grants, want only the stale read's", got)
	}
}

// 3: the holder's expiry runs from when the lease starts, not from when a
// slow read started.
func TestSlowReadHolderOutlivesNoLease(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "1m", "max_ttl": "1h"})
	// Salesforce retries, a wait on a lock: 50 seconds pass inside the read.
	hs := &hookStorage{Storage: e.storage, afterPut: func(_ context.Context, key string) error {
		if strings.HasPrefix(key, framework.WALPrefix) {
			e.clock.Advance(50 * time.Second)
		}
		return nil
	}}
	resp, err := e.readWith(context.Background(), hs, "app")
	if err != nil || resp.IsError() {
		t.Fatal(err, resp)
	}
	// Vault's lease clock starts now; just before it ends plus the grace,
	// the sweep must leave the token.
	e.clock.Advance(time.Minute + sweepGrace - time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(resp)) {
		t.Fatal("the sweep revoked the token of a lease that still has time")
	}
}

// 4: a failed system-view call never becomes a lease TTL of zero.
func TestFailedSystemViewNeverMakesAZeroTTL(t *testing.T) {
	e := newTestEnv(t, nil)
	sys := &stubSystemView{StaticSystemView: logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}}
	cached := newCachedSystemView(sys).(*cachedSystemView)
	now := time.Now()
	cached.now = func() time.Time { return now }
	e.b.Setup(context.Background(), &logical.BackendConfig{System: cached, Logger: e.b.Logger(), StorageView: e.storage})
	e.connection(nil)
	e.role("app", nil)
	if got := e.creds("app").Secret.TTL; got != time.Hour {
		t.Fatalf("ttl = %s, want the mount default 1h", got)
	}
	sys.failing.Store(true)
	now = now.Add(2 * sysViewRefresh)
	if got := e.creds("app").Secret.TTL; got != time.Hour {
		t.Fatalf("after vault failed to answer, ttl = %s; the last good answer is 1h", got)
	}

	fresh := newCachedSystemView(sys)
	e.b.Setup(context.Background(), &logical.BackendConfig{System: fresh, Logger: e.b.Logger(), StorageView: e.storage})
	resp, err := e.do(logical.ReadOperation, "creds/app", nil)
	coded, ok := err.(logical.HTTPCodedError)
	if !ok || coded.Code() != 503 || resp != nil {
		t.Fatalf("with no good answer ever, the read must fail with a 503, got %v %#v", err, resp)
	}
}

// 5: the endpoint's CA is re-issued and the admin updates ca_cert: the last
// holder's revocation goes through the connection as it is now. Until
// then the failing revocation is shown to the operator and blocks nothing.
func TestRevocationAfterCAReissue(t *testing.T) {
	e := newTestEnv(t, nil)
	sw := serveSwitchableTLS(t, e.emu)
	e.emu.SetBaseURL(sw.URL)
	oldCA := sw.issue(t, "old")
	e.connection(map[string]interface{}{"login_url": sw.URL, "ca_cert": oldCA})
	e.role("app", nil)
	lease := e.creds("app")

	sw.issue(t, "new") // the endpoint now shows a certificate of a new CA...
	e.b.clients.drop() // ...to connections made from now on
	if err := e.revokeLease(lease); err == nil {
		t.Fatal("a revocation over an untrusted certificate cannot succeed")
	}
	list := e.mustOK(logical.ListOperation, "sessions/", nil)
	id := list.Data["keys"].([]string)[0]
	s := e.mustOK(logical.ReadOperation, "sessions/"+id, nil).Data
	if s["failed_revocations"] != 1 || !strings.Contains(s["last_error"].(string), "certificate") {
		t.Fatalf("the failing revocation is not shown to the operator: %v", s)
	}
	if strings.Contains(s["last_error"].(string), token(lease)) {
		t.Fatal("the session view shows the token")
	}

	newCA := sw.issue(t, "new2")
	e.connection(map[string]interface{}{"login_url": sw.URL, "ca_cert": newCA})
	if err := e.revokeLease(lease); err != nil {
		t.Fatalf("after ca_cert was updated the revocation still fails: %v", err)
	}
	if e.active(token(lease)) {
		t.Fatal("the token outlived its last lease")
	}
}

// 6: break glass finds the role's tokens by the ledger's record of each
// lease's role: after the connection's client_id changed, and after the
// role was deleted.
func TestBreakGlassAfterClientIDChangeAndRoleDelete(t *testing.T) {
	_, certPEM := sharedTestKeys(t)
	e := newTestEnv(t, func(c *sfemu.Config) {
		second := c.Apps[0]
		second.ClientID = "3MVG9secondConsumerKey"
		second.CertificatePEM = certPEM
		c.Apps = append(c.Apps, second)
	})
	e.connection(nil)
	e.role("app", nil)
	first := e.creds("app")
	e.connection(map[string]interface{}{"client_id": "3MVG9secondConsumerKey"})
	resp := e.mustOK(logical.UpdateOperation, "revoke/app", nil)
	if resp.Data["revoked_tokens"] != 1 || e.active(token(first)) {
		t.Fatalf("break glass after a client_id change answered %v and left the token alive=%v", resp.Data, e.active(token(first)))
	}

	second := e.creds("app")
	e.mustOK(logical.DeleteOperation, "roles/app", nil)
	resp = e.mustOK(logical.UpdateOperation, "revoke/app", nil)
	if resp.Data["revoked_tokens"] != 1 || e.active(token(second)) {
		t.Fatalf("break glass after the role was deleted answered %v", resp.Data)
	}
	if resp, err := e.do(logical.UpdateOperation, "revoke/app", nil); err != nil || !resp.IsError() {
		t.Fatalf("break glass on a deleted role with nothing left must say so: %v %#v", err, resp)
	}
}

// 7a: the answer could not be recorded after Salesforce granted: the WAL
// entry stays, and rollback ends the session no lease holds.
func TestRollbackEndsAGrantThatCouldNotBeRecorded(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	failing := &failingStorage{Storage: e.storage, prefix: ledger.TokenPrefix}
	if resp, err := e.readWith(context.Background(), failing, "app"); err == nil && !resp.IsError() {
		t.Fatal("the read succeeded though its token could not be recorded")
	}
	live := liveSessions(e.emu)
	if len(live) != 1 {
		t.Fatalf("want the one unrecorded live session before rollback, got %d", len(live))
	}
	rollbackAll(t, e)
	if len(liveSessions(e.emu)) != 0 {
		t.Fatal("rollback left the unrecorded session alive")
	}
}

// 7b: the read's context ends while Salesforce answers: nobody heard the
// answer, rollback ends the session. The cleanup runs on its own context.
func TestRollbackEndsAGrantWhoseAnswerWasLost(t *testing.T) {
	e := newTestEnv(t, nil)
	lost := &answerLost{h: e.emu, seen: make(chan struct{})}
	srv := httptest.NewTLSServer(lost)
	t.Cleanup(srv.Close)
	e.emu.SetBaseURL(srv.URL)
	e.connection(map[string]interface{}{"login_url": srv.URL, "ca_cert": pemOf(srv)})
	e.role("app", nil)
	lost.armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-lost.seen; cancel() }()
	if resp, err := e.readWith(ctx, e.storage, "app"); err == nil && !resp.IsError() {
		t.Fatal("the read succeeded though its answer was lost")
	}
	lost.armed.Store(false)
	if len(liveSessions(e.emu)) != 1 {
		t.Fatal("salesforce should have granted the session the plugin never heard of")
	}
	rollbackAll(t, e)
	if len(liveSessions(e.emu)) != 0 {
		t.Fatal("rollback left the session of the lost answer alive")
	}
}

// Many failed grants of one user leave one WAL entry, so that rollback
// spends one login, not one per failed read.
func TestFailedGrantsShareOneWALEntry(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.emu.SetFaults(sfemu.Faults{TokenFailureRate: 1, Status: 503, Seed: 1})
	for i := 0; i < 3; i++ {
		if _, err := e.do(logical.ReadOperation, "creds/app", nil); err == nil {
			t.Fatal("the read succeeded against a failing salesforce")
		}
	}
	if ids, _ := framework.ListWAL(context.Background(), e.storage); len(ids) != 1 {
		t.Fatalf("3 failed grants left %d WAL entries, want 1", len(ids))
	}
	e.emu.SetFaults(sfemu.Faults{})
	e.creds("app")
	if ids, _ := framework.ListWAL(context.Background(), e.storage); len(ids) != 0 {
		t.Fatalf("a recorded grant left %d WAL entries: it settles the earlier ones", len(ids))
	}
}

// A successful read leaves no WAL entry behind.
func TestSuccessfulReadLeavesNoWAL(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app")
	if ids, _ := framework.ListWAL(context.Background(), e.storage); len(ids) != 0 {
		t.Fatalf("a successful read left %d WAL entries", len(ids))
	}
}

// 10: Vault gave up on the request after its holder was written: the
// answer never becomes a lease, so the holder goes and the token with it.
func TestLostAnswerDoesNotKeepTheToken(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	ctx, cancel := context.WithCancel(context.Background())
	hs := &hookStorage{Storage: e.storage, afterPut: func(_ context.Context, key string) error {
		if strings.HasPrefix(key, ledger.HolderPrefix) {
			cancel() // Vault's request deadline passes just now
		}
		return nil
	}}
	if resp, err := e.readWith(ctx, hs, "app"); err == nil && !resp.IsError() {
		t.Fatal("a read whose context ended answered a lease")
	}
	if len(liveSessions(e.emu)) != 0 {
		t.Fatal("the token of an answer Vault never received is still alive")
	}
	if keys := e.mustOK(logical.ListOperation, "sessions/", nil).Data["keys"]; keys != nil && len(keys.([]string)) != 0 {
		t.Fatalf("the ledger still holds %v", keys)
	}
}

// Renewing a lease whose token break glass ended fails and says why.
func TestRenewAfterBreakGlassFails(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	lease := e.creds("app")
	e.mustOK(logical.UpdateOperation, "revoke/app", nil)
	resp, err := e.lease(logical.RenewOperation, lease)
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("renewing a broken lease: err=%v resp=%#v", err, resp)
	}
	assertContains(t, errText(resp, err), "already revoked")
}

// A token whose break-glass revocation failed is never handed to a new
// lease, even when Salesforce answers a grant with it.
func TestBrokenTokenNeverHandedOut(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	lease := e.creds("app")
	e.emu.SetFaults(sfemu.Faults{RevokeFailureRate: 1, Status: 503, Seed: 1})
	if resp, err := e.do(logical.UpdateOperation, "revoke/app", nil); err == nil && !resp.IsError() {
		t.Fatal("a break glass that salesforce did not confirm reported success")
	}
	resp, err := e.do(logical.ReadOperation, "creds/app", nil)
	if err == nil && !resp.IsError() && token(resp) == token(lease) {
		t.Fatal("the token break glass must end was handed to a new lease")
	}
	e.emu.SetFaults(sfemu.Faults{})
	next := e.creds("app")
	if token(next) == token(lease) || e.active(token(lease)) {
		t.Fatal("once salesforce confirmed, the broken token must be dead and a new session handed out")
	}
}

// A connection rewrite ends reuse of the grants made through it.
func TestConnectionRewriteEndsReuse(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	e.creds("app")
	e.connection(map[string]interface{}{"reuse_interval": "120s"})
	e.creds("app")
	if got := e.emu.Stats().TokenCalls; got != 2 {
		t.Fatalf("a read after a connection rewrite made %d grants in all, want 2", got)
	}
}

// Another node's ledger write reaches this node through Invalidate.
func TestInvalidateReloadsTheLedger(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	first := e.creds("app")
	// Another instance on the same storage records a second lease.
	other := e.b
	e.restart()
	second := e.creds("app")
	e.b = other
	e.b.invalidate(context.Background(), ledger.HolderPrefix+"x")
	if err := e.revokeLease(first); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(second)) {
		t.Fatal("after an invalidation, the ledger did not see the other node's lease and revoked the token")
	}
}

// The sweep and rollback call Salesforce only where the ledger may be
// written: the active node of the primary cluster, or a mount local to a
// performance secondary.
func TestBackgroundWorkOnlyOnTheActivePrimary(t *testing.T) {
	cases := []struct {
		name  string
		state consts.ReplicationState
		local bool
		runs  bool
	}{
		{"active primary", 0, false, true},
		{"performance standby", consts.ReplicationPerformanceStandby, false, false},
		{"performance secondary", consts.ReplicationPerformanceSecondary, false, false},
		{"local mount on a performance secondary", consts.ReplicationPerformanceSecondary, true, true},
		{"DR secondary", consts.ReplicationDRSecondary, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			e.connection(nil)
			e.role("app", map[string]interface{}{"ttl": "1m", "max_ttl": "1m"})
			lease := e.creds("app")
			sys := &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
				ReplicationStateVal: tc.state, LocalMountVal: tc.local}
			e.b.Setup(context.Background(), &logical.BackendConfig{System: sys, Logger: e.b.Logger(), StorageView: e.storage})
			e.clock.Advance(time.Hour)
			if err := e.periodic(); err != nil {
				t.Fatal(err)
			}
			w := map[string]interface{}{"grant_key": "main\x00jwt_bearer\x00" + emuUser, "connection": "main",
				"client_id": emuClientID, "grant_type": grantJWTBearer, "username": emuUser}
			rbErr := e.b.walRollback(context.Background(), &logical.Request{Storage: e.storage}, walKindGrant, w)
			if swept := !e.active(token(lease)); swept != tc.runs {
				t.Fatalf("sweep ran=%v, want %v", swept, tc.runs)
			}
			if (rbErr == nil) != tc.runs {
				t.Fatalf("rollback err=%v, want it to run=%v", rbErr, tc.runs)
			}
		})
	}
}

func rollbackAll(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := context.Background()
	ids, err := framework.ListWAL(ctx, e.storage)
	if err != nil || len(ids) != 1 {
		t.Fatalf("want one WAL entry for the grant of unknown outcome, got %v (%v)", ids, err)
	}
	entry, err := framework.GetWAL(ctx, e.storage, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := e.b.walRollback(ctx, &logical.Request{Storage: e.storage}, entry.Kind, entry.Data); err != nil {
		t.Fatal(err)
	}
}

func liveSessions(emu *sfemu.Emulator) []sfemu.SessionStats {
	var live []sfemu.SessionStats
	for _, s := range emu.Stats().Sessions {
		if s.Active {
			live = append(live, s)
		}
	}
	return live
}

func pemOf(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}
