package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const cliTimeout = 90 * time.Second

// vaultServer is a Vault server a test started, and the CLI pointed at it.
type vaultServer struct {
	Addr  string
	Token string
	home  string
	proc  *proc

	// Only for a server with file storage (startFileVault).
	configPath string
	unsealKey  string
	starts     int
}

func (v *vaultServer) env() []string {
	return append(baseEnv(v.home), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.Token, "VAULT_FORMAT=table")
}

// withToken returns the same server as seen by another token.
func (v *vaultServer) withToken(token string) *vaultServer {
	c := *v
	c.Token = token
	return &c
}

// run runs the vault CLI.
func (v *vaultServer) run(args ...string) (string, string, error) {
	return runCmd(cliTimeout, v.env(), v.home, bins.vault, args...)
}

// must runs the vault CLI and fails the test if it fails.
func (v *vaultServer) must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := v.run(args...)
	if err != nil {
		t.Fatalf("$ vault %s\n%v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// mustJSON runs the vault CLI with JSON output (VAULT_FORMAT=json) and
// decodes it into out.
func (v *vaultServer) mustJSON(t testing.TB, out any, args ...string) {
	t.Helper()
	stdout, errOut, err := runCmd(cliTimeout, append(v.env(), "VAULT_FORMAT=json"), v.home, bins.vault, args...)
	if err != nil {
		t.Fatalf("$ vault %s\n%v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout, errOut)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("$ vault %s: decoding JSON: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// mustFail runs the vault CLI, which must fail, and returns its stderr.
func (v *vaultServer) mustFail(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := v.run(args...)
	if err == nil {
		t.Fatalf("$ vault %s: succeeded, want a failure\n%s", strings.Join(args, " "), out)
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("$ vault %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return errOut
}

// startDevVault starts `vault server -dev` on a free loopback port with the
// shared plugin directory.
func startDevVault(t testing.TB) *vaultServer {
	t.Helper()
	v := &vaultServer{home: t.TempDir(), Token: "root"}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		v.Addr = fmt.Sprintf("http://127.0.0.1:%d", port)
		v.proc = startProc(t, fmt.Sprintf("vault-dev-%d", attempt), baseEnv(v.home), bins.vault,
			"server", "-dev", "-dev-root-token-id="+v.Token,
			"-dev-listen-address="+fmt.Sprintf("127.0.0.1:%d", port),
			"-dev-no-store-token", "-dev-plugin-dir="+bins.pluginDir, "-log-level=debug")
		if v.waitUp(t) || attempt == 3 {
			break
		}
	}
	if v.proc.exited() {
		t.Fatalf("vault dev server did not start:\n%s", v.proc.log())
	}
	return v
}

// waitUp waits until the server answers. It reports false when the process
// died because its port was taken, so that the caller can try another.
func (v *vaultServer) waitUp(t testing.TB) bool {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if v.proc.exited() {
			if strings.Contains(v.proc.log(), "address already in use") {
				return false
			}
			t.Fatalf("vault exited: %v\n%s", v.proc.err, tail(v.proc.logPath, 60))
		}
		// vault status: 0 unsealed, 2 sealed, 1 unreachable or error.
		_, _, err := runCmd(10*time.Second, v.env(), v.home, bins.vault, "status")
		if err == nil {
			return true
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault did not answer within 90s: %v\n%s", err, tail(v.proc.logPath, 60))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startFileVault starts a production-mode server with file storage, inits
// and unseals it. restart() stops it and brings it back on the same data.
func startFileVault(t testing.TB) *vaultServer {
	t.Helper()
	dir := t.TempDir()
	v := &vaultServer{home: dir, configPath: filepath.Join(dir, "vault.hcl")}
	v.startFromConfig(t)

	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	v.mustJSON(t, &init, "operator", "init", "-key-shares=1", "-key-threshold=1")
	if len(init.Keys) != 1 || init.RootToken == "" {
		t.Fatalf("operator init answered %d keys and root token %q", len(init.Keys), init.RootToken)
	}
	v.unsealKey, v.Token = init.Keys[0], init.RootToken
	v.unseal(t)
	return v
}

func (v *vaultServer) startFromConfig(t testing.TB) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v.starts++
		if v.starts == 1 || attempt > 1 {
			// A fresh port only before the first start (or when it was
			// taken); a restart keeps its address, as a real server does.
			port := freePort(t)
			v.Addr = fmt.Sprintf("http://127.0.0.1:%d", port)
			hcl := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
plugin_directory = %q
disable_mlock    = true
api_addr         = "http://127.0.0.1:%d"
log_level        = "debug"
`, filepath.Join(v.home, "data"), port, bins.pluginDir, port)
			if err := os.WriteFile(v.configPath, []byte(hcl), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		v.proc = startProc(t, "vault-"+strconv.Itoa(v.starts), baseEnv(v.home), bins.vault, "server", "-config", v.configPath)
		if v.waitUp(t) || attempt == 3 {
			return
		}
	}
}

func (v *vaultServer) unseal(t testing.TB) {
	t.Helper()
	v.must(t, "operator", "unseal", v.unsealKey)
	// After unsealing, the node takes a moment to become active.
	eventually(t, 60*time.Second, "vault becomes active after unseal", func() error {
		_, errOut, err := v.run("token", "lookup")
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		return nil
	})
}

// restart stops the server (SIGTERM, as an operator would) and starts it
// again on the same storage, then unseals it.
func (v *vaultServer) restart(t testing.TB) {
	t.Helper()
	v.proc.stop()
	v.startFromConfig(t)
	v.unseal(t)
}

// registerPlugin registers one version of the plugin by checksum.
func (v *vaultServer) registerPlugin(t testing.TB, version string) {
	t.Helper()
	switch version {
	case "v0.1.0":
		v.must(t, "plugin", "register", "-sha256="+bins.shaV1, "-version=v0.1.0", "secret", pluginName)
	case "v0.1.1":
		v.must(t, "plugin", "register", "-sha256="+bins.shaV2, "-version=v0.1.1", "-command="+pluginV2Command, "secret", pluginName)
	default:
		t.Fatalf("no plugin binary built for %s", version)
	}
}

// setupEngine registers and enables the plugin at salesforce/, writes the
// connection "emu" with a key pair Vault generates, and hands the emulator
// the certificate: the private key never leaves Vault.
func setupEngine(t testing.TB, v *vaultServer, emu *emulator) {
	t.Helper()
	v.registerPlugin(t, "v0.1.0")
	v.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	connectEmulator(t, v, emu)
}

// connectEmulator writes config/emu; extra holds more field=value pairs.
func connectEmulator(t testing.TB, v *vaultServer, emu *emulator, extra ...string) {
	t.Helper()
	var resp struct {
		Data struct {
			Certificate string `json:"certificate"`
		} `json:"data"`
	}
	args := append([]string{"write", "salesforce/config/emu", "login_url=" + emu.URL, "client_id=" + testClientID,
		"generate_key=true", "allow_non_salesforce_host=true", "ca_cert=@" + emu.CAPath}, extra...)
	v.mustJSON(t, &resp, args...)
	if !strings.Contains(resp.Data.Certificate, "BEGIN CERTIFICATE") {
		t.Fatalf("config/emu with generate_key=true answered no certificate: %+v", resp)
	}
	emu.setCertificate(t, resp.Data.Certificate)
}

// writeRole writes a jwt_bearer role on connection emu.
func writeRole(t testing.TB, v *vaultServer, name, username, ttl, maxTTL string) {
	t.Helper()
	v.must(t, "write", "salesforce/roles/"+name, "connection=emu", "grant_type=jwt_bearer",
		"username="+username, "scopes=api,web", "ttl="+ttl, "max_ttl="+maxTTL)
}

// lease is what `vault read -format=json salesforce/creds/<role>` answers.
type lease struct {
	ID        string `json:"lease_id"`
	Duration  int    `json:"lease_duration"`
	Renewable bool   `json:"renewable"`
	Data      struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
		Scope       string `json:"scope"`
		TokenType   string `json:"token_type"`
		ID          string `json:"id"`
		Username    string `json:"username"`
	} `json:"data"`
}

func readCreds(t testing.TB, v *vaultServer, role string) lease {
	t.Helper()
	var l lease
	v.mustJSON(t, &l, "read", "salesforce/creds/"+role)
	if l.ID == "" || l.Data.AccessToken == "" {
		t.Fatalf("creds/%s answered no lease or no access_token: %+v", role, l)
	}
	if !strings.HasPrefix(l.ID, "salesforce/creds/"+role+"/") {
		t.Fatalf("creds/%s: lease id %q is not under salesforce/creds/%s/", role, l.ID, role)
	}
	return l
}

// leaseExists asks Vault whether it still holds the lease.
func leaseExists(v *vaultServer, id string) (bool, error) {
	_, errOut, err := v.run("lease", "lookup", id)
	if err == nil {
		return true, nil
	}
	if strings.Contains(errOut, "invalid lease") {
		return false, nil
	}
	return false, fmt.Errorf("vault lease lookup %s: %v: %s", id, err, errOut)
}

// waitLeaseGone polls until Vault no longer holds the lease: `vault lease
// revoke` is asynchronous by default.
func waitLeaseGone(t testing.TB, v *vaultServer, id string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "lease "+id+" is gone from Vault", func() error {
		ok, err := leaseExists(v, id)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("vault still holds it")
		}
		return nil
	})
}

// leasesUnder lists the lease ids Vault holds under a prefix such as
// salesforce/creds/app/.
func leasesUnder(t testing.TB, v *vaultServer, prefix string) []string {
	t.Helper()
	out, errOut, err := runCmd(cliTimeout, append(v.env(), "VAULT_FORMAT=json"), v.home, bins.vault, "list", "sys/leases/lookup/"+prefix)
	if err != nil {
		// An empty list is exit status 2 with nothing (or "No value
		// found") to say; an error names itself.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 2 && !strings.Contains(errOut, "Error") {
			return nil
		}
		t.Fatalf("vault list sys/leases/lookup/%s: %v: %s", prefix, err, errOut)
	}
	var ids []string
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("decoding lease list: %v: %s", err, out)
	}
	return ids
}
