package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// TestRevocationSurvivesFailingSalesforce: Salesforce fails half of the
// revocations. Leases across several roles and users are revoked by hand or
// left to expire; once Vault's retries (and the engine's own) have run, no
// token is alive at Salesforce without a live lease to hold it.
func TestRevocationSurvivesFailingSalesforce(t *testing.T) {
	t.Parallel()
	const users, leasesPerUser = 10, 2
	var names []string
	for i := range users {
		names = append(names, fmt.Sprintf("user%02d@example.com", i))
	}
	emu := startEmulator(t, testOrg(names...))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	// From now on, half of the revocations fail (HTTP 503), including those
	// of leases that expire while the others are still being read.
	emu.setFaults(t, sfemu.Faults{RevokeFailureRate: 0.5, Seed: 1})
	// Half the roles have long leases that are revoked by hand, half have
	// short ones that expire.
	var leases []lease
	tokens := map[string]bool{}
	for i, u := range names {
		role := fmt.Sprintf("r%02d", i)
		if i%2 == 0 {
			writeRole(t, v, role, u, "30m", "1h")
		} else {
			writeRole(t, v, role, u, "5s", "10s")
		}
		for range leasesPerUser {
			l := readCreds(t, v, role)
			leases = append(leases, l)
			tokens[l.Data.AccessToken] = true
		}
	}
	failedRevokes := 0
	for i, l := range leases {
		if i/leasesPerUser%2 != 0 {
			continue // left to expire
		}
		// Asynchronous (the CLI's default): Vault retries in the background.
		if _, errOut, err := v.run("lease", "revoke", l.ID); err != nil {
			failedRevokes++
			t.Logf("vault lease revoke %s: %v: %s", l.ID, err, strings.TrimSpace(errOut))
		}
	}

	start := time.Now()
	// Vault retries a failed revocation after 10-30s, then 20-60s, ...
	eventually(t, 6*time.Minute, "every lease ended and every token revoked despite the failing revocations", func() error {
		var held []string
		for i := range names {
			held = append(held, leasesUnder(t, v, fmt.Sprintf("salesforce/creds/r%02d/", i))...)
		}
		live := emu.liveSessions(t)
		if len(held) > 0 || len(live) > 0 {
			return fmt.Errorf("%d leases still in Vault, %d tokens still live at Salesforce", len(held), len(live))
		}
		return nil
	})
	st := emu.stats(t)
	t.Logf("%d leases over %d tokens: all revoked %s after the revocations started; %d CLI revokes failed; emulator: %d revoke calls, %d faults injected, errors %v",
		len(leases), len(tokens), time.Since(start).Round(time.Second), failedRevokes, st.RevokeCalls, st.FaultsInjected, st.Errors)
	for tok := range tokens {
		emu.requireDead(t, tok, "token after its leases ended")
	}
	if st.FaultsInjected == 0 {
		t.Errorf("the emulator injected no revocation fault; the test proved nothing")
	}
}
