package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentTemplate: Vault Agent (auto_auth token_file) renders a live
// Salesforce token from a template, replaces the lease when it reaches
// max_ttl, and renders a fresh token once the rendered one was killed at
// Salesforce and its lease ran out.
//
// Agent renews a renewable lease until max_ttl, then reads the secret again;
// so with ttl=3s and max_ttl=6s it fetches a new lease about every 6s.
// reuse_interval=0 makes the engine ask Salesforce on every read, so that a
// session killed outside Vault is noticed on the next read rather than after
// the engine's default reuse interval.
func TestAgentTemplate(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("agent@example.com"))
	v := startDevVault(t)
	v.registerPlugin(t, "v0.1.0")
	v.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	connectEmulator(t, v, emu, "reuse_interval=0")
	writeRole(t, v, "agent", "agent@example.com", "3s", "6s")

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policy := write("agent-policy.hcl", `path "salesforce/creds/agent" {
  capabilities = ["read"]
}
`)
	v.must(t, "policy", "write", "agent", policy)
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	v.mustJSON(t, &created, "token", "create", "-policy=agent", "-ttl=1h")
	tokenFile := write("vault-token", created.Auth.ClientToken)

	tokenOut := filepath.Join(dir, "salesforce-token")
	leaseOut := filepath.Join(dir, "salesforce-lease")
	config := write("agent.hcl", fmt.Sprintf(`pid_file = %q
vault {
  address = %q
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}
template_config {
  exit_on_retry_failure = true
}
template {
  contents    = "{{ with secret \"salesforce/creds/agent\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
  perms       = "0600"
}
template {
  contents    = "{{ with secret \"salesforce/creds/agent\" }}{{ .LeaseID }}{{ end }}"
  destination = %q
}
`, filepath.Join(dir, "agent.pid"), v.Addr, tokenFile, tokenOut, leaseOut))
	agent := startProc(t, "vault-agent", baseEnv(dir), bins.vault, "agent", "-config="+config, "-log-level=debug")

	rendered := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	// 1. The rendered token works.
	var first string
	eventually(t, 60*time.Second, "agent renders a working token", func() error {
		if agent.exited() {
			t.Fatalf("vault agent exited: %v\n%s", agent.err, tail(agent.logPath, 40))
		}
		first = rendered(tokenOut)
		if first == "" {
			return fmt.Errorf("%s not rendered yet", tokenOut)
		}
		if code := emu.restStatus(t, "", first); code != http.StatusOK {
			return fmt.Errorf("rendered token answers %d", code)
		}
		return nil
	})
	if fi, err := os.Stat(tokenOut); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("rendered token file mode: %v %v, want 0600", fi.Mode(), err)
	}

	// 2. At max_ttl, Agent takes a new lease.
	firstLease := rendered(leaseOut)
	if !strings.HasPrefix(firstLease, "salesforce/creds/agent/") {
		t.Fatalf("rendered lease id %q", firstLease)
	}
	eventually(t, 60*time.Second, "agent replaces the lease after max_ttl", func() error {
		if l := rendered(leaseOut); l == firstLease || l == "" {
			return fmt.Errorf("still %q", l)
		}
		return nil
	})

	// 3. The session is killed at Salesforce; Agent's next read (at the
	// latest at the lease's max_ttl) gets a new session, and the file
	// changes to a working token.
	killed := rendered(tokenOut)
	emu.revokeAll(t)
	emu.requireDead(t, killed, "rendered token after revoke-all at the emulator")
	eventually(t, 90*time.Second, "agent renders a fresh working token after the old one was killed", func() error {
		if agent.exited() {
			t.Fatalf("vault agent exited: %v\n%s", agent.err, tail(agent.logPath, 40))
		}
		cur := rendered(tokenOut)
		if cur == killed || cur == "" {
			return fmt.Errorf("file still holds the killed token")
		}
		if code := emu.restStatus(t, "", cur); code != http.StatusOK {
			return fmt.Errorf("new rendered token answers %d", code)
		}
		return nil
	})
	agent.stop()
}
