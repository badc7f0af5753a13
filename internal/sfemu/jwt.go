package sfemu

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// assertion is a decoded, not yet verified, JWT bearer assertion.
type assertion struct {
	signingInput string
	signature    []byte
	claims       map[string]any
}

var errMalformed = errors.New("malformed assertion")

func b64url(s string) ([]byte, error) {
	// Padding is not JWS, but tolerating it costs nothing and Salesforce
	// documents no refusal of it.
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// parseAssertion decodes a compact JWS and insists on RS256, the only
// algorithm Salesforce accepts for this flow.
func parseAssertion(s string) (*assertion, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, errMalformed
	}
	hb, err := b64url(parts[0])
	if err != nil {
		return nil, errMalformed
	}
	var hdr map[string]any
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, errMalformed
	}
	if alg, _ := hdr["alg"].(string); alg != "RS256" {
		return nil, errors.New("alg is not RS256")
	}
	cb, err := b64url(parts[1])
	if err != nil {
		return nil, errMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(cb))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errMalformed
	}
	sig, err := b64url(parts[2])
	if err != nil {
		return nil, errMalformed
	}
	return &assertion{signingInput: parts[0] + "." + parts[1], signature: sig, claims: claims}, nil
}

func (a *assertion) verify(key *rsa.PublicKey) bool {
	sum := sha256.Sum256([]byte(a.signingInput))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], a.signature) == nil
}

func (a *assertion) str(name string) string {
	s, _ := a.claims[name].(string)
	return s
}

// subject is the username: the legacy prn claim wins over sub.
func (a *assertion) subject() string {
	if p := a.str("prn"); p != "" {
		return p
	}
	return a.str("sub")
}

// audiences returns aud as a list; a JSON array of one string is the same
// claim in the other form that JWT allows.
func (a *assertion) audiences() []string {
	switch v := a.claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// expiry reads exp as a number or, as simple-salesforce sends it, a string
// of seconds.
func (a *assertion) expiry() (int64, bool) {
	var s string
	switch v := a.claims["exp"].(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		return 0, false
	}
	return int64(f), true
}
