// Package e2e holds end-to-end tests that drive a real Vault server, the real
// vault CLI and Vault Agent, the real plugin binary and the Salesforce
// emulator binary (cmd/sfemu) over HTTPS, all on loopback.
//
// TestMain finds or builds Vault with scripts/get-vault.sh (the first run
// builds it from the Go module proxy, which takes minutes) and builds the
// plugin and the emulator once. Every test starts its own processes, each
// with a deadline, and stops them (whole process groups) when it ends.
package e2e
