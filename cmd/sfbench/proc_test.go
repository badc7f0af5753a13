package main

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

// burnUntil hashes until this process's CPU time, as procCPU reads it,
// passes least; it fails the test if that takes more than 10s.
func burnUntil(t *testing.T, least time.Duration) time.Duration {
	t.Helper()
	sum := sha256.Sum256(nil)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for range 10000 {
			sum = sha256.Sum256(sum[:])
		}
		now, err := procCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > least {
			return now
		}
	}
	t.Fatalf("procCPU did not pass %s after 10s of hashing", least)
	return 0
}

func TestProcCPUCountsWorkDone(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	burnUntil(t, before)
}

func TestPerRequestDividesEachProcessCPU(t *testing.T) {
	m := startCPU(os.Getpid(), os.Getpid())
	burnUntil(t, m.start[0]+40*time.Millisecond)
	r := loadResult{Requests: 4}
	m.perRequest(&r)
	now, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []time.Duration{r.VaultCPU, r.PluginCPU, r.ClientCPU} {
		if got >= 10*time.Millisecond && got <= (now-m.start[0])/4 {
			continue
		}
		t.Fatalf("per request = %s/%s/%s, want the CPU used since the start (40ms to %s) divided by 4 for each process",
			r.VaultCPU, r.PluginCPU, r.ClientCPU, now-m.start[0])
	}
}
