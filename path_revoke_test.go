package salesforce

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

func TestTwoLeasesShareOneToken(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)

	first, second := e.creds("app"), e.creds("app")
	if token(first) != token(second) {
		t.Fatal("two reads for one user got different tokens; salesforce shares one")
	}
	if err := e.revokeLease(first); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(second)) {
		t.Fatal("revoking one lease killed the token the other lease still holds")
	}
	if got := e.emu.Stats().RevokeCalls; got != 0 {
		t.Errorf("revoke calls after the first lease = %d, want 0", got)
	}
	if err := e.revokeLease(second); err != nil {
		t.Fatal(err)
	}
	if e.active(token(second)) {
		t.Fatal("the token outlived its last lease")
	}
	if got := e.emu.Stats().RevokeCalls; got != 1 {
		t.Errorf("revoke calls after the last lease = %d, want 1", got)
	}
	// Revoking again (Vault may retry) changes nothing and succeeds.
	if err := e.revokeLease(second); err != nil {
		t.Fatalf("a repeated revocation failed: %v", err)
	}
	// The next read starts a new session.
	if third := e.creds("app"); token(third) == token(second) {
		t.Error("a read after revocation got the revoked token back")
	}
}

// A lease revocation is all or nothing: when salesforce fails it, the lease
// stays a holder, so a read meanwhile shares the live token, and the retried
// revocation, no longer the last holder's, leaves it to the new lease.
func TestRevokeRetriedAfterSalesforceFailure(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	resp := e.creds("app")

	e.emu.SetFaults(sfemu.Faults{RevokeFailureRate: 1, Status: 503, Seed: 1})
	if err := e.revokeLease(resp); err == nil {
		t.Fatal("a failed revocation at salesforce must return an error so that Vault retries")
	}
	if !e.active(token(resp)) {
		t.Fatal("token died though every revoke call failed")
	}
	e.emu.SetFaults(sfemu.Faults{})
	// The failed revocation left the lease a holder; a new read asks
	// salesforce (nobody knows whether the session survived) and shares it.
	next := e.creds("app")
	if token(next) != token(resp) {
		t.Fatalf("salesforce answered the live session, yet the read got another token")
	}
	if err := e.revokeLease(resp); err != nil {
		t.Fatalf("the retried revocation failed: %v", err)
	}
	if !e.active(token(next)) {
		t.Fatal("the retried revocation of the first lease killed the token the new lease holds")
	}
	if err := e.revokeLease(next); err != nil {
		t.Fatal(err)
	}
	if e.active(token(next)) {
		t.Fatal("token still live after its last lease was revoked")
	}
	if again := e.creds("app"); token(again) == token(resp) {
		t.Error("a read after revocation got the revoked token back")
	}
}

func TestSweepRevokesTokensWhoseLeasesAllExpired(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("short", map[string]interface{}{"ttl": "1m", "max_ttl": "1m"})
	e.role("long", map[string]interface{}{"ttl": "10m", "max_ttl": "10m", "username": "other@acme.com"})
	short, long := e.creds("short"), e.creds("long")

	// Vault's revocations of the expired lease are lost: only the sweep is left.
	e.clock.Advance(time.Minute + sweepGrace - time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(short)) {
		t.Fatal("the sweep revoked a token within the grace after its lease's expiry")
	}
	e.clock.Advance(2 * time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if e.active(token(short)) {
		t.Error("the sweep left a token whose only lease had expired")
	}
	if !e.active(token(long)) {
		t.Error("the sweep revoked a token whose lease is still live")
	}
	// The lost revocation arrives late: nothing left to do, and no error.
	if err := e.revokeLease(short); err != nil {
		t.Errorf("late revocation after the sweep: %v", err)
	}
}

func TestRenewMovesHolderExpiry(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "1m", "max_ttl": "1h"})
	resp := e.creds("app")

	renewed, err := e.lease(logical.RenewOperation, resp)
	if err != nil || renewed.IsError() {
		t.Fatalf("renew: %v %#v", err, renewed)
	}
	if renewed.Secret.TTL != time.Minute || renewed.Secret.MaxTTL != time.Hour {
		t.Errorf("renewed ttl=%s max_ttl=%s, want 1m and 1h", renewed.Secret.TTL, renewed.Secret.MaxTTL)
	}
	// Past the original expiry (the renewal moved it), the sweep keeps it.
	e.clock.Advance(30 * time.Second)
	if _, err := e.lease(logical.RenewOperation, resp); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute + sweepGrace - 5*time.Second)
	if err := e.periodic(); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(resp)) {
		t.Fatal("the sweep revoked a token whose lease was renewed")
	}
}

func TestRenewCappedByMaxTTL(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", map[string]interface{}{"ttl": "1h", "max_ttl": "90m"})
	resp := e.creds("app")
	s := roundTrip(t, resp.Secret)
	s.IssueTime = time.Now().Add(-time.Hour)
	renewed, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RenewOperation, Storage: e.storage, Secret: s,
	})
	if err != nil || renewed.IsError() {
		t.Fatalf("renew: %v %#v", err, renewed)
	}
	if renewed.Secret.TTL > 31*time.Minute {
		t.Errorf("renewal past max_ttl: ttl %s with 30m left", renewed.Secret.TTL)
	}
}

func TestBreakGlassRevokesSharedToken(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	first, second := e.creds("app"), e.creds("app")

	resp := e.mustOK(logical.UpdateOperation, "revoke/app", nil)
	if resp.Data["revoked_tokens"] != 1 || resp.Data["released_leases"] != 2 {
		t.Errorf("break glass answered %#v, want 1 token and 2 leases", resp.Data)
	}
	if e.active(token(first)) {
		t.Fatal("break glass left the token live")
	}
	calls := e.emu.Stats().RevokeCalls
	for _, l := range []*logical.Response{first, second} {
		if err := e.revokeLease(l); err != nil {
			t.Fatalf("revoking a lease after break glass: %v", err)
		}
	}
	if got := e.emu.Stats().RevokeCalls; got != calls {
		t.Errorf("leases revoked after break glass called salesforce %d more times", got-calls)
	}
	if next := e.creds("app"); !e.active(token(next)) || token(next) == token(first) {
		t.Error("the next read after break glass did not start a new session")
	}
}

func TestRevokeWorksAfterRoleAndConnectionDeleted(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	resp := e.creds("app")

	e.mustOK(logical.DeleteOperation, "roles/app", nil)
	e.mustOK(logical.DeleteOperation, "config/main", nil)
	if err := e.revokeLease(resp); err != nil {
		t.Fatal(err)
	}
	if e.active(token(resp)) {
		t.Fatal("token outlived its lease because its connection was deleted")
	}
}

func TestLedgerSurvivesRestart(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	first, second := e.creds("app"), e.creds("app")

	// A new backend on the same storage, as after a restart or failover.
	conf := logical.TestBackendConfig()
	conf.StorageView = e.storage
	conf.System = e.b.System()
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Initialize(context.Background(), &logical.InitializationRequest{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	e.b = raw.(*backend)
	if err := e.revokeLease(first); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(second)) {
		t.Fatal("after a restart, revoking one of two leases killed the shared token")
	}
	if err := e.revokeLease(second); err != nil {
		t.Fatal(err)
	}
	if e.active(token(second)) {
		t.Fatal("after a restart, the last lease's revocation did not reach salesforce")
	}
}

// failingStorage fails Puts under a prefix, to break a request half-way.
type failingStorage struct {
	logical.Storage
	prefix string
}

func (f *failingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if len(e.Key) >= len(f.prefix) && e.Key[:len(f.prefix)] == f.prefix {
		return logical.ErrReadOnly
	}
	return f.Storage.Put(ctx, e)
}

func TestWALRollbackRevokesAbandonedGrant(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)

	// The holder cannot be recorded and the immediate revocation fails too:
	// the grant's WAL entry is all that is left.
	good := e.storage
	e.storage = &failingStorage{Storage: good, prefix: ledger.HolderPrefix}
	e.emu.SetFaults(sfemu.Faults{RevokeFailureRate: 1, Seed: 1})
	if resp, err := e.do(logical.ReadOperation, "creds/app", nil); err == nil && !resp.IsError() {
		t.Fatal("creds succeeded though its holder could not be stored")
	}
	e.storage = good
	e.emu.SetFaults(sfemu.Faults{})
	sessions := e.emu.Stats().Sessions
	if len(sessions) != 1 || !sessions[0].Active {
		t.Fatalf("want one live, abandoned session before rollback, got %#v", sessions)
	}

	ids, err := framework.ListWAL(context.Background(), good)
	if err != nil || len(ids) != 1 {
		t.Fatalf("want one WAL entry left by the failed grant, got %v (%v)", ids, err)
	}
	entry, err := framework.GetWAL(context.Background(), good, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	req := &logical.Request{Storage: good}
	if err := e.b.walRollback(context.Background(), req, entry.Kind, entry.Data); err != nil {
		t.Fatal(err)
	}
	if s := e.emu.Stats().Sessions; len(s) != 1 || s[0].Active {
		t.Errorf("rollback left the abandoned token live: %+v", s)
	}
}

func TestWALRollbackKeepsHeldToken(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)
	resp := e.creds("app")
	w := map[string]interface{}{
		"grant_key": "main\x00jwt_bearer\x00" + emuUser, "connection": "main", "client_id": emuClientID,
		"grant_type": grantJWTBearer, "username": emuUser,
	}
	if err := e.b.walRollback(context.Background(), &logical.Request{Storage: e.storage}, walKindGrant, w); err != nil {
		t.Fatal(err)
	}
	if !e.active(token(resp)) {
		t.Fatal("rollback revoked a token a live lease holds")
	}
}
