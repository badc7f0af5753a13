package sfemu

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// defaultMaxApprovals: Salesforce keeps five approvals per user and app;
// the sixth revokes the oldest.
const defaultMaxApprovals = 5

// PKCE mismatch error codes: observed on real orgs, and documented.
const (
	pkceMismatchObserved   = "invalid_grant"
	pkceMismatchDocumented = "invalid_request"
)

// RefreshTokenPolicy is the Connected App's refresh token policy. Empty
// means "Refresh token is valid until revoked" (Salesforce's default); at
// most one of the two fields may be set, as the setting is one choice.
type RefreshTokenPolicy struct {
	// ExpireAfterSeconds: "Expire refresh token after": a refresh token
	// stops working this long after it was issued.
	ExpireAfterSeconds int `json:"expire_after_seconds,omitempty"`
	// IdleSeconds: "Expire refresh token if not used for": a sliding
	// window that every use of the token restarts.
	IdleSeconds int `json:"idle_seconds,omitempty"`
}

func (p RefreshTokenPolicy) validate() error {
	if p.ExpireAfterSeconds < 0 || p.IdleSeconds < 0 {
		return fmt.Errorf("'refresh_token_policy' seconds cannot be negative (expire_after_seconds %d, idle_seconds %d)", p.ExpireAfterSeconds, p.IdleSeconds)
	}
	if p.ExpireAfterSeconds > 0 && p.IdleSeconds > 0 {
		return errors.New("'refresh_token_policy' takes one of 'expire_after_seconds' and 'idle_seconds', not both")
	}
	return nil
}

// String names the policy as the admin API and docs do.
func (p RefreshTokenPolicy) String() string {
	switch {
	case p.ExpireAfterSeconds > 0:
		return fmt.Sprintf("expire_after_seconds %d", p.ExpireAfterSeconds)
	case p.IdleSeconds > 0:
		return fmt.Sprintf("idle_seconds %d", p.IdleSeconds)
	}
	return "valid_until_revoked"
}

// expired reports whether a refresh token issued at issued and last used
// at lastUsed has outlived the policy at now.
func (p RefreshTokenPolicy) expired(issued, lastUsed, now time.Time) bool {
	switch {
	case p.ExpireAfterSeconds > 0:
		return now.Sub(issued) >= time.Duration(p.ExpireAfterSeconds)*time.Second
	case p.IdleSeconds > 0:
		return now.Sub(lastUsed) >= time.Duration(p.IdleSeconds)*time.Second
	}
	return false
}

// validateWebFlow checks the web server flow settings of an app.
func (a *App) validateWebFlow() error {
	for _, c := range a.CallbackURLs {
		u, err := url.Parse(c)
		if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") || u.Fragment != "" || strings.TrimSpace(c) != c {
			return fmt.Errorf("'callback_urls' entry %q is not an absolute URL without a fragment, such as https://vault.example.com/v1/salesforce/callback", c)
		}
	}
	if a.RequireSecretForWebServerFlow && a.ClientSecret == "" {
		return errors.New("'require_secret_for_web_server_flow' needs a 'client_secret'")
	}
	return a.RefreshTokenPolicy.validate()
}

func (a *appState) maxApprovals() int {
	if a.MaxApprovalsPerUser == 0 {
		return defaultMaxApprovals
	}
	return a.MaxApprovalsPerUser
}

func (a *appState) callbackRegistered(uri string) bool {
	return contains(a.CallbackURLs, uri)
}

// grantedScope is what a consent grants: the requested scopes the app
// offers (offline_access stands for refresh_token), in the order asked,
// or the app's whole set when nothing is asked. A scope the app does not
// offer is dropped rather than refused, so that the emulator is never
// stricter than Salesforce.
func (a *appState) grantedScope(requested string) string {
	offered := strings.Fields(a.Scopes)
	if strings.TrimSpace(requested) == "" {
		return strings.Join(offered, " ")
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		ok := contains(offered, s) ||
			s == "offline_access" && contains(offered, "refresh_token") ||
			s == "refresh_token" && contains(offered, "offline_access")
		if ok && !contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// offline reports whether a granted scope earns a refresh token.
func offline(scope string) bool {
	f := strings.Fields(scope)
	return contains(f, "refresh_token") || contains(f, "offline_access")
}

func validPKCEMismatch(code string) error {
	switch code {
	case "", pkceMismatchObserved, pkceMismatchDocumented:
		return nil
	}
	return fmt.Errorf("'pkce_mismatch_error' %q must be %q or %q", code, pkceMismatchObserved, pkceMismatchDocumented)
}
