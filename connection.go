package salesforce

import (
	"context"
	"crypto/rsa"
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

	CertificateCommonName string        `json:"certificate_common_name,omitempty"`
	CertificateValidity   time.Duration `json:"certificate_validity,omitempty"`

	// ReuseInterval: see defaultReuseInterval. Zero means the default.
	ReuseInterval time.Duration `json:"reuse_interval,omitempty"`
}

// audience is the JWT aud claim: Salesforce wants the authorization server
// URL exactly, and refuses a trailing slash.
func (c *connection) audience() string {
	if c.Audience != "" {
		return strings.TrimRight(c.Audience, "/")
	}
	return strings.TrimRight(c.LoginURL, "/")
}

func (c *connection) reuseInterval() time.Duration {
	if c.ReuseInterval <= 0 {
		return defaultReuseInterval
	}
	return c.ReuseInterval
}

func (c *connection) clientSettings() clientSettings {
	return clientSettings{
		LoginURL: strings.TrimRight(c.LoginURL, "/"),
		Audience: c.audience(),
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

func putConnection(ctx context.Context, s logical.Storage, c *connection) error {
	entry, err := logical.StorageEntryJSON(configStoragePrefix+c.Name, c)
	if err != nil {
		return fmt.Errorf("error encoding connection %q: %w", c.Name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error writing connection %q: %w", c.Name, err)
	}
	return nil
}
