package ledger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// fakeSalesforce is the revoke endpoint as the ledger sees it: it records
// what was revoked and fails while told to.
type fakeSalesforce struct {
	mu      sync.Mutex
	revoked map[string]int // token -> revocations
	fail    error
}

func (f *fakeSalesforce) revoke(_ context.Context, rec *Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.revoked[rec.AccessToken]++
	return nil
}

func (f *fakeSalesforce) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeSalesforce) count(tok string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revoked[tok]
}

func (f *fakeSalesforce) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.revoked {
		n += c
	}
	return n
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// faultyStorage fails writes whose key has a given prefix, while told to.
type faultyStorage struct {
	logical.Storage
	mu     sync.Mutex
	prefix string
}

var errInjected = errors.New("injected storage failure")

func (f *faultyStorage) failing(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prefix != "" && strings.HasPrefix(key, f.prefix)
}

func (f *faultyStorage) failWrites(prefix string) {
	f.mu.Lock()
	f.prefix = prefix
	f.mu.Unlock()
}

func (f *faultyStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.failing(e.Key) {
		return errInjected
	}
	return f.Storage.Put(ctx, e)
}

func (f *faultyStorage) Delete(ctx context.Context, key string) error {
	if f.failing(key) {
		return errInjected
	}
	return f.Storage.Delete(ctx, key)
}

type env struct {
	t     testing.TB
	l     *Ledger
	s     *faultyStorage
	sf    *fakeSalesforce
	clock *clock
	ctx   context.Context
}

func newEnv(t testing.TB) *env {
	e := &env{
		t:     t,
		s:     &faultyStorage{Storage: &logical.InmemStorage{}},
		sf:    &fakeSalesforce{revoked: map[string]int{}},
		clock: &clock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)},
		ctx:   context.Background(),
	}
	e.l = e.open()
	return e
}

// open is a new instance on the same storage: a restart, or a failover.
func (e *env) open() *Ledger {
	l := New(Options{Revoke: e.sf.revoke, Now: e.clock.Now})
	if err := l.EnsureLoaded(e.ctx, e.s); err != nil {
		e.t.Fatal(err)
	}
	return l
}

const (
	appID = "3MVG9app"
	orgID = "00D5g000004XyZaEAK"
)

// granted is a token of user as Salesforce would answer it.
func granted(token, user string) Granted {
	tid := TokenID(token)
	return Granted{
		Record: &Record{
			ID: tid, AccessToken: token, Session: NewSessionKey(appID, orgID, user, tid),
			Connection: "main", Username: user + "@acme.com", LoginURL: "https://acme.my.salesforce.com",
		},
		Answer:   &Answer{AccessToken: token, Scope: "api"},
		ReuseFor: time.Minute,
	}
}

func hold(key, role string, ttl time.Duration) Hold {
	return Hold{GrantKey: key, Generation: 1, Role: role, TTL: ttl, Accept: func(*Answer) error { return nil }}
}

func (e *env) record(g Granted, h Hold) *Lease {
	e.t.Helper()
	done := e.l.BeginGrant()
	defer done()
	lease, err := e.l.RecordGrant(e.ctx, e.s, g, h)
	if err != nil {
		e.t.Fatalf("RecordGrant: %v", err)
	}
	e.l.Handed(lease.HolderID)
	e.check()
	return lease
}

func (e *env) reuse(h Hold) *Lease {
	e.t.Helper()
	lease, err := e.l.Reuse(e.ctx, e.s, h)
	if err != nil || lease == nil {
		e.t.Fatalf("Reuse: lease=%v err=%v", lease, err)
	}
	e.l.Handed(lease.HolderID)
	e.check()
	return lease
}

func (e *env) release(lease *Lease) error {
	e.t.Helper()
	err := e.l.Release(e.ctx, e.s, lease.TokenID, lease.HolderID)
	e.check()
	return err
}

func (e *env) sweep() SweepResult {
	e.t.Helper()
	res, err := e.l.Sweep(e.ctx, e.s)
	if err != nil {
		e.t.Fatalf("Sweep: %v", err)
	}
	e.check()
	return res
}

// check is the ledger's invariant: memory is what a fresh load from storage
// gives, field for field.
func (e *env) check() {
	e.t.Helper()
	if err := sameAsStorage(e.ctx, e.l, e.s); err != nil {
		e.t.Fatal(err)
	}
}

func sameAsStorage(ctx context.Context, l *Ledger, s logical.Storage) error {
	tokens, epochs, err := load(ctx, s)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if got, want := summarise(l.tokens), summarise(tokens); !reflect.DeepEqual(got, want) {
		return fmt.Errorf("ledger memory differs from storage:\nmemory:  %v\nstorage: %v", got, want)
	}
	for id, at := range epochs {
		if !l.epochs[id].Equal(at) {
			return fmt.Errorf("epoch %s: memory %v, storage %v", id, l.epochs[id], at)
		}
	}
	return nil
}

// summarise renders what must agree: records, and durable holders with
// their batches. Holders still being written are not durable yet.
func summarise(tokens map[string]*token) map[string]string {
	out := map[string]string{}
	for id, tok := range tokens {
		var b strings.Builder
		rec := *tok.rec
		rec.Pending = nil
		fmt.Fprintf(&b, "rec=%+v|", rec)
		if p := tok.rec.Pending; p != nil {
			fmt.Fprintf(&b, "pending=%+v|", *p)
		}
		for hid, h := range tok.holders {
			if h.batch == nil {
				continue
			}
			fmt.Fprintf(&b, "%s:%s/%s/%v/%s/%s/%s|", hid, h.expiresAt.Format(time.RFC3339Nano), h.role,
				h.confirmed, h.batch.id, h.batch.epoch, h.batch.writtenAt.Format(time.RFC3339Nano))
		}
		for bid, bt := range tok.batches {
			fmt.Fprintf(&b, "batch %s members=%d|", bid, len(bt.members))
		}
		out[id] = sortedLine(b.String())
	}
	return out
}

func sortedLine(s string) string {
	parts := strings.Split(s, "|")
	sort.Strings(parts)
	return strings.Join(parts, "|")
}
