package sfemu

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

const (
	// defaultOrgID is a well-formed 18-character org id; tokens carry its
	// first 15 characters, as Salesforce's do.
	defaultOrgID = "00D5g000004XyZaEAK"

	// defaultSessionTimeout is Salesforce's default session timeout (2 h).
	defaultSessionTimeout = 7200

	// defaultLoginRateLimit is Salesforce's per-user login budget per hour.
	defaultLoginRateLimit = 3600

	// maxCertificateBytes: a Connected App refuses certificates above 4 KB.
	maxCertificateBytes = 4096
)

// Config is the emulated org: its id, the audiences its token endpoint
// accepts, its session policy and its Connected Apps.
type Config struct {
	OrgID string `json:"org_id"`
	// OrgName is the Organization record's Name (default "sfemu Emulated Org").
	OrgName string `json:"org_name,omitempty"`
	// Audiences are the JWT aud values accepted besides the emulator's own
	// URL, e.g. https://login.salesforce.com; a trailing slash is dropped.
	Audiences []string `json:"audiences"`
	// AcceptOwnURL defaults to true: the emulator's base URL is accepted
	// as aud, as an org accepts its My Domain. False leaves Audiences
	// alone, as Salesforce documents the flow.
	AcceptOwnURL          *bool `json:"accept_own_url,omitempty"`
	SessionTimeoutSeconds int   `json:"session_timeout_seconds"`
	// ReuseSessions defaults to true (Salesforce's behaviour); false issues
	// a new token per grant so that tests can cover both worlds.
	ReuseSessions *bool `json:"reuse_sessions"`
	Apps          []App `json:"apps"`

	// InactiveOrg makes every grant fail with inactive_org (org locked,
	// closed or suspended).
	InactiveOrg bool `json:"inactive_org,omitempty"`
	// LoginRateLimitPerHour is the per-user grant budget; 0 means 3600,
	// a negative value disables the limit (for load tests).
	LoginRateLimitPerHour int `json:"login_rate_limit_per_hour,omitempty"`
	// PKCEMismatchError is the error code of a code_verifier that does not
	// match its challenge: "invalid_grant" (default, what real orgs answer)
	// or "invalid_request" (what Salesforce's REST API guide documents).
	PKCEMismatchError string `json:"pkce_mismatch_error,omitempty"`
}

// App is a Connected App (or External Client App).
type App struct {
	ClientID       string `json:"client_id"`
	CertificatePEM string `json:"certificate_pem,omitempty"`
	PublicKeyPEM   string `json:"public_key_pem,omitempty"`
	ClientSecret   string `json:"client_secret,omitempty"`
	// RunAs is the username of the client-credentials Run As user; empty
	// means the flow is not enabled for the app.
	RunAs  string `json:"run_as,omitempty"`
	Scopes string `json:"scopes"`
	Users  []User `json:"users"`

	// AdminApprovedOnly is the "Admin approved users are pre-authorized"
	// policy: a user without approval gets invalid_app_access instead of
	// "user hasn't approved this consumer".
	AdminApprovedOnly bool `json:"admin_approved_only,omitempty"`
	// NotInstalled makes the app answer app_not_found, as an External
	// Client App that is not installed in this org.
	NotInstalled bool `json:"not_installed,omitempty"`

	// The web server (authorization code) flow; see webflow_config.go.

	// CallbackURLs are the app's registered callback URLs; a redirect_uri
	// must equal one of them exactly. None means the flow cannot start.
	CallbackURLs []string `json:"callback_urls,omitempty"`
	// RequireSecretForWebServerFlow: the code exchange and refreshes must
	// carry the consumer secret. Off, a secret is still checked when sent.
	RequireSecretForWebServerFlow bool `json:"require_secret_for_web_server_flow,omitempty"`
	// RefreshTokenRotation: each refresh answers a new refresh token and
	// ends the one used; reusing an ended one revokes its whole family.
	RefreshTokenRotation bool `json:"refresh_token_rotation,omitempty"`
	// RefreshTokenPolicy: absent or empty means valid until revoked.
	RefreshTokenPolicy RefreshTokenPolicy `json:"refresh_token_policy,omitempty"`
	// MaxApprovalsPerUser is how many live authorizations (refresh token
	// families) one user may hold for the app; the next one revokes the
	// oldest. 0 means Salesforce's 5; negative means no limit.
	MaxApprovalsPerUser int `json:"max_approvals_per_user,omitempty"`
}

// User is a Salesforce user as far as one app is concerned. In JSON,
// approved and active default to true when absent.
type User struct {
	Username string `json:"username"`
	UserID   string `json:"user_id"`
	Approved bool   `json:"approved"`
	Active   bool   `json:"active"`
	// IPRestricted makes grants fail with "IP restricted or invalid login
	// hours", as a profile's login IP ranges or hours would.
	IPRestricted bool `json:"ip_restricted,omitempty"`
}

// UnmarshalJSON defaults approved and active to true: a config file lists
// the users that work, and says so only for those that must not.
func (u *User) UnmarshalJSON(b []byte) error {
	type plain User
	p := plain{Approved: true, Active: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*u = User(p)
	return nil
}

// DefaultConfig is what the binary runs without -config: one app with a
// client secret and a Run As user, and no certificate yet, so that the demo
// uploads the certificate Vault generates.
func DefaultConfig() Config {
	return Config{
		OrgID:                 defaultOrgID,
		Audiences:             []string{"https://login.salesforce.com", "https://test.salesforce.com"},
		SessionTimeoutSeconds: defaultSessionTimeout,
		Apps: []App{{ //nolint:gosec // G101: the emulator's published demo app, documented in docs/emulator.md
			ClientID:     "3MVG9sfemuDemoConsumerKey",
			ClientSecret: "sfemu-demo-consumer-secret",
			RunAs:        "integration@example.com",
			Scopes:       "api web refresh_token",
			Users: []User{
				{Username: "demo@example.com", UserID: "005000000000001AAA", Approved: true, Active: true},
				{Username: "integration@example.com", UserID: "005000000000002AAA", Approved: true, Active: true},
			},
		}},
	}
}

// LoadConfig reads a JSON config file; unknown fields are refused so that
// a typo does not silently change the emulated org.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the config file
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("parsing config %q: %w", path, err)
	}
	return c, nil
}

func (c *Config) reuse() bool { return c.ReuseSessions == nil || *c.ReuseSessions }

func (c *Config) acceptOwnURL() bool { return c.AcceptOwnURL == nil || *c.AcceptOwnURL }

func validOrgID(id string) bool {
	if len(id) != 15 && len(id) != 18 || !strings.HasPrefix(id, "00D") {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isBase62(id[i]) {
			return false
		}
	}
	return true
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// appState is an App with its verification key parsed once.
type appState struct {
	App
	key *rsa.PublicKey
}

func newAppState(a App) (*appState, error) {
	if a.ClientID == "" {
		return nil, errors.New("app 'client_id' is empty")
	}
	s := &appState{App: a}
	s.Users = append([]User(nil), a.Users...)
	for i := range s.Users {
		if s.Users[i].Username == "" {
			return nil, fmt.Errorf("app %q has a user with an empty 'username'", a.ClientID)
		}
		if s.Users[i].UserID == "" {
			s.Users[i].UserID = derivedUserID(s.Users[i].Username)
		}
	}
	if err := a.validateWebFlow(); err != nil {
		return nil, fmt.Errorf("app %q: %w", a.ClientID, err)
	}
	s.CallbackURLs = append([]string(nil), a.CallbackURLs...)
	var err error
	switch {
	case a.CertificatePEM != "":
		s.key, err = parseVerificationKey(a.CertificatePEM)
	case a.PublicKeyPEM != "":
		s.key, err = parseVerificationKey(a.PublicKeyPEM)
	}
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", a.ClientID, err)
	}
	return s, nil
}

func (a *appState) user(username string) (User, bool) {
	for _, u := range a.Users {
		if u.Username == username {
			return u, true
		}
	}
	return User{}, false
}

// derivedUserID gives a stable 18-character user id to users configured
// without one.
func derivedUserID(username string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(username))
	b := []byte("005")
	for i := 0; len(b) < 18; i++ {
		b = append(b, alphabet[int(sum[i])%len(alphabet)])
	}
	return string(b)
}

// parseVerificationKey accepts what a Connected App can hold: an X.509
// certificate, or (for convenience) a bare RSA public key.
func parseVerificationKey(p string) (*rsa.PublicKey, error) {
	if len(p) > maxCertificateBytes {
		return nil, fmt.Errorf("certificate is %d bytes, more than the %d a Connected App accepts", len(p), maxCertificateBytes)
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("certificate is not PEM")
	}
	var pub any
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		pub = cert.PublicKey
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		pub = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		pub = k
	default:
		return nil, fmt.Errorf("PEM block %q is neither a certificate nor a public key", block.Type)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("key is not RSA: the JWT bearer flow accepts RS256 only")
	}
	return k, nil
}
