package salesforce

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

const (
	roleStoragePrefix = "roles/"

	grantJWTBearer         = "jwt_bearer"
	grantClientCredentials = "client_credentials"
	// grantAuthorizationCode roles act as a person who consented once
	// (authorizations/<name>): tokens come from the refresh token.
	grantAuthorizationCode = "authorization_code"
)

// role maps a Vault path to one Salesforce user of one connection, and bounds
// what a token read through it may carry and for how long.
type role struct {
	Name       string `json:"-"`
	Connection string `json:"connection"`
	GrantType  string `json:"grant_type"`
	Username   string `json:"username,omitempty"`
	// Authorization names the person's consent (authorization_code roles).
	Authorization string        `json:"authorization,omitempty"`
	Scopes        []string      `json:"scopes,omitempty"`
	TTL           time.Duration `json:"ttl,omitempty"`
	MaxTTL        time.Duration `json:"max_ttl,omitempty"`
}

func getRole(ctx context.Context, s logical.Storage, name string) (*role, error) {
	entry, err := s.Get(ctx, roleStoragePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("error reading role %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var r role
	if err := entry.DecodeJSON(&r); err != nil {
		return nil, fmt.Errorf("error decoding role %q: %w", name, err)
	}
	r.Name = name
	if r.GrantType == "" {
		r.GrantType = grantJWTBearer
	}
	return &r, nil
}

func putRole(ctx context.Context, s logical.Storage, r *role) error {
	entry, err := logical.StorageEntryJSON(roleStoragePrefix+r.Name, r)
	if err != nil {
		return fmt.Errorf("error encoding role %q: %w", r.Name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing role %q: %w", r.Name, err)
	}
	return nil
}

// rolesUsingConnection lists the roles whose connection is name, so that a
// connection in use is not deleted from under them.
func (b *backend) rolesUsingConnection(ctx context.Context, s logical.Storage, name string) ([]string, error) {
	names, err := s.List(ctx, roleStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("error listing roles: %w", err)
	}
	var using []string
	for _, n := range names {
		r, err := getRole(ctx, s, n)
		if err != nil {
			return nil, err
		}
		if r != nil && r.Connection == name {
			using = append(using, n)
		}
	}
	sort.Strings(using)
	return using, nil
}

// scopeImplies lists scopes a ceiling entry also allows: Salesforce reports
// the identity scopes and the offline alias under their own names.
var scopeImplies = map[string][]string{
	"id":            {"profile", "email", "address", "phone", "openid"},
	"refresh_token": {"offline_access"},
	"openid":        {"profile", "email", "address", "phone"},
}

// accept checks a token answer against the role's scope ceiling, for the
// ledger, before any lease of it is recorded.
func (r *role) accept(a *ledger.Answer) error {
	if extra := scopesOutside(a.Scope, r.Scopes); len(extra) > 0 {
		return ceilingError{role: r.Name, extra: extra}
	}
	return nil
}

// scopesOutside returns the granted scopes the ceiling does not allow. An
// empty ceiling is no ceiling (the role's write warned about it); "full" in
// the ceiling allows everything, as it does at Salesforce.
func scopesOutside(granted string, ceiling []string) []string {
	if len(ceiling) == 0 {
		return nil
	}
	allowed := map[string]bool{}
	for _, c := range ceiling {
		c = strings.ToLower(c)
		if c == "full" {
			return nil
		}
		allowed[c] = true
		for _, imp := range scopeImplies[c] {
			allowed[imp] = true
		}
	}
	if allowed["offline_access"] {
		allowed["refresh_token"] = true
	}
	var extra []string
	for _, g := range strings.Fields(granted) {
		if !allowed[strings.ToLower(g)] {
			extra = append(extra, g)
		}
	}
	return extra
}
