package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDefaultsThroughTheCLI writes a connection and roles with only the
// fields they require (plus what reaching the emulator needs: login_url,
// ca_cert and allow_non_salesforce_host) and checks what a user gets from
// the defaults: a role without scopes has no ceiling and says so; TTLs come
// from the mount; reuse_interval is 60s; grant_type is jwt_bearer; a
// client_credentials role and a jwt_bearer role for the Run As user share
// one Salesforce session, which break glass on either ends.
func TestDefaultsThroughTheCLI(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startDevVault(t)
	v.registerPlugin(t, "v0.1.0")
	v.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	connectEmulator(t, v, emu, "client_secret="+testClientSecret)

	var cfg struct {
		Data map[string]interface{} `json:"data"`
	}
	v.mustJSON(t, &cfg, "read", "salesforce/config/emu")
	if cfg.Data["reuse_interval"] != float64(60) {
		t.Errorf("default reuse_interval = %v, want 60", cfg.Data["reuse_interval"])
	}
	if cfg.Data["audience"] != emu.URL {
		t.Errorf("default audience = %v, want the login_url %s", cfg.Data["audience"], emu.URL)
	}

	// $ vault write salesforce/roles/bare connection=emu username=alice@example.com
	out, errOut, err := v.run("write", "salesforce/roles/bare", "connection=emu", "username=alice@example.com")
	if err != nil {
		t.Fatalf("a role with only its required fields was refused: %v\n%s", err, errOut)
	}
	if warn := out + errOut; !strings.Contains(warn, "WARNING") || !strings.Contains(warn, "scopes") {
		t.Errorf("writing a role without scopes must warn that it has no ceiling:\n%s", warn)
	}
	role := v.must(t, "read", "salesforce/roles/bare")
	if got := tableField(t, role, "grant_type"); got != "jwt_bearer" {
		t.Errorf("default grant_type = %q, want jwt_bearer", got)
	}

	// No scopes means no ceiling: every scope the app grants is handed out.
	l := readCreds(t, v, "bare")
	if l.Data.Scope != "api web" {
		t.Errorf("scope = %q, want the app's whole set %q", l.Data.Scope, "api web")
	}
	mountTTL := mountDefaultTTL(t, v)
	if l.Duration != mountTTL {
		t.Errorf("lease_duration = %d, want the mount's default %d", l.Duration, mountTTL)
	}
	emu.requireLive(t, l.Data.AccessToken, "token of a role written without scopes")

	// $ vault write salesforce/roles/svc connection=emu grant_type=client_credentials
	v.must(t, "write", "salesforce/roles/svc", "connection=emu", "grant_type=client_credentials")
	v.must(t, "write", "salesforce/roles/runas", "connection=emu", "username="+runAsUser)
	cc, jwt := readCreds(t, v, "svc"), readCreds(t, v, "runas")
	if cc.Data.AccessToken != jwt.Data.AccessToken {
		t.Fatal("salesforce gives the client_credentials role and the Run As user's jwt role one session")
	}
	var sessions []string
	v.mustJSON(t, &sessions, "list", "salesforce/sessions")
	if len(sessions) != 2 {
		t.Errorf("sessions/ lists %d sessions, want 2 (alice's, and the Run As user's shared one)", len(sessions))
	}
	for _, id := range sessions {
		if s := v.must(t, "read", "salesforce/sessions/"+id); strings.Contains(s, l.Data.AccessToken) || strings.Contains(s, cc.Data.AccessToken) {
			t.Fatal("sessions/ shows a token")
		}
	}
	out = v.must(t, "write", "-f", "salesforce/revoke/runas")
	if got := tableField(t, out, "released_leases"); got != "2" {
		t.Errorf("break glass on the jwt role released %s leases, want 2 (its own and the client_credentials lease)", got)
	}
	emu.waitDead(t, cc.Data.AccessToken, 30*time.Second, "the shared Run As session after break glass on the jwt role")
	emu.requireLive(t, l.Data.AccessToken, "alice's token is another session")

	v.must(t, "lease", "revoke", l.ID)
	emu.waitDead(t, l.Data.AccessToken, 30*time.Second, "token revoked with its only lease")
}

// mountDefaultTTL is salesforce/'s default lease TTL in seconds.
func mountDefaultTTL(t *testing.T, v *vaultServer) int {
	t.Helper()
	var tune struct {
		Data struct {
			DefaultLeaseTTL int `json:"default_lease_ttl"`
		} `json:"data"`
	}
	v.mustJSON(t, &tune, "read", "sys/mounts/salesforce/tune")
	if tune.Data.DefaultLeaseTTL <= 0 {
		t.Fatalf("the mount's default lease TTL is %d", tune.Data.DefaultLeaseTTL)
	}
	return tune.Data.DefaultLeaseTTL
}
