package e2e

import (
	"fmt"
	"testing"
	"time"
)

type mountInfo struct {
	Type                   string `json:"type"`
	PluginVersion          string `json:"plugin_version"`
	RunningPluginVersion   string `json:"running_plugin_version"`
	RunningPluginSHA256    string `json:"running_sha256"`
	RunningPluginIsBuiltin bool   `json:"running_plugin_is_builtin"`
}

func mountOf(t testing.TB, v *vaultServer, path string) mountInfo {
	t.Helper()
	var mounts map[string]mountInfo
	v.mustJSON(t, &mounts, "secrets", "list")
	m, ok := mounts[path]
	if !ok {
		t.Fatalf("no mount %s in `vault secrets list`: %v", path, mounts)
	}
	return m
}

// TestPluginUpgrade: the operator registers v0.1.1 beside v0.1.0, moves the
// mount to it and reloads; Vault reports the new running version, leases
// issued by v0.1.0 still revoke at Salesforce, and v0.1.1 issues tokens.
func TestPluginUpgrade(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	v.registerPlugin(t, "v0.1.1")
	writeRole(t, v, "app", "alice@example.com", "30m", "1h")

	if m := mountOf(t, v, "salesforce/"); m.RunningPluginVersion != "v0.1.0" {
		t.Fatalf("before the upgrade: running_plugin_version = %q, want v0.1.0 (%+v)", m.RunningPluginVersion, m)
	}
	old := readCreds(t, v, "app")
	emu.requireLive(t, old.Data.AccessToken, "token issued by v0.1.0")

	v.must(t, "secrets", "tune", "-plugin-version=v0.1.1", "salesforce/")
	v.must(t, "plugin", "reload", "-plugin="+pluginName)
	eventually(t, time.Minute, "the mount runs v0.1.1 after tune + reload", func() error {
		m := mountOf(t, v, "salesforce/")
		if m.RunningPluginVersion != "v0.1.1" || m.PluginVersion != "v0.1.1" {
			return fmt.Errorf("plugin_version=%q running_plugin_version=%q", m.PluginVersion, m.RunningPluginVersion)
		}
		if m.RunningPluginSHA256 != "" && m.RunningPluginSHA256 != bins.shaV2 {
			return fmt.Errorf("running_sha256 %s is not v0.1.1's %s", m.RunningPluginSHA256, bins.shaV2)
		}
		return nil
	})

	// The role and connection carried over; v0.1.1 issues tokens.
	fresh := readCreds(t, v, "app")
	emu.requireLive(t, fresh.Data.AccessToken, "token issued by v0.1.1")

	// The lease v0.1.0 issued revokes under v0.1.1. It may share its token
	// with the fresh lease, so revoke both and check both tokens die.
	v.must(t, "lease", "revoke", old.ID)
	waitLeaseGone(t, v, old.ID, time.Minute)
	if fresh.Data.AccessToken == old.Data.AccessToken {
		emu.requireLive(t, fresh.Data.AccessToken, "shared token while the v0.1.1 lease still holds it")
	} else {
		emu.waitDead(t, old.Data.AccessToken, 30*time.Second, "v0.1.0's token revoked by v0.1.1")
	}
	v.must(t, "lease", "revoke", fresh.ID)
	waitLeaseGone(t, v, fresh.ID, time.Minute)
	emu.waitDead(t, old.Data.AccessToken, 30*time.Second, "token issued by v0.1.0, revoked after the upgrade")
	emu.waitDead(t, fresh.Data.AccessToken, 30*time.Second, "token issued by v0.1.1, revoked")
}
