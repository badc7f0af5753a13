package sfemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// signRaw signs the header and claims bytes exactly as given, so that a
// test controls the JSON byte for byte, as the client it imitates writes it.
func signRaw(t *testing.T, keyPEM, header, claims string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		t.Fatal("private key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestSalesforceCLIAssertion signs an assertion the way `sf org login jwt`
// does (@salesforce/core's tryJwtAuth through the jsonwebtoken library):
// header {"alg":"RS256","typ":"JWT"}, claims iss, sub, aud, exp, iat in that
// order, exp = Date.now() + 300, which is milliseconds, and iat in seconds.
// Real orgs accept it, so the emulator must.
func TestSalesforceCLIAssertion(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	claims := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"iat":%d}`,
		appMain, "alice@example.com", h.base, now.UnixMilli()+300, now.Unix())
	assertion := signRaw(t, keyPEM, `{"alg":"RS256","typ":"JWT"}`, claims)
	a := h.post("/services/oauth2/token", url.Values{
		"grant_type": {grantTypeJWT},
		"assertion":  {assertion},
	}, nil)
	if a.status != 200 || a.ctype != contentTypeJSON {
		t.Fatalf("CLI-style grant: %d %q %s", a.status, a.ctype, a.body)
	}
	m := a.json(t)
	tok, _ := m["access_token"].(string)
	if !tokenShaped(tok) || m["instance_url"] != h.base || m["token_type"] != "Bearer" {
		t.Fatalf("answer: %s", a.body)
	}
	// The CLI goes on to list the API versions and read the org: the token
	// it got must work there.
	if r := h.get("/services/data/v66.0/limits", tok); r.status != 200 {
		t.Fatalf("token from the CLI-style grant refused: %d %s", r.status, r.body)
	}
}

// TestExpOnlyRefusedInThePast: whatever the unit or distance of a future
// exp, only a past one is refused, and with Salesforce's words.
func TestExpOnlyRefusedInThePast(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	h.emu.SetClock(func() time.Time { return now })
	for name, exp := range map[string]any{
		"one second ahead":   now.Unix() + 1,
		"a year ahead":       now.AddDate(1, 0, 0).Unix(),
		"milliseconds":       now.UnixMilli() + 300,
		"milliseconds, text": strconv.FormatInt(now.UnixMilli()+300, 10),
	} {
		if a := h.jwtGrant(map[string]any{"exp": exp}); a.status != 200 {
			t.Errorf("%s: %d %s", name, a.status, a.body)
		}
	}
	m := h.jwtGrant(map[string]any{"exp": now.Unix() - 1}).json(t)
	if m["error"] != "invalid_grant" || m["error_description"] != descExpired {
		t.Errorf("a second in the past: %v", m)
	}
}
