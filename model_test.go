package salesforce

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// The model-based test of the token promise: seeded random sequences of
// what Vault, operators and Salesforce do, checked after every step
// against what each lease must see. A lease is live until Vault's revoke
// callback for it has succeeded; Vault revokes a lease when it expires and
// retries until that succeeds.
//
// After every step:
//   - every live, unexpired lease's token is alive at Salesforce, unless
//     break glass ended it;
//   - every token alive at Salesforce is held by a live lease or known to
//     the ledger (which ends it within the sweep's bounds), never lost;
// and at the end, once faults stop and every lease has expired, no token
// is alive and the ledger is empty.
//
// go test -run TestTokenPromiseModel runs fixed seeds; more with
// -count or: go test -run '^$' -fuzz FuzzTokenPromise

var modelRoles = []struct {
	name string
	data map[string]interface{}
}{
	{"a", map[string]interface{}{"username": emuUser, "ttl": "2m", "max_ttl": "10m"}},
	{"b", map[string]interface{}{"username": emuUser, "ttl": "10m", "max_ttl": "20m"}},
	{"cc", map[string]interface{}{"grant_type": "client_credentials", "ttl": "3m", "max_ttl": "10m"}},
	{"runas", map[string]interface{}{"username": emuRunAs, "ttl": "5m", "max_ttl": "10m"}},
	{"o", map[string]interface{}{"username": "other@acme.com", "ttl": "1m", "max_ttl": "5m"}},
}

type modelLease struct {
	id      int
	role    string
	token   string
	resp    *logical.Response
	expires time.Time
	revoked bool // Vault's revoke callback succeeded
	broken  bool // break glass ended its token
}

type model struct {
	t      testing.TB
	e      *testEnv
	lossy  *lossyFront
	rng    *rand.Rand
	seed   uint64
	leases []*modelLease
	log    []string
	faults sfemu.Faults
}

func TestTokenPromiseModel(t *testing.T) {
	for seed := uint64(1); seed <= 16; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runModel(t, seed, 150)
		})
	}
}

func FuzzTokenPromise(f *testing.F) {
	f.Add(uint64(7))
	f.Fuzz(func(t *testing.T, seed uint64) { runModel(t, seed, 60) })
}

func runModel(t testing.TB, seed uint64, steps int) {
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, 0x5a1e5f0ce)), seed: seed}
	m.e = newTestEnv(t, nil)
	m.fastRetries()
	m.lossy = newLossyFront(t, m.e.emu)
	m.e.connection(map[string]interface{}{"login_url": m.lossy.srv.URL, "ca_cert": pemOf(m.lossy.srv)})
	for _, r := range modelRoles {
		m.writeRole(r.name)
	}
	for i := 0; i < steps; i++ {
		m.step()
		m.check()
	}
	m.quiesce()
	m.summary()
}

// summary says, under -v, what the sequence exercised: a model that never
// reached a case proves nothing about it.
func (m *model) summary() {
	counts := map[string]int{}
	for _, line := range m.log {
		_, what, _ := strings.Cut(line, ": ")
		words := strings.Fields(what)
		key := strings.TrimSuffix(words[0], ":")
		if len(words) > 1 && (words[0] == "break" || words[0] == "read" || words[0] == "revoke" || words[0] == "expire") {
			key = words[0] + " " + strings.TrimSuffix(words[1], ":")
		}
		if strings.Contains(what, "failed") || strings.Contains(what, "refused") {
			key += " (failed)"
		}
		counts[key]++
	}
	m.t.Logf("seed %d: %d leases; %v", m.seed, len(m.leases), counts)
}

func (m *model) writeRole(name string) {
	for _, r := range modelRoles {
		if r.name == name {
			data := map[string]interface{}{"connection": "main"}
			for k, v := range r.data {
				data[k] = v
			}
			m.e.mustOK(logical.UpdateOperation, "roles/"+name, data)
		}
	}
}

func (m *model) note(format string, args ...interface{}) {
	m.log = append(m.log, fmt.Sprintf("%s: %s", m.e.clock.Now().Format("15:04:05"), fmt.Sprintf(format, args...)))
}

func (m *model) fail(format string, args ...interface{}) {
	m.t.Helper()
	tail := m.log
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	m.t.Fatalf("seed %d: %s\nlast steps:\n  %s", m.seed, fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

func (m *model) step() {
	switch n := m.rng.IntN(100); {
	case n < 30:
		m.read(modelRoles[m.rng.IntN(len(modelRoles))].name)
	case n < 45:
		m.revoke()
	case n < 55:
		m.renew()
	case n < 72:
		m.advance(time.Duration(5+m.rng.IntN(180)) * time.Second)
	case n < 78:
		m.sweep()
	case n < 82:
		m.breakGlass(modelRoles[m.rng.IntN(len(modelRoles))].name)
	case n < 86:
		m.restart()
	case n < 88:
		m.rewriteConnection()
	case n < 91:
		m.deleteRole()
	case n < 93:
		m.rollback(false)
	default:
		m.setFaults()
	}
}

func (m *model) read(role string) {
	resp, err := m.e.do(logical.ReadOperation, "creds/"+role, nil)
	if err != nil || resp == nil || resp.IsError() {
		m.note("read %s: refused (%s)", role, short(errText(resp, err)))
		return
	}
	l := &modelLease{id: len(m.leases), role: role, token: token(resp), resp: resp, expires: m.e.clock.Now().Add(resp.Secret.TTL)}
	m.leases = append(m.leases, l)
	m.note("read %s: lease %d, token %s", role, l.id, short(l.token))
}

func (m *model) live() []*modelLease {
	var out []*modelLease
	for _, l := range m.leases {
		if !l.revoked {
			out = append(out, l)
		}
	}
	return out
}

func (m *model) revokeLease(l *modelLease, why string) {
	if err := m.e.revokeLease(l.resp); err != nil {
		m.note("%s lease %d: failed (%s)", why, l.id, short(err.Error()))
		return
	}
	l.revoked = true
	m.note("%s lease %d", why, l.id)
}

func (m *model) revoke() {
	if live := m.live(); len(live) > 0 {
		m.revokeLease(live[m.rng.IntN(len(live))], "revoke")
	}
}

func (m *model) renew() {
	var candidates []*modelLease
	for _, l := range m.live() {
		if m.e.clock.Now().Before(l.expires) {
			candidates = append(candidates, l)
		}
	}
	if len(candidates) == 0 {
		return
	}
	l := candidates[m.rng.IntN(len(candidates))]
	s := roundTrip(m.t, l.resp.Secret)
	s.IssueTime = l.expires.Add(-l.resp.Secret.TTL)
	resp, err := m.e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RenewOperation, Storage: m.e.storage, Secret: s,
	})
	switch {
	case err == nil && resp != nil && !resp.IsError():
		l.expires = m.e.clock.Now().Add(resp.Secret.TTL)
		m.note("renew lease %d: until %s", l.id, l.expires.Format("15:04:05"))
	case l.broken:
		m.note("renew lease %d: refused, its token was broken", l.id)
	default:
		m.fail("renewing live lease %d failed: %s", l.id, errText(resp, err))
	}
}

// advance moves time; Vault revokes the leases that expired, and retries
// those whose revocation failed before.
func (m *model) advance(d time.Duration) {
	m.e.clock.Advance(d)
	m.note("advance %s", d)
	m.expire()
}

func (m *model) expire() {
	for _, l := range m.live() {
		if !m.e.clock.Now().Before(l.expires) {
			m.revokeLease(l, "expire")
		}
	}
}

func (m *model) sweep() {
	err := m.e.periodic()
	m.note("sweep (%v)", err)
}

func (m *model) breakGlass(role string) {
	held := map[string]bool{}
	for _, l := range m.live() {
		if l.role == role {
			held[l.token] = true
		}
	}
	resp, err := m.e.do(logical.UpdateOperation, "revoke/"+role, nil)
	// Whatever the answer, the tokens its leases held may be dead now.
	for _, l := range m.leases {
		if held[l.token] {
			l.broken = true
		}
	}
	m.note("break glass %s: %v %s", role, respData(resp), short(errText(resp, err)))
}

func (m *model) restart() {
	m.e.b.Cleanup(context.Background())
	m.e.restart()
	m.fastRetries()
	m.note("restart")
}

// fastRetries keeps Salesforce's retries but not their real-time backoff:
// the sequence runs on a fake clock.
func (m *model) fastRetries() {
	m.e.b.clients.retry = &retryPolicy{MaxAttempts: defaultRetryPolicy.MaxAttempts, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
}

func (m *model) rewriteConnection() {
	ri := []string{"30s", "60s", "90s"}[m.rng.IntN(3)]
	m.e.connection(map[string]interface{}{"login_url": m.lossy.srv.URL, "ca_cert": pemOf(m.lossy.srv), "reuse_interval": ri})
	m.note("rewrite connection (reuse_interval=%s)", ri)
}

func (m *model) deleteRole() {
	name := modelRoles[m.rng.IntN(len(modelRoles))].name
	if m.rng.IntN(2) == 0 {
		m.e.mustOK(logical.DeleteOperation, "roles/"+name, nil)
		m.note("delete role %s", name)
		return
	}
	m.writeRole(name)
	m.note("write role %s", name)
}

func (m *model) setFaults() {
	f := sfemu.Faults{Seed: m.rng.Uint64()}
	lose := false
	switch m.rng.IntN(5) {
	case 0:
		f.RevokeFailureRate = 0.5
	case 1:
		f.RevokeFailureRate = 1
	case 2:
		f.TokenFailureRate = 0.3
	case 3:
		lose = true
	}
	m.faults = f
	m.e.emu.SetFaults(f)
	m.lossy.losing.Store(lose)
	m.note("faults: revoke %.1f, token %.1f, token answers lost %v", f.RevokeFailureRate, f.TokenFailureRate, lose)
}

func (m *model) check() {
	m.t.Helper()
	now := m.e.clock.Now()
	for _, l := range m.live() {
		if !l.broken && now.Before(l.expires) && !m.e.active(l.token) {
			m.fail("live lease %d (role %s, until %s) holds token %s, which is dead at salesforce",
				l.id, l.role, l.expires.Format("15:04:05"), short(l.token))
		}
	}
	known := map[string]bool{}
	for _, v := range m.e.b.ledger.Sessions() {
		known[v.ID] = true
	}
	held := map[string]bool{}
	for _, l := range m.live() {
		held[ledger.TokenID(l.token)] = true
	}
	// A grant whose answer was lost is covered by its WAL entry until
	// rollback ends the session.
	covered := len(m.wal(false)) > 0
	for _, s := range liveSessions(m.e.emu) {
		if !known[s.TokenSHA256] && !held[s.TokenSHA256] && !covered {
			m.fail("a token of %s is alive at salesforce, held by no live lease and unknown to the ledger: nothing will end it", s.Username)
		}
	}
}

// quiesce stops the faults and lets every lease expire: then nothing may
// be left alive, and the ledger must be empty.
func (m *model) quiesce() {
	m.e.emu.SetFaults(sfemu.Faults{})
	m.lossy.losing.Store(false)
	m.note("quiesce")
	for i := 0; i < 4; i++ {
		m.advance(time.Hour + sweepGrace)
		m.rollback(true)
		m.sweep()
	}
	if n := len(m.wal(true)); n != 0 {
		m.fail("%d WAL entries left after rollback could succeed", n)
	}
	for _, l := range m.leases {
		if !l.revoked {
			m.fail("lease %d is still live after every revocation could succeed", l.id)
		}
	}
	if live := liveSessions(m.e.emu); len(live) != 0 {
		m.fail("%d token(s) alive at salesforce after every lease ended", len(live))
	}
	if v := m.e.b.ledger.Sessions(); len(v) != 0 {
		m.fail("the ledger still holds %d token(s) after every lease ended: %+v", len(v), v)
	}
}

// wal lists the grant WAL entries, or only those Vault would roll back
// now (older than walRollbackMinAge) when due is set.
func (m *model) wal(due bool) map[string]*framework.WALEntry {
	ctx := context.Background()
	ids, err := framework.ListWAL(ctx, m.e.storage)
	if err != nil {
		m.fail("listing the WAL: %v", err)
	}
	out := map[string]*framework.WALEntry{}
	for _, id := range ids {
		entry, err := framework.GetWAL(ctx, m.e.storage, id)
		if err != nil || entry == nil {
			continue
		}
		if !due || m.e.clock.Now().Sub(time.Unix(0, entry.CreatedAt)) >= walRollbackMinAge {
			out[id] = entry
		}
	}
	return out
}

// rollback does what Vault's rollback manager does with due entries: roll
// each back and delete it once that succeeded.
func (m *model) rollback(all bool) {
	ctx := context.Background()
	for id, entry := range m.wal(!all) {
		err := m.e.b.walRollback(ctx, &logical.Request{Storage: m.e.storage}, entry.Kind, entry.Data)
		if err == nil {
			err = framework.DeleteWAL(ctx, m.e.storage, id)
		}
		m.note("rollback: %v", err)
	}
}

func respData(resp *logical.Response) interface{} {
	if resp == nil {
		return nil
	}
	return resp.Data
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// lossyFront stands between the plugin and the emulator and, while losing,
// lets Salesforce grant but drops the answer: the grant's outcome is
// unknown to the plugin.
type lossyFront struct {
	srv    *httptest.Server
	emu    http.Handler
	losing atomic.Bool
}

func newLossyFront(t testing.TB, emu *sfemu.Emulator) *lossyFront {
	f := &lossyFront{emu: emu}
	f.srv = httptest.NewTLSServer(f)
	t.Cleanup(f.srv.Close)
	emu.SetBaseURL(f.srv.URL)
	return f
}

func (f *lossyFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.losing.Load() || r.URL.Path != tokenPath {
		f.emu.ServeHTTP(w, r)
		return
	}
	f.emu.ServeHTTP(httptest.NewRecorder(), r)
	panic(http.ErrAbortHandler)
}
