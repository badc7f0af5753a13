package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestSharedTokenRevokedByItsLastHolderOnly(t *testing.T) {
	e := newEnv(t)
	first := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	second := e.reuse(hold("main/u1", "app", time.Hour))
	if first.TokenID != second.TokenID {
		t.Fatal("a reuse within the interval got another token")
	}
	if err := e.release(first); err != nil {
		t.Fatal(err)
	}
	if n := e.sf.total(); n != 0 {
		t.Fatalf("releasing one of two holders revoked at salesforce %d time(s)", n)
	}
	if err := e.release(second); err != nil {
		t.Fatal(err)
	}
	if n := e.sf.count("tok-A"); n != 1 {
		t.Fatalf("the last holder's release revoked %d time(s), want 1", n)
	}
	if v := e.l.Sessions(); len(v) != 0 {
		t.Fatalf("a revoked token is still in the ledger: %+v", v)
	}
	// Releasing again (Vault retries) is a no-op.
	if err := e.release(second); err != nil || e.sf.count("tok-A") != 1 {
		t.Fatalf("a repeated release: err=%v revocations=%d", err, e.sf.count("tok-A"))
	}
}

// A release is all or nothing: if salesforce does not confirm, the holder
// stays, and the answer is not reused without asking salesforce again.
func TestFailedRevocationLeavesTheLeaseHeld(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	e.sf.setFail(errors.New("salesforce is down"))
	if err := e.release(lease); err == nil {
		t.Fatal("a failed revocation must fail the release")
	}
	v := e.l.Session(lease.TokenID)
	if v == nil || v.Holders != 1 || v.FailedRevocations != 1 || v.LastError == "" {
		t.Fatalf("after a failed release the lease must still hold the token, with the failure shown: %+v", v)
	}
	if got, err := e.l.Reuse(e.ctx, e.s, hold("main/u1", "app", time.Hour)); got != nil || err != nil {
		t.Fatalf("a token whose revocation may have happened was handed out without asking salesforce: %v %v", got, err)
	}
	e.sf.setFail(nil)
	if err := e.release(lease); err != nil {
		t.Fatal(err)
	}
	if e.sf.count("tok-A") != 1 || e.l.Session(lease.TokenID) != nil {
		t.Fatal("the retried release did not revoke and forget the token")
	}
}

// A failed storage write changes neither storage nor memory: the operation
// can be retried as if it never ran.
func TestFailedWritesChangeNothing(t *testing.T) {
	e := newEnv(t)
	a := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	b := e.reuse(hold("main/u1", "app", time.Hour))

	e.s.failWrites(HolderPrefix)
	if err := e.release(a); !errors.Is(err, errInjected) {
		t.Fatalf("release with failing storage: %v", err)
	}
	if _, err := e.l.Reuse(e.ctx, e.s, hold("main/u1", "app", time.Hour)); !errors.Is(err, errInjected) {
		t.Fatalf("reuse with failing storage: %v", err)
	}
	e.check()
	if err := e.l.Extend(e.ctx, e.s, b.TokenID, b.HolderID, e.clock.Now().Add(2*time.Hour)); !errors.Is(err, errInjected) {
		t.Fatalf("extend with failing storage: %v", err)
	}
	e.check()
	if v := e.l.Session(a.TokenID); v.Holders != 2 {
		t.Fatalf("holders after failed writes = %d, want 2", v.Holders)
	}

	e.s.failWrites(TokenPrefix)
	lone := granted("tok-B", "u2")
	done := e.l.BeginGrant()
	if _, err := e.l.RecordGrant(e.ctx, e.s, lone, hold("main/u2", "app", time.Hour)); !errors.Is(err, errInjected) {
		t.Fatalf("record with failing storage: %v", err)
	}
	done()
	e.check()

	e.s.failWrites("")
	for _, l := range []*Lease{a, b} {
		if err := e.release(l); err != nil {
			t.Fatal(err)
		}
	}
	if e.sf.count("tok-A") != 1 {
		t.Fatal("after the failures the releases did not end the token exactly once")
	}
}

// A grant answered with a token that a last-holder revocation ended while
// the grant was in flight must not be handed out.
func TestGrantAnsweredWithATokenRevokedMeanwhile(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("cc", "cc-role", time.Hour))

	done := e.l.BeginGrant() // a jwt read of the same user asks salesforce...
	if err := e.release(lease); err != nil {
		t.Fatal(err) // ...while the cc role's last lease ends the session
	}
	_, err := e.l.RecordGrant(e.ctx, e.s, granted("tok-A", "u1"), hold("jwt/u1", "jwt-role", time.Hour))
	done()
	if !errors.Is(err, ErrRevokedMeanwhile) {
		t.Fatalf("recording a token revoked during the grant: err=%v, want ErrRevokedMeanwhile", err)
	}
	e.check()
	// Once no grant from before the revocation is in flight, it is forgotten.
	if len(e.l.revoked) != 0 {
		t.Errorf("revoked tokens kept with no grant in flight: %d", len(e.l.revoked))
	}
}

// Break glass finds the tokens by the role recorded with each lease, and
// ends them whatever else holds them.
func TestBreakGlassByTheLeasesRole(t *testing.T) {
	e := newEnv(t)
	shared := e.record(granted("tok-A", "runas"), hold("cc", "cc-role", time.Hour))
	jwt := e.record(granted("tok-A", "runas"), hold("jwt/runas", "jwt-role", time.Hour))
	other := e.record(granted("tok-B", "u2"), hold("jwt/u2", "other", time.Hour))
	if shared.TokenID != jwt.TokenID {
		t.Fatal("one session must be one token")
	}
	tokens, leases, err := e.l.BreakGlass(e.ctx, e.s, "jwt-role")
	e.check()
	if err != nil || tokens != 1 || leases != 2 {
		t.Fatalf("break glass: tokens=%d leases=%d err=%v, want 1, 2, nil", tokens, leases, err)
	}
	if e.sf.count("tok-A") != 1 || e.sf.count("tok-B") != 0 {
		t.Fatalf("break glass revoked tok-A %d and tok-B %d time(s), want 1 and 0", e.sf.count("tok-A"), e.sf.count("tok-B"))
	}
	for _, l := range []*Lease{shared, jwt} {
		if err := e.release(l); err != nil {
			t.Fatal(err)
		}
	}
	if e.sf.count("tok-A") != 1 {
		t.Fatal("leases of a broken token revoked it again")
	}
	if err := e.l.Extend(e.ctx, e.s, other.TokenID, other.HolderID, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("renewing an unrelated lease: %v", err)
	}
}

// A break-glass revocation that salesforce does not confirm is owed: the
// token is never handed out, a grant answered with it ends it first, and
// the sweep retries with backoff.
func TestBreakGlassOwedUntilSalesforceConfirms(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	e.sf.setFail(errors.New("salesforce is down"))
	if _, _, err := e.l.BreakGlass(e.ctx, e.s, "app"); err == nil {
		t.Fatal("a failed break glass must say so")
	}
	e.check()
	v := e.l.Session(lease.TokenID)
	if v == nil || v.State != "revocation_owed" || v.Pending.Reason != ReasonBreakGlass || v.Pending.Attempts != 1 {
		t.Fatalf("owed break glass not recorded: %+v", v)
	}
	if got, _ := e.l.Reuse(e.ctx, e.s, hold("main/u1", "app", time.Hour)); got != nil {
		t.Fatal("a token break glass must end was handed out again")
	}
	done := e.l.BeginGrant()
	_, err := e.l.RecordGrant(e.ctx, e.s, granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	done()
	if err == nil || errors.Is(err, ErrRevokedMeanwhile) {
		t.Fatalf("salesforce answered the session break glass must end, still unrevocable: err=%v", err)
	}
	// The sweep waits for the backoff, then ends it.
	e.sf.setFail(nil)
	e.sweep()
	if e.sf.count("tok-A") != 0 {
		t.Fatal("the sweep retried before the backoff passed")
	}
	e.clock.Advance(backoff(2) + time.Second)
	if res := e.sweep(); res.Revoked != 1 || e.sf.count("tok-A") != 1 {
		t.Fatalf("the sweep did not end the owed token: %+v", res)
	}
}

// An owed revocation of a token no lease held does not block grants: when
// salesforce answers a grant with it, it is alive, the new lease takes it
// and the debt is cancelled.
func TestOwedRevocationDoesNotBlockGrants(t *testing.T) {
	e := newEnv(t)
	g := granted("tok-A", "u1")
	done := e.l.BeginGrant()
	refuse := hold("main/u1", "narrow", time.Hour)
	refuse.Accept = func(*Answer) error { return errors.New("outside the ceiling") }
	if _, err := e.l.RecordGrant(e.ctx, e.s, g, refuse); err == nil {
		t.Fatal("Accept's refusal was ignored")
	}
	done()
	e.check()
	e.sf.setFail(errors.New("x509: certificate signed by unknown authority"))
	e.clock.Advance(DefaultGrace + time.Second)
	if _, err := e.l.Sweep(e.ctx, e.s); err == nil {
		t.Fatal("a failing revocation must be reported by the sweep")
	}
	e.check()
	if v := e.l.Session(g.Record.ID); v == nil || v.State != "revocation_owed" || v.Pending.Reason != ReasonUnheld {
		t.Fatalf("the failing revocation is not recorded as owed: %+v", v)
	}
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	if v := e.l.Session(lease.TokenID); v.State != "active" || v.Pending != nil {
		t.Fatalf("a token handed to a new lease must no longer be owed a revocation: %+v", v)
	}
}

// Holders of leases past their expiry are dropped even while other leases
// keep the token: Vault may have given up revoking them.
func TestSweepPrunesExpiredHoldersAndEndsUnheldTokens(t *testing.T) {
	e := newEnv(t)
	short := e.record(granted("tok-A", "u1"), hold("main/u1", "short", time.Minute))
	long := e.reuse(hold("main/u1", "long", time.Hour))
	e.clock.Advance(time.Minute + DefaultGrace + time.Second)
	res := e.sweep()
	if res.PrunedHolders != 1 || res.Revoked != 0 {
		t.Fatalf("sweep: %+v, want 1 holder pruned and nothing revoked", res)
	}
	if v := e.l.Session(short.TokenID); v.Holders != 1 || v.ByRole["long"] != 1 {
		t.Fatalf("after the sweep: %+v", v)
	}
	// The last holder expires too: the token ends at once.
	e.clock.Advance(time.Hour)
	if res := e.sweep(); res.Revoked != 1 || e.sf.count("tok-A") != 1 {
		t.Fatalf("sweep after the last lease expired: %+v", res)
	}
	if err := e.release(long); err != nil {
		t.Fatalf("a late revocation after the sweep: %v", err)
	}
}

// A holder whose answer may never have become a lease (a crash right after
// the read) counts for ProvisionalTTL at most, not for its lease's TTL; one
// known to be registered keeps its token for the whole TTL.
func TestProvisionalHoldersAfterACrash(t *testing.T) {
	e := newEnv(t)
	const monthTTL = 768 * time.Hour
	lost := e.record(granted("tok-A", "u1"), hold("main/u1", "app", monthTTL))
	e.l = e.open() // crash: no Close, no sweep since the read
	e.clock.Advance(DefaultProvisionalTTL + DefaultGrace + time.Second)
	if res := e.sweep(); res.Revoked != 1 || e.sf.count("tok-A") != 1 {
		t.Fatalf("a holder of a lost answer kept its token past the provisional bound: %+v", res)
	}
	if e.l.Session(lost.TokenID) != nil {
		t.Fatal("the token is still in the ledger")
	}

	kept := e.record(granted("tok-B", "u2"), hold("main/u2", "app", monthTTL))
	e.clock.Advance(DefaultRegistrationMargin + time.Second)
	e.sweep() // records that this instance's earlier holders are confirmed
	e.l = e.open()
	e.clock.Advance(DefaultProvisionalTTL + DefaultGrace + time.Second)
	e.sweep()
	if e.sf.count("tok-B") != 0 {
		t.Fatal("a confirmed lease's token was revoked after a crash")
	}
	if v := e.l.Session(kept.TokenID); v == nil || v.Provisional != 0 {
		t.Fatalf("a confirmed holder is shown as provisional: %+v", v)
	}
}

// A clean shutdown confirms every holder whose read answered.
func TestCloseConfirmsAnsweredHolders(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", 24*time.Hour))
	if err := e.l.Close(e.ctx, e.s); err != nil {
		t.Fatal(err)
	}
	e.l = e.open()
	e.clock.Advance(time.Hour)
	e.sweep()
	if e.sf.count("tok-A") != 0 {
		t.Fatal("after a clean shutdown, a registered lease's token was revoked")
	}
	if err := e.release(lease); err != nil || e.sf.count("tok-A") != 1 {
		t.Fatalf("release after restart: %v", err)
	}
}

// A renewal proves the lease exists: it confirms the holder.
func TestRenewalConfirmsAProvisionalHolder(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	e.l = e.open() // crash
	if err := e.l.Extend(e.ctx, e.s, lease.TokenID, lease.HolderID, e.clock.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.check()
	e.clock.Advance(DefaultProvisionalTTL + DefaultGrace + time.Second)
	e.sweep()
	if e.sf.count("tok-A") != 0 {
		t.Fatal("a renewed lease's token was revoked as provisional")
	}
}

// Abandoning the only holder of a token ends it; abandoning one of several
// leaves it to the others.
func TestAbandon(t *testing.T) {
	e := newEnv(t)
	a := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	b := e.reuse(hold("main/u1", "app", time.Hour))
	if err := e.l.Abandon(e.ctx, e.s, b.TokenID, b.HolderID); err != nil {
		t.Fatal(err)
	}
	e.check()
	if e.sf.count("tok-A") != 0 {
		t.Fatal("abandoning one of two holders revoked the token")
	}
	if err := e.l.Abandon(e.ctx, e.s, a.TokenID, a.HolderID); err != nil {
		t.Fatal(err)
	}
	e.check()
	if e.sf.count("tok-A") != 1 {
		t.Fatal("abandoning the last holder did not revoke the token")
	}
}

// Settle ends the live session a lost grant may have started, unless a
// lease holds it.
func TestSettle(t *testing.T) {
	e := newEnv(t)
	held := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	if err := e.l.Settle(e.ctx, e.s, granted("tok-A", "u1")); err != nil {
		t.Fatal(err)
	}
	if e.sf.count("tok-A") != 0 {
		t.Fatal("rollback revoked a token a lease holds")
	}
	if err := e.l.Settle(e.ctx, e.s, granted("tok-B", "u2")); err != nil {
		t.Fatal(err)
	}
	if e.sf.count("tok-B") != 1 {
		t.Fatal("rollback left the unrecorded session of a lost grant alive")
	}
	e.sf.setFail(errors.New("down"))
	if err := e.l.Settle(e.ctx, e.s, granted("tok-C", "u3")); err != nil {
		t.Fatalf("a failed rollback revocation is recorded as owed, not an error: %v", err)
	}
	e.check()
	if v := e.l.Session(TokenID("tok-C")); v == nil || v.Pending == nil || v.Pending.Reason != ReasonRollback {
		t.Fatalf("a failed rollback revocation was not recorded as owed: %+v", v)
	}
	_ = held
}

// gatedStorage blocks holder writes until the test lets each one through.
type gatedStorage struct {
	logical.Storage
	gate    chan struct{}
	started chan struct{}
}

func (g *gatedStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if len(e.Key) > len(HolderPrefix) && e.Key[:len(HolderPrefix)] == HolderPrefix {
		g.started <- struct{}{}
		<-g.gate
	}
	return g.Storage.Put(ctx, e)
}

// A reader waits for the holder write in flight and its own, never for the
// writes of readers that queued after it.
func TestReaderWaitsOnlyForItsOwnBatch(t *testing.T) {
	e := newEnv(t)
	e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	gs := &gatedStorage{Storage: e.s, gate: make(chan struct{}), started: make(chan struct{}, 8)}
	reuse := func(out chan<- error) {
		_, err := e.l.Reuse(e.ctx, gs, hold("main/u1", "app", time.Hour))
		out <- err
	}
	first := make(chan error, 1)
	go reuse(first)
	<-gs.started // the first reader's batch is being written
	second := make(chan error, 1)
	go reuse(second)
	waitQueued(t, e.l, 1)
	gs.gate <- struct{}{} // the first batch lands
	<-gs.started          // the second reader now writes its own batch...
	select {
	case err := <-first: // ...and the first reader has its answer already
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first reader waited for a batch that was not its own")
	}
	gs.gate <- struct{}{}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

func waitQueued(t *testing.T, l *Ledger, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.writer.mu.Lock()
		q := len(l.writer.queue)
		l.writer.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reader(s) queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Concurrent reuses commit in few writes, and every holder is durable.
func TestConcurrentReusesCommitTogether(t *testing.T) {
	e := newEnv(t)
	e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lease, err := e.l.Reuse(e.ctx, e.s, hold("main/u1", "app", time.Hour))
			if err != nil || lease == nil {
				t.Errorf("reuse: %v %v", lease, err)
				return
			}
			e.l.Handed(lease.HolderID)
		}()
	}
	wg.Wait()
	e.check()
	if v := e.l.Session(TokenID("tok-A")); v.Holders != 51 {
		t.Fatalf("holders = %d, want 51", v.Holders)
	}
}

// Memory follows live use: once everything is released and swept, no
// per-user or per-session state is left.
func TestMemoryBoundedByLiveLeases(t *testing.T) {
	e := newEnv(t)
	for i, user := range []string{"u1", "u2", "u3"} {
		lease := e.record(granted("tok-"+user, user), hold("main/"+user, "app", time.Hour))
		if err := e.release(lease); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	e.clock.Advance(2 * time.Minute)
	e.sweep()
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	answers := len(e.l.answers.pending) + len(e.l.answers.live())
	if len(e.l.tokens) != 0 || len(e.l.grants) != 0 || answers != 0 || len(e.l.revoked) != 0 || e.l.sessions.Len() != 0 {
		t.Fatalf("state left after every lease ended: tokens=%d grants=%d answers=%d revoked=%d locks=%d",
			len(e.l.tokens), len(e.l.grants), answers, len(e.l.revoked), e.l.sessions.Len())
	}
}

// Another node's write reaches this one through MarkStale: the next use
// reloads.
func TestMarkStaleReloads(t *testing.T) {
	e := newEnv(t)
	lease := e.record(granted("tok-A", "u1"), hold("main/u1", "app", time.Hour))
	other := e.open()
	second, err := other.Reuse(e.ctx, e.s, hold("main/u1", "app", time.Hour))
	if err != nil || second != nil {
		t.Fatal("a fresh instance has no answers to reuse")
	}
	done := other.BeginGrant()
	if second, err = other.RecordGrant(e.ctx, e.s, granted("tok-A", "u1"), hold("main/u1", "app", time.Hour)); err != nil {
		t.Fatal(err)
	}
	done()
	other.Handed(second.HolderID)
	e.l.MarkStale()
	if err := e.l.EnsureLoaded(e.ctx, e.s); err != nil {
		t.Fatal(err)
	}
	if err := e.release(lease); err != nil {
		t.Fatal(err)
	}
	if e.sf.count("tok-A") != 0 {
		t.Fatal("after reloading, the holder another instance recorded was not seen")
	}
}

func BenchmarkReuseRelease(b *testing.B) {
	for _, held := range []int{1, 10000} {
		b.Run(map[int]string{1: "holders=1", 10000: "holders=10000"}[held], func(b *testing.B) {
			e := newEnv(b)
			h := hold("main/u1", "app", time.Hour)
			e.record(granted("tok-A", "u1"), h)
			for i := 1; i < held; i++ {
				if _, err := e.l.Reuse(e.ctx, e.s, h); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				lease, err := e.l.Reuse(ctx, e.s, h)
				if err != nil || lease == nil {
					b.Fatal(err)
				}
				e.l.Handed(lease.HolderID)
				if err := e.l.Release(ctx, e.s, lease.TokenID, lease.HolderID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
