package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Storage layout. Everything lives under the mount's own storage view.
const (
	// Prefix is the ledger's whole storage.
	Prefix = "ledger/"
	// TokenPrefix holds one Record per token, at ledger/tokens/<token ID>.
	// It holds live access tokens: the backend seal-wraps it.
	TokenPrefix = Prefix + "tokens/"
	// HolderPrefix holds the leases of each token in batches, at
	// ledger/holders/<token ID>/<batch ID>.
	HolderPrefix = Prefix + "holders/"
	// EpochPrefix holds, per backend instance that wrote holders, how far
	// its holders are known to belong to leases Vault registered.
	EpochPrefix = Prefix + "epochs/"
)

// TokenID is the ledger's name for an access token: a hash, so that storage
// keys, logs and the operator's view never carry the token itself.
func TokenID(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return hex.EncodeToString(sum[:])
}

// SessionKey is a Salesforce session as Salesforce identifies it: the app
// (consumer key) and the org and user of the identity URL. Every grant for
// one app and user returns the same token while the session lives, whichever
// flow, connection or role asked, so this, not the role, is what grants and
// last-holder revocations are serialised on.
type SessionKey struct {
	ClientID string `json:"client_id"`
	OrgID    string `json:"org_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
}

// NewSessionKey keys a session by its identity URL's org and user IDs,
// compared on their case-sensitive 15-character form (an 18-character ID is
// the 15-character one plus a checksum). Without an identity the token is a
// session of its own: nothing can be shared with what cannot be identified.
func NewSessionKey(clientID, orgID, userID, tokenID string) SessionKey {
	if orgID == "" || userID == "" {
		return SessionKey{ClientID: clientID, UserID: "token:" + tokenID}
	}
	return SessionKey{ClientID: clientID, OrgID: id15(orgID), UserID: id15(userID)}
}

func id15(id string) string {
	if len(id) == 18 {
		return id[:15]
	}
	return id
}

func (k SessionKey) String() string {
	return k.ClientID + "\x00" + k.OrgID + "\x00" + k.UserID
}

// Answer is what Salesforce answered a grant: handed to every lease that
// reuses it.
type Answer struct {
	AccessToken string
	Scope       string
	InstanceURL string
	ID          string
	TokenType   string
	IssuedAt    string
}

// Record is everything a revocation needs, so that a lease still ends its
// token after its role or connection is changed or deleted.
type Record struct {
	ID          string     `json:"id"`
	AccessToken string     `json:"access_token"`
	Session     SessionKey `json:"session"`
	Connection  string     `json:"connection"`
	Username    string     `json:"username,omitempty"`
	LoginURL    string     `json:"login_url"`
	CACert      string     `json:"ca_cert,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	// Pending is set while a revocation of this token is owed and failing:
	// the token is never handed out, and the sweep retries with backoff.
	Pending *Pending `json:"pending,omitempty"`

	// UserKey is the session key of records written before sessions were
	// keyed by identity; Load turns it into Session.
	UserKey string `json:"user_key,omitempty"`
}

// Why a revocation is owed.
const (
	ReasonUnheld     = "unheld"      // no lease took the token
	ReasonExpired    = "expired"     // its leases all expired without revoking it
	ReasonAbandoned  = "abandoned"   // the read that got it failed
	ReasonBreakGlass = "break_glass" // an operator asked to end it now
	ReasonRollback   = "rollback"    // a grant whose outcome was unknown
)

// Pending is an owed revocation that failed.
type Pending struct {
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	NextAttempt time.Time `json:"next_attempt"`
}

// backoff is the wait before the next attempt at an owed revocation: the
// sweep runs about once a minute, so the first retry is the next sweep and
// later ones are spread to an hour.
func backoff(attempts int) time.Duration {
	const first, ceiling = time.Minute, time.Hour
	d := first
	for i := 1; i < attempts && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// legacy gives records written before sessions were keyed by identity a
// session of their own key, so that they still serialise and revoke.
func (r *Record) legacy() {
	if r.Session.ClientID == "" && r.Session.UserID == "" {
		client, _, _ := strings.Cut(r.UserKey, "\x00")
		r.Session = SessionKey{ClientID: client, UserID: "legacy:" + r.UserKey}
	}
}

func putRecord(ctx context.Context, s logical.Storage, r *Record) error {
	entry, err := logical.StorageEntryJSON(TokenPrefix+r.ID, r)
	if err != nil {
		return fmt.Errorf("error encoding a ledger token: %w", err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing a token to the ledger: %w", err)
	}
	return nil
}

func getRecord(ctx context.Context, s logical.Storage, id string) (*Record, error) {
	entry, err := s.Get(ctx, TokenPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("error reading ledger token %s: %w", id, err)
	}
	if entry == nil {
		return nil, nil
	}
	var r Record
	if err := entry.DecodeJSON(&r); err != nil {
		return nil, fmt.Errorf("error decoding ledger token %s: %w", id, err)
	}
	r.ID = id
	r.legacy()
	return &r, nil
}
