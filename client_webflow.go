package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// The web server flow's calls: the code exchange, the refresh, and the
// identity of the user who consented.

const (
	opCodeExchange = "authorization code exchange"
	opRefresh      = "refresh token request"
	opIdentity     = "identity request"

	grantTypeAuthorizationCode = "authorization_code"
	grantTypeRefreshToken      = "refresh_token"
)

// once is the client without retries. A code is good once, and a refresh
// with rotation replaces the refresh token: asking again after an answer was
// lost would spend the code, or present a refresh token Salesforce may
// have rotated out (and then revokes the whole family). The caller decides.
func (c *sfClient) once() *sfClient {
	c1 := *c
	c1.retry.MaxAttempts = 1
	return &c1
}

// ExchangeCode redeems an authorization code with its PKCE verifier.
func (c *sfClient) ExchangeCode(ctx context.Context, code, redirectURI, verifier, clientSecret string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":    {grantTypeAuthorizationCode},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"client_id":     {c.settings.ClientID},
		"code_verifier": {verifier},
	}
	if clientSecret != "" {
		form.Set("client_secret", clientSecret)
	}
	return c.once().tokenRequest(ctx, opCodeExchange, form, nil, clientSecret, newRedactor(code, verifier, clientSecret))
}

// Refresh asks for an access token with a refresh token.
func (c *sfClient) Refresh(ctx context.Context, refreshToken, clientSecret string) (*tokenResponse, error) {
	if refreshToken == "" {
		return nil, errors.New("the authorization holds no refresh token")
	}
	form := url.Values{
		"grant_type":    {grantTypeRefreshToken},
		"refresh_token": {refreshToken},
		"client_id":     {c.settings.ClientID},
	}
	if clientSecret != "" {
		form.Set("client_secret", clientSecret)
	}
	return c.once().tokenRequest(ctx, opRefresh, form, nil, clientSecret, newRedactor(refreshToken, clientSecret))
}

// identity is what the identity URL says of the token's user.
type identity struct {
	Username string `json:"username"`
	UserID   string `json:"user_id"`
	OrgID    string `json:"organization_id"`
}

// Identity reads the identity URL of a token answer with its access token.
// idURL came from Salesforce's answer; the caller checks where it points.
func (c *sfClient) Identity(ctx context.Context, idURL, accessToken string) (*identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, idURL, nil)
	if err != nil {
		return nil, fmt.Errorf("salesforce's identity URL cannot be requested: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &unavailableError{Op: opIdentity, Attempts: 1, Err: describeTransportError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, &unavailableError{Op: opIdentity, Attempts: 1, LastStatus: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &unavailableError{Op: opIdentity, Attempts: 1, LastStatus: resp.StatusCode,
			Err: fmt.Errorf("salesforce answered the identity request with HTTP %d", resp.StatusCode)}
	}
	var id identity
	if err := json.Unmarshal(body, &id); err != nil || id.Username == "" {
		return nil, &unavailableError{Op: opIdentity, Attempts: 1, LastStatus: resp.StatusCode,
			Err: errors.New("the identity answer names no username")}
	}
	return &id, nil
}
