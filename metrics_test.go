package salesforce

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// scrape reads metrics as Prometheus would and parses them with its own
// text parser.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp := e.mustOK(logical.ReadOperation, "metrics", nil)
	if ct := resp.Data[logical.HTTPContentType]; ct != prometheusContentType {
		e.t.Fatalf("content type %v, want %s", ct, prometheusContentType)
	}
	body := string(resp.Data[logical.HTTPRawBody].([]byte))
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("prometheus cannot parse the metrics: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of family with the given labels (all must match);
// 0 when there is none (a family without samples is not in the text).
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if matches(m, labels) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMetricsMoveWithTheWork(t *testing.T) {
	e := newTestEnv(t, nil)
	e.connection(nil)
	e.role("app", nil)

	first := e.creds("app")  // a grant
	second := e.creds("app") // a reuse
	fams := e.scrape()
	for _, name := range []string{"salesforce_grants_total", "salesforce_revocations_total", "salesforce_reuse_hits_total",
		"salesforce_sessions", "salesforce_holders", "salesforce_sweep_revocations_total", "salesforce_wal_rollbacks_total",
		"salesforce_logins_last_hour", "salesforce_login_budget_per_hour", "salesforce_grant_duration_seconds"} {
		if fams[name] == nil {
			t.Errorf("no metric family %s", name)
		}
	}
	if got := value(t, fams, "salesforce_grants_total", "outcome", "granted"); got != 1 {
		t.Errorf("granted = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_reuse_hits_total"); got != 1 {
		t.Errorf("reuse hits = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_grant_duration_seconds"); got != 1 {
		t.Errorf("grant latency observations = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_logins_last_hour", "user", emuUser); got != 1 {
		t.Errorf("logins in the last hour of %s = %v, want 1", emuUser, got)
	}
	if got := value(t, fams, "salesforce_sessions"); got != 1 {
		t.Errorf("sessions = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_holders"); got != 2 {
		t.Errorf("holders = %v, want 2", got)
	}

	// A failed and then a retried revocation of the last holder.
	if err := e.revokeLease(first); err != nil {
		t.Fatal(err)
	}
	e.emu.SetFaults(sfemu.Faults{RevokeFailureRate: 1, Status: 503, Seed: 1})
	if err := e.revokeLease(second); err == nil {
		t.Fatal("the revocation should have failed")
	}
	e.emu.SetFaults(sfemu.Faults{})
	if err := e.revokeLease(second); err != nil {
		t.Fatal(err)
	}
	fams = e.scrape()
	if got := value(t, fams, "salesforce_revocations_total", "result", "failed"); got != 1 {
		t.Errorf("failed revocations = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_revocations_total", "result", "ok"); got != 1 {
		t.Errorf("confirmed revocations = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_sessions"); got != 0 {
		t.Errorf("sessions after the last lease = %v, want 0", got)
	}
}

func TestMetricsCountRefusalsByCode(t *testing.T) {
	e := newTestEnv(t, func(c *sfemu.Config) { c.Apps[0].Users[0].Approved = false })
	e.connection(nil)
	e.role("app", nil)
	if resp, err := e.do(logical.ReadOperation, "creds/app", nil); err != nil || !resp.IsError() {
		t.Fatalf("want a refusal, got %v %#v", err, resp)
	}
	fams := e.scrape()
	if got := value(t, fams, "salesforce_grants_total", "outcome", "refused", "error", "invalid_grant"); got != 1 {
		t.Errorf("refused invalid_grant = %v, want 1", got)
	}
	if got := value(t, fams, "salesforce_logins_last_hour", "user", emuUser); got != 0 {
		t.Errorf("a refused grant counted against the login budget: %v", got)
	}
}

func TestMetricsCertificateExpiryAndJSON(t *testing.T) {
	e := newTestEnv(t, nil)
	e.mustOK(logical.UpdateOperation, "config/gen", map[string]interface{}{
		"client_id": emuClientID, "generate_key": true, "certificate_validity": "720h",
	})
	got := value(t, e.scrape(), "salesforce_certificate_expiry_seconds", "connection", "gen", "key", "current")
	if got < 719*3600 || got > 720*3600 {
		t.Errorf("certificate expires in %v s, want about 30 days", got)
	}
	resp := e.mustOK(logical.ReadOperation, "metrics", map[string]interface{}{"format": "json"})
	m := resp.Data["metrics"].(map[string]interface{})
	if _, ok := m["salesforce_grants_total"]; !ok {
		t.Fatalf("format=json lacks salesforce_grants_total: %v", m)
	}
	if resp, err := e.do(logical.ReadOperation, "metrics", map[string]interface{}{"format": "xml"}); err == nil && !resp.IsError() {
		t.Fatal("an unknown format must be refused")
	}
}
