package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecretLeaks runs the whole lifecycle with a file audit device on and
// the server log captured (the plugin logs through it), then searches every
// response, the server log and the audit log for the private key, the
// consumer secret and the access tokens. A token may appear only in the
// creds response that handed it out; Vault HMACs audit entries, and nothing
// here tells it otherwise.
func TestNoSecretLeaks(t *testing.T) {
	emu := startEmulator(t, testOrg("leak@example.com"))
	v := startDevVault(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	v.must(t, "audit", "enable", "file", "file_path="+auditPath)

	keyPEM, keyDER := leakTestKey(t)
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	var responses []string
	run := func(args ...string) string {
		t.Helper()
		out := v.must(t, args...)
		responses = append(responses, out)
		return out
	}
	fail := func(args ...string) {
		t.Helper()
		responses = append(responses, v.mustFail(t, args...))
	}

	setupEngine(t, v, emu)
	run("write", "salesforce/config/emu", "client_secret="+testClientSecret)
	run("write", "salesforce/config/keyed", "login_url="+emu.URL, "client_id="+testClientID,
		"private_key=@"+keyFile, "client_secret="+testClientSecret,
		"allow_non_salesforce_host=true", "ca_cert=@"+emu.CAPath)
	run("read", "salesforce/config/emu")
	run("read", "salesforce/config/keyed")
	run("read", "salesforce/config/emu/certificate")
	run("write", "-f", "salesforce/config/emu/rotate-key")
	run("write", "-f", "salesforce/config/emu/promote-key")
	// The promoted key's certificate goes to the Connected App.
	var cert struct {
		Data struct {
			Certificate string `json:"certificate"`
		} `json:"data"`
	}
	v.mustJSON(t, &cert, "read", "salesforce/config/emu/certificate")
	emu.setCertificate(t, cert.Data.Certificate)

	writeRole(t, v, "app", "leak@example.com", "10m", "1h")
	run("write", "salesforce/roles/cc", "connection=emu", "grant_type=client_credentials", "scopes=api,web")
	run("write", "salesforce/roles/wrongkey", "connection=keyed", "username=leak@example.com", "scopes=api,web")
	run("write", "salesforce/roles/stranger", "connection=emu", "username=stranger@example.com", "scopes=api,web")

	var tokens, credsOut []string
	var leases []string
	for _, role := range []string{"app", "app", "cc"} {
		l := readCreds(t, v, role)
		raw, _ := json.Marshal(l)
		credsOut = append(credsOut, string(raw))
		tokens = append(tokens, l.Data.AccessToken)
		leases = append(leases, l.ID)
	}
	// Salesforce refusals: a key that does not match, a user not approved.
	fail("read", "salesforce/creds/wrongkey")
	fail("read", "salesforce/creds/stranger")
	run("lease", "renew", leases[0])
	run("lease", "revoke", leases[0])
	run("write", "-f", "salesforce/revoke/app")
	run("lease", "revoke", "-sync", "-prefix", "salesforce/creds/")
	run("read", "salesforce/config/emu")

	secrets := map[string]string{
		"private key PEM body":   pemBody(keyPEM),
		"private key base64 DER": base64.StdEncoding.EncodeToString(keyDER),
		"consumer secret":        testClientSecret,
	}
	for i, tok := range tokens {
		secrets["access token "+string(rune('a'+i))] = tok
	}
	audit, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 {
		t.Fatal("the audit log is empty: the test would prove nothing")
	}
	places := map[string]string{
		"server and plugin log": v.proc.log(),
		"audit log":             string(audit),
		"responses":             strings.Join(responses, "\n"),
	}
	hits := 0
	for where, text := range places {
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s found in the %s", what, where)
				hits++
			}
		}
	}
	// The creds responses must hold their own token, and no key or secret.
	for i, out := range credsOut {
		if !strings.Contains(out, tokens[i]) {
			t.Errorf("creds response %d does not carry its token: the search is broken", i)
		}
		for _, what := range []string{"private key PEM body", "private key base64 DER", "consumer secret"} {
			if strings.Contains(out, secrets[what]) {
				t.Errorf("%s found in a creds response", what)
				hits++
			}
		}
	}
	t.Logf("searched %d bytes of responses, %d of server log and %d of audit log for %d secrets: %d hits",
		len(places["responses"]), len(places["server and plugin log"]), len(audit), len(secrets), hits)
}

func leakTestKey(t *testing.T) (pemBytes, der []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), der
}

// pemBody is the base64 of a PEM block without line breaks: what a leak of
// the key would show however it was wrapped. A single line of it is enough
// to find, so the longest line is searched.
func pemBody(p []byte) string {
	longest := ""
	for _, line := range strings.Split(string(p), "\n") {
		if !strings.HasPrefix(line, "-----") && len(line) > len(longest) {
			longest = line
		}
	}
	return longest
}
