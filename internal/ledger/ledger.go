package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/keylock"
)

// RevokeFunc ends a token at Salesforce. An already-invalid token counts as
// revoked (nil); any error leaves the ledger as it was.
type RevokeFunc func(ctx context.Context, rec *Record) error

// Options are the ledger's dependencies and policy.
type Options struct {
	Revoke RevokeFunc
	Logger hclog.Logger
	Now    func() time.Time

	// Grace is how long past its expiry a lease's holder is kept, and how
	// long a token may stay unheld, before the sweep acts: Vault revokes
	// expired leases itself, the sweep exists for what was lost.
	Grace time.Duration
	// ProvisionalTTL bounds a holder whose lease Vault may never have
	// registered (the response was lost): see confirm.go.
	ProvisionalTTL time.Duration
	// RegistrationMargin is how long after a read returned Vault may still
	// be registering its lease.
	RegistrationMargin time.Duration
}

// Defaults of Options.
const (
	DefaultGrace              = 30 * time.Second
	DefaultProvisionalTTL     = 5 * time.Minute
	DefaultRegistrationMargin = 10 * time.Second
)

// Ledger records which leases hold which Salesforce token. Salesforce hands
// every grant for one app and user the same token while the session lives,
// so a lease may end the token at Salesforce only as its last holder.
// Storage is the durable truth and memory mirrors it: every operation
// changes both, storage first, and a failed write changes neither.
//
// Lock order: a session lock (WithSession) before mu; the writer's lock is
// never held with mu. Storage and Salesforce are never called under mu.
type Ledger struct {
	opts  Options
	log   hclog.Logger
	now   func() time.Time
	epoch string // this instance's name on the holders it writes

	sessions keylock.Table
	writer   *writer

	mu     sync.Mutex
	loaded bool
	stale  bool
	tokens map[string]*token
	// grants are the answers handed to new leases without asking
	// Salesforce, by grant key (connection, flow, user).
	grants map[string]*cachedGrant
	// revoked names tokens revoked while a grant that started earlier may
	// still be in flight: such a grant's answer is dead.
	revoked  map[string]time.Time
	inflight grantsInFlight
	// answers follows this instance's holders until their leases must be
	// registered: see confirm.go.
	answers answers
	// epochs is, per writer of holders, the time up to which its holders
	// are known to belong to registered leases.
	epochs map[string]time.Time
}

// token is one access token in memory.
type token struct {
	rec     *Record
	holders map[string]*holder
	batches map[string]*batch
	// revoking: a revocation is running or owed; never handed out.
	revoking bool
	// revokedAt is set once Salesforce confirmed the revocation but the
	// ledger could not yet forget the token.
	revokedAt   time.Time
	unheldSince time.Time
	lastGrant   time.Time
	// failed counts last-holder revocations that failed since the token
	// was last held by more than one lease, with the last error.
	failed    int
	lastError string
}

// New returns an empty ledger; Load fills it.
func New(opts Options) *Ledger {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.ProvisionalTTL <= 0 {
		opts.ProvisionalTTL = DefaultProvisionalTTL
	}
	if opts.RegistrationMargin <= 0 {
		opts.RegistrationMargin = DefaultRegistrationMargin
	}
	l := &Ledger{opts: opts, log: opts.Logger, now: opts.Now, epoch: newEpoch()}
	l.writer = newWriter(l)
	l.reset()
	return l
}

func newEpoch() string {
	var buf [8]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(buf[:])
}

// reset empties what storage holds; what this instance knows of its own
// requests in flight (answers, inflight) stays.
func (l *Ledger) reset() {
	l.tokens = map[string]*token{}
	l.grants = map[string]*cachedGrant{}
	l.revoked = map[string]time.Time{}
	l.epochs = map[string]time.Time{}
	if l.answers.pending == nil {
		l.answers = newAnswers()
	}
}

// answeringLocked: a read recorded a holder and has not answered yet.
func (l *Ledger) answeringLocked() bool { return len(l.answers.pending) > 0 }

// SetClock replaces the clock; for tests.
func (l *Ledger) SetClock(now func() time.Time) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// Now is the ledger's clock.
func (l *Ledger) Now() time.Time {
	l.mu.Lock()
	now := l.now
	l.mu.Unlock()
	return now()
}

// MarkStale makes the next use reload from storage: another node wrote it.
func (l *Ledger) MarkStale() {
	l.mu.Lock()
	l.stale = true
	l.mu.Unlock()
}

// EnsureLoaded loads the ledger from storage if it was never loaded, or was
// marked stale and no holder of this instance is in flight (a reload then
// would lose it).
func (l *Ledger) EnsureLoaded(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	need := !l.loaded || (l.stale && !l.answeringLocked() && l.inflight.empty())
	l.mu.Unlock()
	if !need {
		return nil
	}
	tokens, epochs, err := load(ctx, s)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reset()
	l.tokens, l.epochs = tokens, epochs
	l.loaded, l.stale = true, false
	return nil
}

func load(ctx context.Context, s logical.Storage) (map[string]*token, map[string]time.Time, error) {
	ids, err := s.List(ctx, TokenPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("error listing the token ledger: %w", err)
	}
	tokens := make(map[string]*token, len(ids))
	for _, id := range ids {
		rec, err := getRecord(ctx, s, id)
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			continue
		}
		tok := newToken(rec)
		if err := loadBatches(ctx, s, tok); err != nil {
			return nil, nil, err
		}
		tok.revoking = rec.Pending != nil
		if len(tok.holders) == 0 {
			tok.unheldSince = rec.CreatedAt
		}
		tokens[id] = tok
	}
	epochs, err := loadEpochs(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return tokens, epochs, nil
}

func newToken(rec *Record) *token {
	return &token{rec: rec, holders: map[string]*holder{}, batches: map[string]*batch{}}
}

// lookup returns a token and its session key, or nil.
func (l *Ledger) lookup(tid string) (*token, SessionKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tok := l.tokens[tid]
	if tok == nil {
		return nil, SessionKey{}
	}
	return tok, tok.rec.Session
}

// retireLocked stops a token from being handed out. l.mu must be held.
func (l *Ledger) retireLocked(tok *token) {
	tok.revoking = true
	l.dropGrantsLocked(tok.rec.ID)
}

// dropGrantsLocked stops handing a token out without asking Salesforce:
// after a failed revocation nobody knows whether it still lives.
func (l *Ledger) dropGrantsLocked(tid string) {
	for key, g := range l.grants {
		if g.tid == tid {
			delete(l.grants, key)
		}
	}
}
