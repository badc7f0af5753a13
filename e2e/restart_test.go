package e2e

import (
	"testing"
	"time"
)

// TestVaultRestartKeepsRevocation: a production-mode Vault (file storage,
// init, unseal) issues a token, restarts, and after unsealing still revokes
// that token at Salesforce when the lease is revoked: everything revocation
// needs survived in Vault's storage.
func TestVaultRestartKeepsRevocation(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startFileVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "app", "alice@example.com", "30m", "1h")

	before := readCreds(t, v, "app")
	emu.requireLive(t, before.Data.AccessToken, "token issued before the restart")

	v.restart(t)

	emu.requireLive(t, before.Data.AccessToken, "token after Vault restarted (a restart revokes nothing)")
	if ok, err := leaseExists(v, before.ID); err != nil || !ok {
		t.Fatalf("lease %s after restart: exists=%v err=%v", before.ID, ok, err)
	}
	// The connection and role survived too: a new read works.
	after := readCreds(t, v, "app")
	emu.requireLive(t, after.Data.AccessToken, "token issued after the restart")

	v.must(t, "lease", "revoke", before.ID)
	v.must(t, "lease", "revoke", after.ID)
	waitLeaseGone(t, v, before.ID, time.Minute)
	waitLeaseGone(t, v, after.ID, time.Minute)
	emu.waitDead(t, before.Data.AccessToken, 30*time.Second, "token issued before the restart, revoked after it")
	emu.waitDead(t, after.Data.AccessToken, 30*time.Second, "token issued after the restart, revoked")
}
