package salesforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// The ledger records which leases hold which Salesforce token. Salesforce
// hands every grant for one app and user the same token while the session
// lives, so a lease may end the token at Salesforce only when it is the last
// holder. Storage is the durable truth; memory mirrors it so that the hot
// path (a read that reuses a live token) costs one small Put and no list.
const (
	ledgerPrefix       = "ledger/"
	ledgerTokenPrefix  = ledgerPrefix + "tokens/"
	ledgerHolderPrefix = ledgerPrefix + "holders/"
)

// tokenRecord is everything revocation needs, so that a lease still ends its
// token after its role or connection is changed or deleted.
type tokenRecord struct {
	ID          string    `json:"id"`
	AccessToken string    `json:"access_token"`
	UserKey     string    `json:"user_key"`
	Connection  string    `json:"connection"`
	Username    string    `json:"username,omitempty"`
	LoginURL    string    `json:"login_url"`
	CACert      string    `json:"ca_cert,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

type holderRecord struct {
	ExpiresAt time.Time `json:"expires_at"`
	Role      string    `json:"role,omitempty"`
}

type tokenState struct {
	rec     *tokenRecord
	holders map[string]time.Time // holder ID -> lease expiry
	// revoking is set once the token has lost its last holder (or is being
	// swept or broken): from then on it is never handed to a new lease.
	revoking bool
}

// cachedGrant is a user's last grant through one connection, handed to new
// leases of that connection without asking Salesforce again until reuseFor
// has passed. It is kept per connection so that a connection whose own
// credentials Salesforce refuses never hands out a token another got.
type cachedGrant struct {
	tokenID    string
	connection string
	resp       *tokenResponse
	grantedAt  time.Time
	reuseFor   time.Duration
}

// userState serialises grants and last-holder revocations of one app and
// user, so that a token just granted is never revoked under a new holder.
// Lock order: userState.lock before ledger.mu, never the reverse.
type userState struct {
	lock   sync.Mutex
	grants map[string]*cachedGrant // by connection name; guarded by ledger.mu
}

type ledger struct {
	b   *backend
	now func() time.Time

	mu      sync.Mutex
	loaded  bool
	tokens  map[string]*tokenState
	users   map[string]*userState
	holders *holderStore
}

func newLedger(b *backend) *ledger {
	return &ledger{
		b:       b,
		now:     time.Now,
		tokens:  map[string]*tokenState{},
		users:   map[string]*userState{},
		holders: newHolderStore(),
	}
}

func tokenID(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return hex.EncodeToString(sum[:])
}

func (l *ledger) user(key string) *userState {
	l.mu.Lock()
	defer l.mu.Unlock()
	us, ok := l.users[key]
	if !ok {
		us = &userState{grants: map[string]*cachedGrant{}}
		l.users[key] = us
	}
	return us
}

// markStale makes the next use reload from storage: another node wrote it.
func (l *ledger) markStale() {
	l.mu.Lock()
	l.loaded = false
	l.mu.Unlock()
}

// forgetConnection drops cached grants made through a connection that was
// just rewritten: the next read asks Salesforce with the new settings.
func (l *ledger) forgetConnection(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, us := range l.users {
		delete(us.grants, name)
	}
}

func (l *ledger) ensureLoaded(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded {
		return nil
	}
	hs := newHolderStore()
	tokens, err := loadLedger(ctx, s, hs)
	if err != nil {
		return err
	}
	l.tokens, l.holders = tokens, hs
	for _, us := range l.users {
		clear(us.grants)
	}
	l.loaded = true
	return nil
}

func loadLedger(ctx context.Context, s logical.Storage, hs *holderStore) (map[string]*tokenState, error) {
	ids, err := s.List(ctx, ledgerTokenPrefix)
	if err != nil {
		return nil, fmt.Errorf("error listing the token ledger: %w", err)
	}
	tokens := make(map[string]*tokenState, len(ids))
	for _, id := range ids {
		entry, err := s.Get(ctx, ledgerTokenPrefix+id)
		if err != nil {
			return nil, fmt.Errorf("error reading ledger token %s: %w", id, err)
		}
		if entry == nil {
			continue
		}
		var rec tokenRecord
		if err := entry.DecodeJSON(&rec); err != nil {
			return nil, fmt.Errorf("error decoding ledger token %s: %w", id, err)
		}
		holders, err := hs.load(ctx, s, id)
		if err != nil {
			return nil, err
		}
		tokens[id] = &tokenState{rec: &rec, holders: holders}
	}
	return tokens, nil
}

// holdCurrent is the hot path: when the user's last grant may still be
// reused, it registers a new holder in memory and returns the grant. The
// caller must persist the holder with persistHolder, or release it on failure.
func (l *ledger) holdCurrent(key, connection, hid string, expires time.Time) *cachedGrant {
	l.mu.Lock()
	defer l.mu.Unlock()
	us := l.users[key]
	if us == nil {
		return nil
	}
	cur := us.grants[connection]
	if cur == nil {
		return nil
	}
	ts := l.tokens[cur.tokenID]
	if ts == nil || ts.revoking || l.now().Sub(cur.grantedAt) >= cur.reuseFor {
		return nil
	}
	ts.holders[hid] = expires
	return cur
}

// addToken records a granted token (durably first, when it is new) and
// makes it the user's current grant. Called with the user's lock held.
func (l *ledger) addToken(ctx context.Context, s logical.Storage, rec *tokenRecord, g *cachedGrant) error {
	l.mu.Lock()
	_, known := l.tokens[rec.ID]
	l.mu.Unlock()
	if !known {
		entry, err := logical.StorageEntryJSON(ledgerTokenPrefix+rec.ID, rec)
		if err != nil {
			return fmt.Errorf("error encoding ledger token: %w", err)
		}
		if err := s.Put(ctx, entry); err != nil {
			return fmt.Errorf("error recording the granted token in the ledger: %w", err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ts, ok := l.tokens[rec.ID]
	if !ok {
		ts = &tokenState{rec: rec, holders: map[string]time.Time{}}
		l.tokens[rec.ID] = ts
	}
	ts.revoking = false
	l.users[rec.UserKey].grants[g.connection] = g
	return nil
}

// addHolder registers a holder in memory; persistHolder makes it durable.
func (l *ledger) addHolder(tid, hid string, expires time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[tid]
	if ts == nil {
		return false
	}
	ts.holders[hid] = expires
	return true
}

// token returns a copy-safe view of a token's record, or nil if the ledger
// no longer knows it (revoked, swept, or never recorded).
func (l *ledger) token(tid string) *tokenRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.tokens[tid]; ts != nil {
		return ts.rec
	}
	return nil
}

// dropHolder removes a holder from memory and reports whether the token now
// has none; if so it is marked revoking and stops being handed out. Called
// with the user's lock held.
func (l *ledger) dropHolder(tid, hid string) (rec *tokenRecord, last bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[tid]
	if ts == nil {
		return nil, false
	}
	delete(ts.holders, hid)
	if len(ts.holders) > 0 {
		return ts.rec, false
	}
	l.retireLocked(ts)
	return ts.rec, true
}

// retireLocked stops a token from being handed out. l.mu must be held.
func (l *ledger) retireLocked(ts *tokenState) {
	ts.revoking = true
	if us := l.users[ts.rec.UserKey]; us != nil {
		for conn, g := range us.grants {
			if g.tokenID == ts.rec.ID {
				delete(us.grants, conn)
			}
		}
	}
}

// forget removes a revoked token and its holders, durably. Called with the
// user's lock held, after Salesforce confirmed the revocation.
func (l *ledger) forget(ctx context.Context, s logical.Storage, tid string) error {
	if err := l.store().dropToken(ctx, s, tid); err != nil {
		return err
	}
	if err := s.Delete(ctx, ledgerTokenPrefix+tid); err != nil {
		return fmt.Errorf("error removing a revoked token from the ledger: %w", err)
	}
	l.mu.Lock()
	delete(l.tokens, tid)
	l.mu.Unlock()
	return nil
}

func (l *ledger) store() *holderStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holders
}

// persistHolder makes a holder durable, committed together with concurrent
// reads' holders.
func (l *ledger) persistHolder(ctx context.Context, s logical.Storage, tid, hid string, h holderRecord) error {
	return l.store().persist(ctx, s, tid, hid, h)
}

// removeHolder durably removes a holder; called with the user's lock held.
func (l *ledger) removeHolder(ctx context.Context, s logical.Storage, hid string) error {
	if err := l.store().remove(ctx, s, hid); err != nil {
		return fmt.Errorf("error removing the lease from the token ledger: %w", err)
	}
	return nil
}

// tokensOf lists the IDs of the tokens recorded for a user.
func (l *ledger) tokensOf(key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, ts := range l.tokens {
		if ts.rec.UserKey == key {
			ids = append(ids, id)
		}
	}
	return ids
}

// unheld lists a user's tokens that no lease holds any more: they await a
// revocation that failed or was lost.
func (l *ledger) unheld(key string) []*tokenRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []*tokenRecord
	for _, ts := range l.tokens {
		if ts.rec.UserKey == key && len(ts.holders) == 0 {
			l.retireLocked(ts)
			recs = append(recs, ts.rec)
		}
	}
	return recs
}

// extendHolder moves a holder's expiry; false when the token is gone.
func (l *ledger) extendHolder(tid, hid string, expires time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[tid]
	if ts == nil || ts.revoking {
		return false
	}
	if _, ok := ts.holders[hid]; !ok {
		return false
	}
	ts.holders[hid] = expires
	return true
}

// retire stops a token from being handed out and reports how many leases
// held it, for break glass and the sweep. Called with the user's lock held.
func (l *ledger) retire(tid string) (*tokenRecord, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[tid]
	if ts == nil {
		return nil, 0
	}
	l.retireLocked(ts)
	return ts.rec, len(ts.holders)
}

// expired lists tokens whose holders have all been expired for grace, and
// tokens no holder took within grace of being recorded.
func (l *ledger) expired(now time.Time, grace time.Duration) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, ts := range l.tokens {
		if ts.expiredLocked(now, grace) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (l *ledger) retireIfExpired(tid string, now time.Time, grace time.Duration) (*tokenRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[tid]
	if ts == nil || !ts.expiredLocked(now, grace) {
		return nil, false
	}
	l.retireLocked(ts)
	return ts.rec, true
}

func (ts *tokenState) expiredLocked(now time.Time, grace time.Duration) bool {
	if len(ts.holders) == 0 {
		return now.Sub(ts.rec.CreatedAt) > grace
	}
	for _, exp := range ts.holders {
		if now.Sub(exp) <= grace {
			return false
		}
	}
	return true
}
