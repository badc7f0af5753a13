package sfemu

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// defaultHang is how long a hung request waits for its client to give up.
const defaultHang = 60 * time.Second

// Faults makes the emulator misbehave as Salesforce does during incidents:
// failures with an HTML maintenance page, latency, and requests that hang.
// They apply to the emulated endpoints, never to the admin API.
type Faults struct {
	// TokenFailureRate and RevokeFailureRate (0..1) are the share of token
	// and revoke requests answered with Status.
	TokenFailureRate  float64 `json:"token_failure_rate"`
	RevokeFailureRate float64 `json:"revoke_failure_rate"`
	// Status is the HTTP status of an injected failure; 0 means 503.
	Status    int `json:"status"`
	LatencyMS int `json:"latency_ms"`
	// HangRate (0..1) is the share of requests held until the client gives
	// up, HangMS (0 means 60000) passes, or the emulator is closed.
	HangRate float64 `json:"hang_rate"`
	HangMS   int     `json:"hang_ms,omitempty"`
	// Seed makes the sequence of injected faults repeatable.
	Seed uint64 `json:"seed"`
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"token_failure_rate": f.TokenFailureRate, "revoke_failure_rate": f.RevokeFailureRate, "hang_rate": f.HangRate} {
		if r < 0 || r > 1 || r != r {
			return fmt.Errorf("'%s' (%v) must be between 0 and 1", name, r)
		}
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("'status' (%d) must be an HTTP error status, 400 to 599", f.Status)
	}
	if f.LatencyMS < 0 || f.HangMS < 0 {
		return fmt.Errorf("'latency_ms' (%d) and 'hang_ms' (%d) cannot be negative", f.LatencyMS, f.HangMS)
	}
	return nil
}

func clampRate(r float64) float64 {
	if r != r || r < 0 {
		return 0
	}
	return min(r, 1)
}

// SetFaults replaces the fault settings; out-of-range values are clamped
// (the admin API refuses them instead).
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	e.setFaultsLocked(f)
	e.mu.Unlock()
}

// GetFaults returns the fault settings in force, defaults filled in.
func (e *Emulator) GetFaults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

func (e *Emulator) setFaultsLocked(f Faults) {
	f.TokenFailureRate = clampRate(f.TokenFailureRate)
	f.RevokeFailureRate = clampRate(f.RevokeFailureRate)
	f.HangRate = clampRate(f.HangRate)
	if f.Status < 400 || f.Status > 599 {
		f.Status = http.StatusServiceUnavailable
	}
	f.LatencyMS = max(f.LatencyMS, 0)
	if f.HangMS <= 0 {
		f.HangMS = int(defaultHang / time.Millisecond)
	}
	e.faults = f
	e.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x5f3759df)) //nolint:gosec // G404: faults repeat by seed on purpose
}

const maintenancePage = `<!DOCTYPE html>
<html><head><meta charset="UTF-8"><title>Salesforce - Unavailable</title></head>
<body><h1>Service Unavailable</h1>
<p>We are down for maintenance. Salesforce will be back shortly; see trust.salesforce.com for status.</p>
</body></html>
`

// injectFault applies the configured faults to one request and reports
// whether it has answered it.
func (e *Emulator) injectFault(w http.ResponseWriter, r *http.Request) bool {
	e.mu.Lock()
	f := e.faults
	var hang, fail bool
	if f.HangRate > 0 {
		hang = e.rng.Float64() < f.HangRate
	}
	rate := 0.0
	switch r.URL.Path {
	case "/services/oauth2/token":
		rate = f.TokenFailureRate
	case "/services/oauth2/revoke":
		rate = f.RevokeFailureRate
	}
	if rate > 0 {
		fail = e.rng.Float64() < rate
	}
	if hang || fail {
		e.counters.faultsInjected++
		e.counters.errors["fault"]++
	}
	e.mu.Unlock()

	if hang {
		t := time.NewTimer(time.Duration(f.HangMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			abandon()
		case <-e.closed:
		case <-t.C:
		}
		failPage(w, f.Status)
		return true
	}
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		select {
		case <-r.Context().Done():
			t.Stop()
			abandon()
		case <-t.C:
		}
	}
	if fail {
		failPage(w, f.Status)
		return true
	}
	return false
}

// abandon ends a request whose client has gone without answering it.
// Returning from the handler instead would make net/http send an empty 200,
// which a client that gave up at that very moment can still read as an
// answer (seen under load: a hung request "answered" 200 after 200ms).
func abandon() {
	panic(http.ErrAbortHandler)
}

func failPage(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", contentTypeHTML)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(maintenancePage))
}
