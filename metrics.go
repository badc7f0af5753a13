package salesforce

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics. External plugins cannot feed Vault's telemetry sink, so the
// engine keeps its own and serves them at metrics (path_metrics.go). They
// are this backend instance's: counters start at zero when the plugin
// starts, when Vault remounts the engine, and on the node that becomes
// active after a failover, as Prometheus counters do.

// loginBudget is Salesforce's login limit per user and hour.
const loginBudget = 3600

// grantBuckets are the grant latency histogram's upper bounds, in seconds:
// a grant is one HTTPS round trip when Salesforce is well, and up to the
// client's retries when it is not.
var grantBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Grant outcomes.
const (
	grantGranted     = "granted"     // Salesforce answered a token
	grantRefused     = "refused"     // Salesforce refused (a 4xx with an OAuth error)
	grantUnavailable = "unavailable" // unreachable, failing, or not speaking its protocol
	grantFailed      = "failed"      // anything else (our side)
)

type engineMetrics struct {
	reuseHits        atomic.Int64
	sweepRevocations atomic.Int64
	sweepPruned      atomic.Int64

	mu          sync.Mutex
	grants      map[[2]string]int64 // outcome, salesforce error code
	revocations map[string]int64    // ok, failed, given_up
	rollbacks   map[string]int64    // ok, failed, dropped
	latency     histogram
	// logins are the grant times of the last hour, per Salesforce user.
	logins map[string][]time.Time
}

func newEngineMetrics() *engineMetrics {
	return &engineMetrics{
		grants:      map[[2]string]int64{},
		revocations: map[string]int64{},
		rollbacks:   map[string]int64{},
		latency:     histogram{counts: make([]int64, len(grantBuckets))},
		logins:      map[string][]time.Time{},
	}
}

type histogram struct {
	counts []int64 // per bucket, not cumulative
	count  int64
	sum    float64
}

func (h *histogram) observe(v float64) {
	for i, b := range grantBuckets {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += v
}

// grant records one request to Salesforce's token endpoint. user names the
// Salesforce user whose login budget a granted token spent.
func (m *engineMetrics) grant(outcome, code, user string, took time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.grants[[2]string{outcome, code}]++
	m.latency.observe(took.Seconds())
	if outcome == grantGranted && user != "" {
		m.logins[user] = append(recent(m.logins[user], now), now)
	}
}

// recent keeps the logins of the last hour.
func recent(ts []time.Time, now time.Time) []time.Time {
	i := sort.Search(len(ts), func(i int) bool { return now.Sub(ts[i]) < time.Hour })
	return ts[i:]
}

func (m *engineMetrics) revocation(result string) {
	m.mu.Lock()
	m.revocations[result]++
	m.mu.Unlock()
}

func (m *engineMetrics) rollback(result string) {
	m.mu.Lock()
	m.rollbacks[result]++
	m.mu.Unlock()
}

// sample is one value of a metric family.
type sample struct {
	labels [][2]string
	value  float64
}

// family is a metric as Prometheus names it.
type family struct {
	name, help, kind string
	samples          []sample
}

// gauges are computed at each scrape from the ledger and storage.
type gauges struct {
	sessions, holders, owed int
	// certExpiry is seconds until each connection's certificate expires.
	certExpiry []sample
}

// families is everything, in a stable order.
func (m *engineMetrics) families(g gauges, now time.Time) []family {
	m.mu.Lock()
	defer m.mu.Unlock()
	fams := []family{
		{"salesforce_grants_total", "Token requests to Salesforce, by outcome and Salesforce error code.", "counter", m.grantSamples()},
		{"salesforce_grant_duration_seconds", "Time a token request took, retries included.", "histogram", nil},
		{"salesforce_revocations_total", "Revocations at Salesforce: ok (confirmed), failed (an attempt failed; Vault or the sweep retries), given_up (a session the engine can no longer reach).", "counter", labelled("result", m.revocations, "ok", "failed", "given_up")},
		{"salesforce_reuse_hits_total", "Creds reads answered with a recent grant, without asking Salesforce.", "counter", one(m.reuseHits.Load())},
		{"salesforce_sessions", "Salesforce sessions (tokens) the engine holds.", "gauge", one(int64(g.sessions))},
		{"salesforce_holders", "Leases holding those tokens.", "gauge", one(int64(g.holders))},
		{"salesforce_revocations_owed", "Tokens whose revocation failed and is being retried with backoff.", "gauge", one(int64(g.owed))},
		{"salesforce_sweep_revocations_total", "Tokens the periodic sweep revoked (no lease held them any more).", "counter", one(m.sweepRevocations.Load())},
		{"salesforce_sweep_pruned_holders_total", "Holders of leases that expired without being revoked, dropped by the sweep.", "counter", one(m.sweepPruned.Load())},
		{"salesforce_wal_rollbacks_total", "Grants of unknown outcome rolled back: ok, failed (retried), dropped (nothing left to reach).", "counter", labelled("result", m.rollbacks, "ok", "failed", "dropped")},
		{"salesforce_certificate_expiry_seconds", "Seconds until a connection's generated certificate expires (negative: expired).", "gauge", g.certExpiry},
		{"salesforce_logins_last_hour", "Grants in the last hour per Salesforce user; Salesforce allows 3,600.", "gauge", m.loginSamples(now)},
		{"salesforce_login_budget_per_hour", "Salesforce's login limit per user and hour.", "gauge", one(loginBudget)},
	}
	return fams
}

func one(v int64) []sample { return []sample{{value: float64(v)}} }

func labelled(label string, values map[string]int64, always ...string) []sample {
	seen := map[string]bool{}
	var out []sample
	for _, k := range always {
		seen[k] = true
		out = append(out, sample{labels: [][2]string{{label, k}}, value: float64(values[k])})
	}
	for k, v := range values {
		if !seen[k] {
			out = append(out, sample{labels: [][2]string{{label, k}}, value: float64(v)})
		}
	}
	return out
}

func (m *engineMetrics) grantSamples() []sample {
	keys := make([][2]string, 0, len(m.grants))
	for k := range m.grants {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	out := make([]sample, 0, len(keys))
	for _, k := range keys {
		out = append(out, sample{labels: [][2]string{{"outcome", k[0]}, {"error", k[1]}}, value: float64(m.grants[k])})
	}
	return out
}

// loginSamples also forgets users without a login in the last hour, so
// that the map follows live use.
func (m *engineMetrics) loginSamples(now time.Time) []sample {
	users := make([]string, 0, len(m.logins))
	for u, ts := range m.logins {
		if ts = recent(ts, now); len(ts) == 0 {
			delete(m.logins, u)
			continue
		}
		m.logins[u] = ts
		users = append(users, u)
	}
	sort.Strings(users)
	out := make([]sample, 0, len(users))
	for _, u := range users {
		out = append(out, sample{labels: [][2]string{{"user", u}}, value: float64(len(m.logins[u]))})
	}
	return out
}

// prometheusText renders the families in the Prometheus text format 0.0.4.
func (m *engineMetrics) prometheusText(fams []family) string {
	var b strings.Builder
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		if f.kind == "histogram" {
			m.writeHistogram(&b, f.name)
			continue
		}
		for _, s := range f.samples {
			fmt.Fprintf(&b, "%s%s %s\n", f.name, labelText(s.labels), number(s.value))
		}
	}
	return b.String()
}

func (m *engineMetrics) writeHistogram(b *strings.Builder, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cum int64
	for i, le := range grantBuckets {
		cum += m.latency.counts[i]
		fmt.Fprintf(b, "%s_bucket{le=%q} %d\n", name, number(le), cum)
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, m.latency.count, name, number(m.latency.sum), name, m.latency.count)
}

// histogramJSON is the latency histogram for format=json.
func (m *engineMetrics) histogramJSON() map[string]interface{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	buckets := map[string]int64{}
	var cum int64
	for i, le := range grantBuckets {
		cum += m.latency.counts[i]
		buckets[number(le)] = cum
	}
	buckets["+Inf"] = m.latency.count
	return map[string]interface{}{"buckets": buckets, "sum": m.latency.sum, "count": m.latency.count}
}

func labelText(labels [][2]string) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l[0] + "=" + strconv.Quote(l[1])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
