package e2e

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// TestRaftClusterHA runs the engine on a three-node Vault cluster on
// integrated storage (raft), as operators deploy it. Standbys forward creds
// reads and lease revocations to the active node; after a step-down and
// after the active node's process is killed, another node takes over and
// the engine's work carries on there: reads, explicit revocations of leases
// the old active issued, their expiry, and break glass, each checked at
// Salesforce. The killed node comes back as a standby. At the end no token
// the engine obtained is alive and no process log holds a secret.
//
// Roles, one Salesforce user each, so that a token's holders are known:
// app (alice) shared by many leases; solo (bob) one lease at a time, whose
// revocation must reach Salesforce; short (carol) 10s leases that expire
// after a failover; bg (dave) for break glass; cc the client-credentials
// Run As user.
func TestRaftClusterHA(t *testing.T) {
	t.Parallel()
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	defer phase("done")

	emu := startEmulator(t, testOrg("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"))
	c := startRaftCluster(t, 3)
	phase("3 voters, all unsealed")

	active := c.active(t, failoverDeadline)
	standbys := c.standbys(t)
	if len(standbys) != 2 {
		t.Fatalf("after the cluster came up: %d standbys, want 2", len(standbys))
	}

	// Register and enable once, on the active node: the plugin catalog and
	// the mount reach the others through raft. The connection is written
	// through a standby, so that the private key and the consumer secret
	// travel the forwarding path whose logs are searched at the end.
	active.registerPlugin(t, "v0.1.0")
	active.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	key := clusterConnection(t, standbys[0], emu)
	writeRole(t, active.vaultServer, "app", "alice@example.com", "10m", "1h")
	writeRole(t, active.vaultServer, "solo", "bob@example.com", "10m", "1h")
	writeRole(t, active.vaultServer, "short", "carol@example.com", "10s", "10s")
	writeRole(t, active.vaultServer, "bg", "dave@example.com", "10m", "1h")
	active.must(t, "write", "salesforce/roles/cc", "connection=emu", "grant_type=client_credentials",
		"scopes=api,web", "ttl=10m", "max_ttl=1h")
	phase("engine mounted and configured")

	var tokens []string // every token handed out, for the leak search
	read := func(v *raftNode, role string) lease {
		t.Helper()
		l := readCreds(t, v.vaultServer, role)
		tokens = append(tokens, l.Data.AccessToken)
		return l
	}

	// Through the standbys: two leases share one token; revoking one of
	// them (forwarded too) leaves the token working.
	a1 := read(standbys[0], "app")
	a2 := read(standbys[1], "app")
	if a1.Data.AccessToken != a2.Data.AccessToken {
		t.Fatalf("two creds reads of role app through the standbys got different tokens; Salesforce shares one session per user, so the leases should hold one token")
	}
	shared := a1.Data.AccessToken
	emu.requireLive(t, shared, "token read through a standby")
	standbys[0].must(t, "lease", "revoke", a1.ID)
	waitLeaseGone(t, standbys[0].vaultServer, a1.ID, time.Minute)
	emu.requireLive(t, shared, "shared token after revoking one of its two leases through a standby")
	cc := read(standbys[1], "cc")
	emu.requireLive(t, cc.Data.AccessToken, "client-credentials token read through a standby")
	phase("reads and a revocation through standbys")

	// Failover 1: step-down. A lease the old active issued, last holder of
	// its token, is revoked through the new active and the token dies.
	solo1 := read(standbys[0], "solo")
	emu.requireLive(t, solo1.Data.AccessToken, "solo token before the step-down")
	active.must(t, "operator", "step-down")
	stepped := active
	active = c.failedOver(t, stepped, "step-down", &tokens)
	phase("step-down: " + active.name + " is active")
	emu.requireLive(t, shared, "shared token after the step-down (a failover revokes nothing)")
	active.must(t, "lease", "revoke", solo1.ID)
	waitLeaseGone(t, active.vaultServer, solo1.ID, time.Minute)
	emu.waitDead(t, solo1.Data.AccessToken, 30*time.Second,
		"token of a lease issued before the step-down, revoked through the new active")
	// The node that stepped down serves as a standby.
	eventually(t, failoverDeadline, "creds through "+stepped.name+", which stepped down", func() error {
		l, err := tryReadCreds(stepped.vaultServer, "app")
		if err == nil {
			tokens = append(tokens, l.Data.AccessToken)
		}
		return err
	})
	phase("revocation after step-down reached Salesforce")

	// Failover 2: SIGKILL of the active node's process (and its plugin).
	// Leases issued before it: solo (last holder), short (expires after
	// the kill), bg (break glass), app (stays held).
	solo2 := read(active, "solo")
	bg := read(active, "bg")
	a3 := read(active, "app")
	short := read(active, "short")
	if short.Duration <= 0 || short.Duration > 10 {
		t.Fatalf("role short: lease_duration %d, want (0, 10]", short.Duration)
	}
	// Alive now, so whoever ends it does so after the kill: the new active.
	emu.requireLive(t, short.Data.AccessToken, "short token just before the SIGKILL")
	killed := active
	killed.kill()
	phase("SIGKILL " + killed.name)
	active = c.failedOver(t, killed, "SIGKILL", &tokens)
	phase("SIGKILL: " + active.name + " is active")
	emu.requireLive(t, a3.Data.AccessToken, "app token after the active node was killed")

	// (a) An explicit revocation of a lease the dead node issued.
	active.must(t, "lease", "revoke", solo2.ID)
	waitLeaseGone(t, active.vaultServer, solo2.ID, time.Minute)
	emu.waitDead(t, solo2.Data.AccessToken, 30*time.Second,
		"token of a lease issued before the SIGKILL, revoked through the new active")
	// (c) Break glass on a token the dead node obtained: dead at once.
	active.must(t, "write", "-f", "salesforce/revoke/bg")
	emu.requireDead(t, bg.Data.AccessToken, "token granted before the SIGKILL, after `vault write -f salesforce/revoke/bg` on the new active")
	phase("revocation and break glass after SIGKILL reached Salesforce")

	// The remaining node, a standby, forwards to the new active.
	for _, n := range c.nodes {
		if n == killed || n == active {
			continue
		}
		eventually(t, failoverDeadline, "creds through "+n.name+", a standby, after the SIGKILL", func() error {
			l, err := tryReadCreds(n.vaultServer, "app")
			if err == nil {
				tokens = append(tokens, l.Data.AccessToken)
			}
			return err
		})
	}

	// The killed node restarts on its data, rejoins as a standby, and
	// forwards reads.
	c.restart(t, killed)
	phase(killed.name + " restarted and is a standby")
	// A standby that just found the active node may not have its
	// forwarding connection up yet.
	var back lease
	eventually(t, failoverDeadline, "creds through the restarted "+killed.name, func() error {
		var err error
		back, err = tryReadCreds(killed.vaultServer, "app")
		if err == nil {
			tokens = append(tokens, back.Data.AccessToken)
		}
		return err
	})
	emu.requireLive(t, back.Data.AccessToken, "token read through the restarted node")
	c.waitVoters(t, active, 3)

	// (b) The short lease, issued just before the SIGKILL, expires under
	// the new active: its expiration manager (or the engine's sweep)
	// revokes the token at Salesforce. Nothing else ends carol's session.
	emu.waitDead(t, short.Data.AccessToken, 90*time.Second,
		"token of a 10s lease issued before the SIGKILL, once the lease expired under the new active")
	waitLeaseGone(t, active.vaultServer, short.ID, time.Minute)
	phase("pre-SIGKILL lease expired and its token died at Salesforce")

	// Revoke everything: no token the engine obtained lives on.
	active.must(t, "lease", "revoke", "-sync", "-prefix", "salesforce/")
	eventually(t, time.Minute, "no lease left under salesforce/", func() error {
		if ids := leasesUnder(t, active.vaultServer, "salesforce/creds/"); len(ids) > 0 {
			return fmt.Errorf("still leases under %v", ids)
		}
		return nil
	})
	eventually(t, 30*time.Second, "no session alive at the emulator", func() error {
		if live := emu.liveSessions(t); len(live) != 0 {
			return fmt.Errorf("%d live sessions: %+v", len(live), live)
		}
		return nil
	})
	for _, tok := range tokens {
		emu.requireDead(t, tok, "a token handed out during the test, after revoking every lease")
	}
	phase("every lease revoked, no live session")

	checkClusterLogs(t, c, emu, key, tokens)
}

// failedOver waits until a node other than old is active and serves creds
// reads, and returns it. The token it read is added to tokens.
func (c *raftCluster) failedOver(t testing.TB, old *raftNode, how string, tokens *[]string) *raftNode {
	t.Helper()
	next := c.active(t, failoverDeadline, old)
	eventually(t, failoverDeadline, "creds through "+next.name+", active after "+how, func() error {
		l, err := tryReadCreds(next.vaultServer, "app")
		if err == nil {
			*tokens = append(*tokens, l.Data.AccessToken)
		}
		return err
	})
	return next
}

// clusterKey is the connection's key pair: the test knows the private key
// so that it can search the logs for it.
type clusterKey struct {
	keyPEM, certPEM string
	der             []byte
}

// clusterConnection writes config/emu through v with a private key and the
// consumer secret, and hands the Connected App the key's certificate.
func clusterConnection(t testing.TB, v *raftNode, emu *emulator) clusterKey {
	t.Helper()
	keyPEM, certPEM, err := sfemu.TestKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		t.Fatal("sfemu.TestKeyPair answered a key that is not PEM")
	}
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	v.must(t, "write", "salesforce/config/emu", "login_url="+emu.URL, "client_id="+testClientID,
		"private_key=@"+keyFile, "client_secret="+testClientSecret,
		"allow_non_salesforce_host=true", "ca_cert=@"+emu.CAPath)
	emu.setCertificate(t, certPEM)
	return clusterKey{keyPEM: keyPEM, certPEM: certPEM, der: block.Bytes}
}

// checkClusterLogs searches every process's log (each Vault node, with the
// plugin's output in it, across restarts, and the emulator) for the private
// key, the consumer secret and every access token handed out.
func checkClusterLogs(t *testing.T, c *raftCluster, emu *emulator, key clusterKey, tokens []string) {
	t.Helper()
	secrets := map[string]string{
		"private key PEM body":   pemBody([]byte(key.keyPEM)),
		"private key base64 DER": base64.StdEncoding.EncodeToString(key.der),
		"consumer secret":        testClientSecret,
	}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("access token %d", i)] = tok
	}
	logs := c.logs()
	logs["emulator log"] = emu.proc.log()
	// The search must have something to search: the plugin's own lines.
	pluginLines := 0
	size := 0
	for _, text := range logs {
		pluginLines += strings.Count(text, pluginName)
		size += len(text)
	}
	if pluginLines == 0 {
		t.Fatalf("no Vault log mentions %s: the plugin's output is not where the search looks", pluginName)
	}
	hits := 0
	for where, text := range logs {
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s found in the %s", what, where)
				hits++
			}
		}
	}
	t.Logf("searched %d logs (%d bytes, %d plugin lines) for %d secrets: %d hits", len(logs), size, pluginLines, len(secrets), hits)
}
