package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const (
	// configStoragePrefix holds one entry per connection; it is seal-wrapped.
	configStoragePrefix = "config/"

	defaultLoginURL = "https://login.salesforce.com"

	// defaultReuseInterval is how long a granted token is handed to new
	// leases without asking Salesforce again. Salesforce would return the
	// same token anyway while the session lives; asking less often saves the
	// per-user login budget (3,600 an hour). The price: a token revoked
	// outside Vault can still be handed out for up to this long.
	defaultReuseInterval = 60 * time.Second
	maxReuseInterval     = time.Hour
)

// connection is one Salesforce Connected App (or External Client App) in one
// org, as stored at config/<name>. Secrets are write-only at the API.
type connection struct {
	Name                   string `json:"name"`
	LoginURL               string `json:"login_url"`
	ClientID               string `json:"client_id"`
	Audience               string `json:"audience,omitempty"`
	CACert                 string `json:"ca_cert,omitempty"`
	AllowNonSalesforceHost bool   `json:"allow_non_salesforce_host"`

	// PrivateKey is the PEM of the key that signs JWT bearer assertions.
	PrivateKey string `json:"private_key,omitempty"`
	// Certificate is the PEM certificate of PrivateKey when Vault generated
	// the key, so that an admin can fetch it again for the Connected App.
	Certificate  string `json:"certificate,omitempty"`
	KeyGenerated bool   `json:"key_generated,omitempty"`

	// PendingKey and PendingCertificate come from rotate-key: they are tried
	// when Salesforce refuses PrivateKey, and promoted once accepted.
	PendingKey         string `json:"pending_key,omitempty"`
	PendingCertificate string `json:"pending_certificate,omitempty"`

	ClientSecret string `json:"client_secret,omitempty"`

	// RedirectURI is the callback registered on the app for the web server
	// flow: Vault's own callback path, or a URL whose landing the person
	// pastes back (user authorizations).
	RedirectURI string `json:"redirect_uri,omitempty"`

	CertificateCommonName string        `json:"certificate_common_name,omitempty"`
	CertificateValidity   time.Duration `json:"certificate_validity,omitempty"`

	// ReuseInterval: see defaultReuseInterval. Zero means the default,
	// unless ReuseIntervalSet: then zero means "ask Salesforce every time".
	ReuseInterval time.Duration `json:"reuse_interval,omitempty"`
	// ReuseIntervalSet tells an explicit reuse_interval=0 from an entry
	// that never had one.
	ReuseIntervalSet bool `json:"reuse_interval_set,omitempty"`

	// KeyBits is the RSA size generate_key and rotate-key use unless told
	// otherwise; zero means defaultKeyBits.
	KeyBits int `json:"key_bits,omitempty"`

	// Generation changes on every write of the connection (a random value,
	// so that a deleted and re-created connection never repeats one): a
	// token granted under another generation is never handed out again.
	Generation uint64 `json:"generation,omitempty"`
}

// holdsCredentials reports whether the connection keeps a private key or a
// consumer secret: what an endpoint change must not redirect.
func (c *connection) holdsCredentials() bool {
	return c.PrivateKey != "" || c.ClientSecret != ""
}

// audience is the JWT aud claim a read shows as 'audience': the explicit
// one, or the login URL, which grants send first when none is set
// (audience.go has the whole rule). Salesforce compares aud exactly and
// refuses a trailing slash.
func (c *connection) audience() string {
	if c.Audience != "" {
		return strings.TrimRight(c.Audience, "/")
	}
	return strings.TrimRight(c.LoginURL, "/")
}

func (c *connection) reuseInterval() time.Duration {
	if c.ReuseIntervalSet && c.ReuseInterval >= 0 {
		return c.ReuseInterval
	}
	if c.ReuseInterval <= 0 {
		return defaultReuseInterval
	}
	return c.ReuseInterval
}

func (c *connection) clientSettings() clientSettings {
	return clientSettings{
		LoginURL: strings.TrimRight(c.LoginURL, "/"),
		ClientID: c.ClientID,
		CACert:   c.CACert,
	}
}

func (c *connection) signingKey() (*rsa.PrivateKey, error) {
	if c.PrivateKey == "" {
		return nil, nil
	}
	return parseRSAPrivateKey(c.PrivateKey)
}

func (c *connection) pendingSigningKey() (*rsa.PrivateKey, error) {
	if c.PendingKey == "" {
		return nil, nil
	}
	return parseRSAPrivateKey(c.PendingKey)
}

func getConnection(ctx context.Context, s logical.Storage, name string) (*connection, error) {
	entry, err := s.Get(ctx, configStoragePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("error reading connection %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var c connection
	if err := entry.DecodeJSON(&c); err != nil {
		return nil, fmt.Errorf("error decoding connection %q: %w", name, err)
	}
	c.Name = name
	return &c, nil
}

// putConnection stores c under a new generation.
func putConnection(ctx context.Context, s logical.Storage, c *connection) error {
	c.Generation = newGeneration()
	entry, err := logical.StorageEntryJSON(configStoragePrefix+c.Name, c)
	if err != nil {
		return fmt.Errorf("error encoding connection %q: %w", c.Name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing connection %q: %w", c.Name, err)
	}
	return nil
}

// commonName is the subject CN of certificates generated for the connection.
func (c *connection) commonName() string {
	if c.CertificateCommonName != "" {
		return c.CertificateCommonName
	}
	return defaultCommonName(c.Name)
}

func (c *connection) certificateValidity() time.Duration {
	if c.CertificateValidity > 0 {
		return c.CertificateValidity
	}
	return defaultCertificateValidity
}

func (c *connection) keyBits() int {
	if c.KeyBits > 0 {
		return c.KeyBits
	}
	return defaultKeyBits
}

// setGeneratedKey makes a key generated by Vault the current one. A pending
// key belonged to the key being replaced, so it goes too.
func (c *connection) setGeneratedKey(g *generatedKey) {
	c.PrivateKey = g.PrivateKey
	c.Certificate = g.Certificate
	c.KeyGenerated = true
	c.clearPendingKey()
}

// promotePending makes the pending key the current one. Pending keys are
// always generated by Vault (rotate-key), so the result is too.
func (c *connection) promotePending() {
	c.PrivateKey = c.PendingKey
	c.Certificate = c.PendingCertificate
	c.KeyGenerated = true
	c.clearPendingKey()
}

func (c *connection) clearPendingKey() {
	c.PendingKey = ""
	c.PendingCertificate = ""
}

// newGeneration is a random, non-zero connection generation.
func newGeneration() uint64 {
	var buf [8]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint64(buf[:]) | 1
}
