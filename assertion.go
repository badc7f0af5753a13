package salesforce

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionLifetime is how long a JWT bearer assertion stays valid.
// Salesforce wants exp "within 3 minutes"; 150s leaves 30s for a slow clock
// on either side without stretching the window a leaked assertion is usable.
const assertionLifetime = 150 * time.Second

// assertionClaims is exactly the claim set Salesforce documents for the JWT
// bearer flow. A struct rather than jwt.RegisteredClaims because jwt/v5
// marshals a one-element ClaimStrings as an array by default, and Salesforce
// compares aud as a single string.
type assertionClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ExpiresAt int64  `json:"exp"`
}

var _ jwt.Claims = assertionClaims{}

func (c assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c assertionClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return nil, nil }
func (c assertionClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c assertionClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c assertionClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c assertionClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// signAssertion builds the RS256 JWS that the JWT bearer flow exchanges for
// an access token.
func signAssertion(key *rsa.PrivateKey, clientID, username, audience string, now time.Time) (string, error) {
	if key == nil {
		return "", errors.New("the connection has no private key: write 'private_key' or set 'generate_key' on the connection")
	}
	if clientID == "" {
		return "", errors.New("the connection has no 'client_id': set it to the Connected App's consumer key")
	}
	if username == "" {
		return "", errors.New("the role has no 'username': set it to the Salesforce username tokens are issued for")
	}
	// Salesforce refuses "https://login.salesforce.com/" as an invalid
	// audience; the slash is never meaningful, so drop it rather than fail.
	audience = strings.TrimRight(audience, "/")
	if audience == "" {
		return "", errors.New("the connection has no audience: set 'audience' or 'login_url' on the connection")
	}
	claims := assertionClaims{
		Issuer:    clientID,
		Subject:   username,
		Audience:  audience,
		ExpiresAt: now.Add(assertionLifetime).Unix(),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("error signing the JWT bearer assertion with the connection's private key: %w", err)
	}
	return signed, nil
}
