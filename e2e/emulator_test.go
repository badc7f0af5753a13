package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

const (
	testClientID     = "3MVG9e2eTestConsumerKey"
	testClientSecret = "e2e-consumer-secret"
	runAsUser        = "integration@example.com"
)

// emulator is a running cmd/sfemu over HTTPS.
type emulator struct {
	URL    string
	CAPath string
	proc   *proc
	http   *http.Client
}

// testOrg is an org with one Connected App (no certificate: the test hands
// it the one Vault generates), a client-credentials Run As user and the
// given JWT users, all pre-authorized.
func testOrg(users ...string) sfemu.Config {
	app := sfemu.App{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RunAs:        runAsUser,
		Scopes:       "api web",
		Users:        []sfemu.User{{Username: runAsUser, Approved: true, Active: true}},
	}
	for _, u := range users {
		app.Users = append(app.Users, sfemu.User{Username: u, Approved: true, Active: true})
	}
	return sfemu.Config{
		OrgID:                 "00D5g000004XyZaEAK",
		SessionTimeoutSeconds: 7200,
		Apps:                  []sfemu.App{app},
	}
}

func startEmulator(t testing.TB, cfg sfemu.Config) *emulator {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "org.json")
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	p := startProc(t, "sfemu", baseEnv(dir), bins.sfemu,
		"-config", cfgPath, "-addr", "127.0.0.1:0", "-tls", "-cert-out", dir, "-ready-file", ready)
	e := &emulator{CAPath: filepath.Join(dir, "ca.pem"), proc: p}
	eventually(t, 30*time.Second, "emulator writes its ready file", func() error {
		if p.exited() {
			t.Fatalf("sfemu exited early: %v\n%s", p.err, p.log())
		}
		b, err := os.ReadFile(ready)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("no ready file yet (%v)", err)
		}
		e.URL = strings.TrimSpace(string(b))
		return nil
	})
	caPEM, err := os.ReadFile(e.CAPath)
	if err != nil {
		t.Fatalf("emulator CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("emulator CA %s holds no certificate", e.CAPath)
	}
	e.http = &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(e.http.CloseIdleConnections)
	return e
}

func (e *emulator) do(t testing.TB, method, path string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	return out
}

// setCertificate hands the Connected App the certificate Vault generated.
func (e *emulator) setCertificate(t testing.TB, certPEM string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.URL+"/__sfemu/apps/"+testClientID+"/certificate", strings.NewReader(certPEM))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("uploading the certificate: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("uploading the certificate: HTTP %d: %s", resp.StatusCode, b)
	}
}

func (e *emulator) stats(t testing.TB) sfemu.Stats {
	t.Helper()
	var s sfemu.Stats
	if err := json.Unmarshal(e.do(t, http.MethodGet, "/__sfemu/stats", nil, http.StatusOK), &s); err != nil {
		t.Fatalf("decoding /__sfemu/stats: %v", err)
	}
	return s
}

func (e *emulator) setFaults(t testing.TB, f sfemu.Faults) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	e.do(t, http.MethodPost, "/__sfemu/faults", b, http.StatusOK)
}

func (e *emulator) revokeAll(t testing.TB) {
	t.Helper()
	e.do(t, http.MethodPost, "/__sfemu/revoke-all", nil, http.StatusNoContent)
}

// restStatus calls the REST API as an application would with the token and
// returns the HTTP status: 200 for a live token, 401 for a dead one.
func (e *emulator) restStatus(t testing.TB, instanceURL, token string) int {
	t.Helper()
	if instanceURL == "" {
		instanceURL = e.URL
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(instanceURL, "/")+"/services/data/v65.0/limits", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("REST call: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized && !bytes.Contains(b, []byte("INVALID_SESSION_ID")) {
		t.Fatalf("REST call: 401 without INVALID_SESSION_ID: %s", b)
	}
	return resp.StatusCode
}

// requireLive and requireDead assert the token's state right now; callers
// have already waited for whatever had to happen first.
func (e *emulator) requireLive(t testing.TB, token, why string) {
	t.Helper()
	if code := e.restStatus(t, "", token); code != http.StatusOK {
		t.Fatalf("%s: REST call with the token answered %d, want 200 (token alive)", why, code)
	}
}

func (e *emulator) requireDead(t testing.TB, token, why string) {
	t.Helper()
	if code := e.restStatus(t, "", token); code != http.StatusUnauthorized {
		t.Fatalf("%s: REST call with the token answered %d, want 401 (token revoked)", why, code)
	}
}

// waitDead polls until the token no longer works.
func (e *emulator) waitDead(t testing.TB, token string, timeout time.Duration, why string) {
	t.Helper()
	eventually(t, timeout, why, func() error {
		if code := e.restStatus(t, "", token); code != http.StatusUnauthorized {
			return fmt.Errorf("REST call still answers %d", code)
		}
		return nil
	})
}

// session finds the emulator's record of a token.
func (e *emulator) session(t testing.TB, token string) (sfemu.SessionStats, bool) {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	for _, s := range e.stats(t).Sessions {
		if s.TokenSHA256 == h {
			return s, true
		}
	}
	return sfemu.SessionStats{}, false
}

// liveSessions counts the tokens the org would still accept.
func (e *emulator) liveSessions(t testing.TB) []sfemu.SessionStats {
	t.Helper()
	var live []sfemu.SessionStats
	for _, s := range e.stats(t).Sessions {
		if s.Active {
			live = append(live, s)
		}
	}
	return live
}
