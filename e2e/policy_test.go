package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyLimitsToOneRole: a token whose policy allows only reading
// salesforce/creds/app-a gets tokens for app-a and is refused everything
// else: another role's creds, connections, roles, break glass.
func TestPolicyLimitsToOneRole(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com", "bob@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "app-a", "alice@example.com", "10m", "1h")
	writeRole(t, v, "app-b", "bob@example.com", "10m", "1h")

	policy := `path "salesforce/creds/app-a" {
  capabilities = ["read"]
}
`
	policyFile := filepath.Join(t.TempDir(), "app-a-only.hcl")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	v.must(t, "policy", "write", "app-a-only", policyFile)
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	v.mustJSON(t, &created, "token", "create", "-policy=app-a-only", "-ttl=30m")
	app := v.withToken(created.Auth.ClientToken)

	l := readCreds(t, app, "app-a")
	emu.requireLive(t, l.Data.AccessToken, "token read through the app-a-only policy")

	refused := [][]string{
		{"read", "salesforce/creds/app-b"},
		{"read", "salesforce/config/emu"},
		{"list", "salesforce/config"},
		{"write", "salesforce/config/emu", "client_id=evil"},
		{"read", "salesforce/roles/app-a"},
		{"list", "salesforce/roles"},
		{"write", "salesforce/roles/app-a", "username=bob@example.com"},
		{"write", "-f", "salesforce/revoke/app-a"},
	}
	for _, args := range refused {
		errOut := app.mustFail(t, args...)
		if !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "403") {
			t.Errorf("$ vault %s: want 403 permission denied, got:\n%s", strings.Join(args, " "), errOut)
		}
	}
	for _, s := range emu.stats(t).Sessions {
		if s.Username == "bob@example.com" {
			t.Errorf("a refused read of creds/app-b still started a Salesforce session for bob: %+v", s)
		}
	}
	// The role the policy could not change is unchanged.
	if out := v.must(t, "read", "salesforce/roles/app-a"); !strings.Contains(out, "alice@example.com") {
		t.Errorf("role app-a changed by a refused write:\n%s", out)
	}
	emu.requireLive(t, l.Data.AccessToken, "app-a's token after the refused break glass")
}
