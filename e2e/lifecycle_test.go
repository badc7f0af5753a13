package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tableField reads one field from `vault read`'s table output.
func tableField(t testing.TB, out, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `[ \t]+(\S.*?)[ \t]*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q row in the table output:\n%s", key, out)
	}
	return m[1]
}

// TestCLILeaseLifecycle: what an operator does with the vault CLI. A token
// read as a table and as JSON works at Salesforce; renewing keeps the lease;
// revoking (one lease, then by prefix) kills the tokens at Salesforce, and
// only those of the revoked role.
func TestCLILeaseLifecycle(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com", "bob@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "app", "alice@example.com", "10m", "1h")
	writeRole(t, v, "other", "bob@example.com", "10m", "1h")

	// $ vault read salesforce/creds/app
	out := v.must(t, "read", "salesforce/creds/app")
	for _, key := range []string{"lease_id", "lease_duration", "lease_renewable", "access_token", "instance_url", "scope", "token_type", "id", "username"} {
		tableField(t, out, key)
	}
	tableLease := tableField(t, out, "lease_id")
	tableToken := tableField(t, out, "access_token")
	if !strings.HasPrefix(tableLease, "salesforce/creds/app/") {
		t.Fatalf("lease_id %q is not under salesforce/creds/app/", tableLease)
	}
	if got := tableField(t, out, "username"); got != "alice@example.com" {
		t.Errorf("username = %q, want alice@example.com", got)
	}
	if got := tableField(t, out, "instance_url"); got != emu.URL {
		t.Errorf("instance_url = %q, want the org's %q", got, emu.URL)
	}
	emu.requireLive(t, tableToken, "token from `vault read salesforce/creds/app`")

	// $ vault read -format=json salesforce/creds/app
	l := readCreds(t, v, "app")
	if l.Duration <= 0 || l.Duration > 600 {
		t.Errorf("lease_duration = %d, want (0, 600] (role ttl 10m)", l.Duration)
	}
	if l.Data.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", l.Data.TokenType)
	}
	for _, s := range strings.Fields(l.Data.Scope) {
		if s != "api" && s != "web" {
			t.Errorf("scope %q handed out, outside the role's ceiling api,web (scope=%q)", s, l.Data.Scope)
		}
	}
	if code := emu.restStatus(t, l.Data.InstanceURL, l.Data.AccessToken); code != 200 {
		t.Fatalf("REST call at instance_url %s with the JSON-read token: %d, want 200", l.Data.InstanceURL, code)
	}

	// $ vault lease renew <lease_id>
	var renewed struct {
		ID       string `json:"lease_id"`
		Duration int    `json:"lease_duration"`
	}
	v.mustJSON(t, &renewed, "lease", "renew", l.ID)
	if renewed.ID != l.ID || renewed.Duration <= 0 {
		t.Fatalf("lease renew answered %+v, want lease %s with a positive duration", renewed, l.ID)
	}
	emu.requireLive(t, l.Data.AccessToken, "token after `vault lease renew`")

	// $ vault lease revoke <lease_id>, for both leases: after the last one,
	// every token they held is dead.
	v.must(t, "lease", "revoke", tableLease)
	v.must(t, "lease", "revoke", l.ID)
	waitLeaseGone(t, v, tableLease, time.Minute)
	waitLeaseGone(t, v, l.ID, time.Minute)
	emu.waitDead(t, tableToken, 30*time.Second, "token of the table read is revoked at Salesforce")
	emu.waitDead(t, l.Data.AccessToken, 30*time.Second, "token of the JSON read is revoked at Salesforce")

	// $ vault lease revoke -prefix salesforce/creds/other: ends every lease
	// of that role and nothing else.
	o1 := readCreds(t, v, "other")
	o2 := readCreds(t, v, "other")
	keep := readCreds(t, v, "app")
	v.must(t, "lease", "revoke", "-prefix", "salesforce/creds/other")
	eventually(t, time.Minute, "no lease left under salesforce/creds/other/", func() error {
		if ids := leasesUnder(t, v, "salesforce/creds/other/"); len(ids) > 0 {
			return fmt.Errorf("still %d: %v", len(ids), ids)
		}
		return nil
	})
	emu.waitDead(t, o1.Data.AccessToken, 30*time.Second, "first token of role other revoked by -prefix")
	emu.waitDead(t, o2.Data.AccessToken, 30*time.Second, "second token of role other revoked by -prefix")
	emu.requireLive(t, keep.Data.AccessToken, "role app's token after revoking -prefix salesforce/creds/other")
	if ok, err := leaseExists(v, keep.ID); err != nil || !ok {
		t.Fatalf("role app's lease %s after revoking another role's prefix: exists=%v err=%v", keep.ID, ok, err)
	}

	// $ vault lease revoke -prefix salesforce/creds: everything.
	v.must(t, "lease", "revoke", "-prefix", "salesforce/creds")
	waitLeaseGone(t, v, keep.ID, time.Minute)
	emu.waitDead(t, keep.Data.AccessToken, 30*time.Second, "role app's token revoked by -prefix salesforce/creds")
	if live := emu.liveSessions(t); len(live) != 0 {
		t.Fatalf("after revoking every lease, %d sessions still live at the emulator: %+v", len(live), live)
	}
}

// TestLeaseExpiryRevokesToken: nobody revokes; the lease reaches its TTL and
// Vault's expiry kills the token at Salesforce.
func TestLeaseExpiryRevokesToken(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "short", "alice@example.com", "3s", "6s")

	l := readCreds(t, v, "short")
	if l.Duration <= 0 || l.Duration > 3 {
		t.Errorf("lease_duration = %d, want (0, 3] (role ttl 3s)", l.Duration)
	}
	emu.requireLive(t, l.Data.AccessToken, "fresh token")
	emu.waitDead(t, l.Data.AccessToken, time.Minute, "token revoked at Salesforce once its 3s lease expired")
	waitLeaseGone(t, v, l.ID, 30*time.Second)

	// The next read starts a new session.
	l2 := readCreds(t, v, "short")
	if l2.Data.AccessToken == l.Data.AccessToken {
		t.Fatalf("creds after expiry handed out the revoked token again")
	}
	emu.requireLive(t, l2.Data.AccessToken, "token read after the first lease expired")
}

// TestSharedTokenLeases: Salesforce hands one user the same token on every
// grant, so two leases hold one token. Revoking one keeps it working for the
// other; revoking the last kills it. Break glass (revoke/<role>) kills the
// current token at once whatever leases still hold it.
func TestSharedTokenLeases(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "app", "alice@example.com", "10m", "1h")

	l1 := readCreds(t, v, "app")
	l2 := readCreds(t, v, "app")
	if l1.ID == l2.ID {
		t.Fatalf("two reads answered one lease %s", l1.ID)
	}
	if l1.Data.AccessToken != l2.Data.AccessToken {
		t.Fatalf("two reads of one role got different tokens; the emulator shares sessions like Salesforce, so they should hold one")
	}
	token := l1.Data.AccessToken

	v.must(t, "lease", "revoke", l1.ID)
	waitLeaseGone(t, v, l1.ID, time.Minute)
	emu.requireLive(t, token, "shared token after revoking one of its two leases")
	if s, ok := emu.session(t, token); !ok || s.RevokedAt != nil {
		t.Fatalf("emulator session for the shared token after one revocation: found=%v %+v", ok, s)
	}

	v.must(t, "lease", "revoke", l2.ID)
	waitLeaseGone(t, v, l2.ID, time.Minute)
	emu.waitDead(t, token, 30*time.Second, "shared token revoked once its last lease ended")

	// A new read starts a new session; break glass ends it although its
	// lease lives on.
	l3 := readCreds(t, v, "app")
	if l3.Data.AccessToken == token {
		t.Fatalf("creds handed out a token revoked at Salesforce")
	}
	emu.requireLive(t, l3.Data.AccessToken, "new token after the shared one was revoked")
	v.must(t, "write", "-f", "salesforce/revoke/app")
	emu.requireDead(t, l3.Data.AccessToken, "token after `vault write -f salesforce/revoke/app`")

	l4 := readCreds(t, v, "app")
	if l4.Data.AccessToken == l3.Data.AccessToken {
		t.Fatalf("creds after break glass handed out the revoked token")
	}
	emu.requireLive(t, l4.Data.AccessToken, "token read after break glass")
	// The lease that held the killed token still ends cleanly.
	v.must(t, "lease", "revoke", l3.ID)
	waitLeaseGone(t, v, l3.ID, time.Minute)
	emu.requireLive(t, l4.Data.AccessToken, "newer token after revoking the lease that held the killed one")
}

// TestClientCredentialsLease: the client-credentials flow (consumer secret
// in Vault, Run As user at Salesforce) issues and revokes like JWT bearer.
func TestClientCredentialsLease(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg())
	v := startDevVault(t)
	v.registerPlugin(t, "v0.1.0")
	v.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	v.must(t, "write", "salesforce/config/cc", "login_url="+emu.URL, "client_id="+testClientID,
		"client_secret="+testClientSecret, "allow_non_salesforce_host=true", "ca_cert=@"+emu.CAPath)
	cfg := v.must(t, "read", "salesforce/config/cc")
	if strings.Contains(cfg, testClientSecret) {
		t.Fatalf("reading config/cc shows the consumer secret:\n%s", cfg)
	}
	v.must(t, "write", "salesforce/roles/svc", "connection=cc", "grant_type=client_credentials",
		"scopes=api,web", "ttl=10m", "max_ttl=1h")

	l := readCreds(t, v, "svc")
	emu.requireLive(t, l.Data.AccessToken, "client-credentials token")
	if s, ok := emu.session(t, l.Data.AccessToken); !ok || s.Username != runAsUser {
		t.Fatalf("emulator session for the token: found=%v username=%q, want the Run As user %s", ok, s.Username, runAsUser)
	}
	v.must(t, "lease", "revoke", l.ID)
	emu.waitDead(t, l.Data.AccessToken, 30*time.Second, "client-credentials token revoked with its lease")
}
