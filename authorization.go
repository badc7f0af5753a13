package salesforce

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// authorizationStoragePrefix holds one entry per user authorization; it
// holds refresh tokens and is seal-wrapped.
const authorizationStoragePrefix = "authorizations/"

// Authorization states.
const (
	authPending        = "pending"         // started; the person has not consented yet
	authActive         = "active"          // a refresh token is held; roles read tokens
	authReauthRequired = "reauth_required" // Salesforce refuses the refresh token; start again
	authRevoking       = "revoking"        // deleted; the refresh token's revocation is being retried
)

// authorization is one person's consent, as stored at
// authorizations/<name>: the refresh token that lives as long as the
// consent, and who it is for. The refresh token never leaves Vault.
type authorization struct {
	Name         string `json:"-"`
	Connection   string `json:"connection"`
	Status       string `json:"status"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// Rotating is set once a refresh answered a new refresh token: from
	// then on a refresh whose outcome is unknown may have rotated the
	// token out, and must not be retried with it.
	Rotating bool `json:"rotating,omitempty"`

	Username    string    `json:"username,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	OrgID       string    `json:"organization_id,omitempty"`
	InstanceURL string    `json:"instance_url,omitempty"`
	IdentityURL string    `json:"identity_url,omitempty"`
	Scope       string    `json:"scope,omitempty"`
	Created     time.Time `json:"created"`
	Authorized  time.Time `json:"authorized,omitzero"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	LastError   string    `json:"last_error,omitempty"`

	// Generation changes with every consent: tokens refreshed from an
	// earlier consent are never handed out again.
	Generation uint64 `json:"generation,omitempty"`
	// Retired are refresh tokens of earlier consents (or of a delete)
	// whose revocation at Salesforce is still owed.
	Retired []string `json:"retired,omitempty"`

	// Where the refresh token is revoked, should the connection change.
	ClientID string `json:"client_id,omitempty"`
	LoginURL string `json:"login_url,omitempty"`
	CACert   string `json:"ca_cert,omitempty"`
}

func getAuthorization(ctx context.Context, s logical.Storage, name string) (*authorization, error) {
	entry, err := s.Get(ctx, authorizationStoragePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("error reading authorization %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var a authorization
	if err := entry.DecodeJSON(&a); err != nil {
		return nil, fmt.Errorf("error decoding authorization %q: %w", name, err)
	}
	a.Name = name
	return &a, nil
}

func putAuthorization(ctx context.Context, s logical.Storage, a *authorization) error {
	entry, err := logical.StorageEntryJSON(authorizationStoragePrefix+a.Name, a)
	if err != nil {
		return fmt.Errorf("error encoding authorization %q: %w", a.Name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing authorization %q: %w", a.Name, err)
	}
	return nil
}

// unusable says why a role of this authorization cannot read a token now,
// and what to do; "" when it can.
func (a *authorization) unusable() string {
	restart := fmt.Sprintf("authorizations/%s/start connection=%s (mount-relative)", a.Name, a.Connection)
	switch a.Status {
	case authActive:
		return ""
	case authPending:
		return fmt.Sprintf("authorization %q is pending: the person has not consented yet; open the authorize_url answered by start, or start again with: %s", a.Name, restart)
	case authReauthRequired:
		return fmt.Sprintf("authorization %q must be renewed (%s); the person re-authorizes with: %s", a.Name, a.LastError, restart)
	case authRevoking:
		return fmt.Sprintf("authorization %q was deleted; its revocation at salesforce is being retried", a.Name)
	}
	return fmt.Sprintf("authorization %q is in an unknown state %q", a.Name, a.Status)
}
