//go:build race

package e2e

// raceEnabled: the tests run with -race, so the plugin and the emulator are
// built with it too and a data race in them fails the test that hit it.
const raceEnabled = true
