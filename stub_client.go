package salesforce

// STUB: replaced by client.go (helper B). Delete this file when client.go lands.

import (
	"context"
	"crypto/rsa"
	"errors"

	hclog "github.com/hashicorp/go-hclog"
)

type clientSettings struct {
	LoginURL string
	Audience string
	ClientID string
	CACert   string
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	IssuedAt    string `json:"issued_at"`
	Signature   string `json:"signature"`
}

type sfClient struct{}

func newClient(s clientSettings, logger hclog.Logger) (*sfClient, error) { return &sfClient{}, nil }
func (c *sfClient) Close()                                                {}
func (c *sfClient) GrantJWT(ctx context.Context, key *rsa.PrivateKey, username string) (*tokenResponse, error) {
	return nil, errors.New("stub")
}
func (c *sfClient) GrantClientCredentials(ctx context.Context, secret string) (*tokenResponse, error) {
	return nil, errors.New("stub")
}
func (c *sfClient) Revoke(ctx context.Context, token string) error { return errors.New("stub") }

type salesforceError struct {
	StatusCode  int
	Code        string
	Description string
	Hint        string
}

func (e *salesforceError) Error() string { return e.Code }

type unavailableError struct {
	Op       string
	Attempts int
	Err      error
}

func (e *unavailableError) Error() string { return e.Op }

func isInvalidAssertion(err error) bool { return false }
