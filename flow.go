package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// flowStoragePrefix holds authorization flows in progress, by a hash of
	// their state; each holds a PKCE verifier and is seal-wrapped.
	flowStoragePrefix = "flows/"
	// flowTTL is how long a person has to consent: the authorize URL, its
	// state and its verifier are good for this long, once.
	flowTTL = 10 * time.Minute
)

// flow is one authorization in progress: what start promised, and the PKCE
// verifier only Vault knows. It is bound to whoever started it.
type flow struct {
	Authorization string    `json:"authorization"`
	Connection    string    `json:"connection"`
	Scopes        string    `json:"scopes"`
	BoundUsername string    `json:"bound_username,omitempty"`
	Verifier      string    `json:"verifier"`
	RedirectURI   string    `json:"redirect_uri"`
	EntityID      string    `json:"entity_id,omitempty"`
	Accessor      string    `json:"accessor,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// flowKey stores a flow under a hash of its state: storage never holds the
// state itself, which the browser carries.
func flowKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return flowStoragePrefix + hex.EncodeToString(sum[:])
}

// randomToken is 32 random bytes, base64url without padding (43 characters,
// within PKCE's 43 to 128).
func randomToken() (string, error) {
	var buf [32]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("error generating a random value: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf[:]), nil
}

// pkceChallenge is the S256 code challenge of a verifier (RFC 7636).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func putFlow(ctx context.Context, s logical.Storage, state string, f *flow) error {
	entry, err := logical.StorageEntryJSON(flowKey(state), f)
	if err != nil {
		return fmt.Errorf("error encoding an authorization flow: %w", err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing an authorization flow: %w", err)
	}
	return nil
}

func getFlow(ctx context.Context, s logical.Storage, key string) (*flow, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("error reading an authorization flow: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	var f flow
	if err := entry.DecodeJSON(&f); err != nil {
		return nil, fmt.Errorf("error decoding an authorization flow: %w", err)
	}
	return &f, nil
}

// errUnknownState: the state is not one Vault handed out, or it was used or
// it expired. The code that came with it is never redeemed.
var errUnknownState = errors.New("unknown, used or expired state: start the authorization again")

// takeFlow consumes the flow of state: a state is good once. check runs
// first and may refuse (the wrong caller) without consuming it. The caller
// holds the flow's lock.
func takeFlow(ctx context.Context, s logical.Storage, state string, now time.Time, check func(*flow) error) (*flow, error) {
	key := flowKey(state)
	f, err := getFlow(ctx, s, key)
	if err != nil {
		return nil, err
	}
	if f == nil || !now.Before(f.ExpiresAt) {
		return nil, errUnknownState
	}
	if err := check(f); err != nil {
		return nil, err
	}
	if err := s.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("error consuming an authorization flow: %w", err)
	}
	return f, nil
}

// sweepFlows deletes flows nobody finished.
func sweepFlows(ctx context.Context, s logical.Storage, now time.Time) (int, error) {
	keys, err := s.List(ctx, flowStoragePrefix)
	if err != nil {
		return 0, fmt.Errorf("error listing authorization flows: %w", err)
	}
	n := 0
	for _, k := range keys {
		f, err := getFlow(ctx, s, flowStoragePrefix+k)
		if err != nil || f == nil || now.Before(f.ExpiresAt) {
			continue
		}
		if err := s.Delete(ctx, flowStoragePrefix+k); err != nil {
			return n, fmt.Errorf("error deleting an expired authorization flow: %w", err)
		}
		n++
	}
	return n, nil
}
