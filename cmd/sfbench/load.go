package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one measured load phase. Latency is wall time of one
// request as the client saw it, connection reuse included.
type loadResult struct {
	Name     string        `json:"name"`
	Clients  int           `json:"clients"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	PerSec   float64       `json:"per_sec"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// CPU per successful request, of each process, over the phase: the
	// machine's whole budget, since all three share its CPUs.
	VaultCPU  time.Duration `json:"vault_cpu_per_request_ns,omitempty"`
	PluginCPU time.Duration `json:"plugin_cpu_per_request_ns,omitempty"`
	ClientCPU time.Duration `json:"client_cpu_per_request_ns,omitempty"`
	// FirstError is the first failure's text, so that a broken phase says
	// why; request bodies and answers are never part of it.
	FirstError string `json:"first_error,omitempty"`
}

// loadSpec bounds a load phase by time, by count, or both: whichever comes
// first ends it, so that no loop runs unbounded.
type loadSpec struct {
	name     string
	clients  int
	duration time.Duration // 0: no time bound besides ctx
	count    int           // 0: no count bound besides maxOps
	op       func(ctx context.Context) error
}

// maxOps caps a time-bound phase should the server answer implausibly fast,
// keeping the latency samples in memory bounded.
const maxOps = 2_000_000

func runLoad(ctx context.Context, s loadSpec) loadResult {
	limit := int64(maxOps)
	if s.count > 0 {
		limit = int64(s.count)
	}
	var (
		issued   atomic.Int64
		errCount atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	deadline := time.Time{}
	if s.duration > 0 {
		deadline = time.Now().Add(s.duration)
	}
	lats := make([][]time.Duration, s.clients)
	start := time.Now()
	for w := range s.clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				if issued.Add(1) > limit {
					break
				}
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				err := s.op(ctx)
				d := time.Since(t0)
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, d)
			}
			lats[w] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lats...)
	slices.Sort(all)
	r := loadResult{
		Name: s.name, Clients: s.clients, Requests: len(all), Errors: int(errCount.Load()),
		Elapsed: elapsed, PerSec: float64(len(all)) / elapsed.Seconds(),
		P50: quantile(all, 0.50), P90: quantile(all, 0.90), P99: quantile(all, 0.99),
	}
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	if v := firstErr.Load(); v != nil {
		r.FirstError = v.(string)
	}
	return r
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func (r loadResult) String() string {
	return fmt.Sprintf("%s c=%d: %d ok, %d errors in %s: %.0f/s p50=%s p90=%s p99=%s max=%s",
		r.Name, r.Clients, r.Requests, r.Errors, r.Elapsed.Round(time.Millisecond), r.PerSec,
		ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max))
}

// ms formats a duration in milliseconds with enough digits for sub-ms values.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
