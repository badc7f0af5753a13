package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

// scrapeMetrics fetches salesforce/metrics as a Prometheus scrape job does:
// an HTTP GET with a Vault token, parsed with Prometheus's own parser.
func scrapeMetrics(t *testing.T, v *vaultServer) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.Addr+"/v1/salesforce/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+v.Token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /v1/salesforce/metrics: HTTP %d, %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("prometheus cannot parse the metrics Vault served: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

// TestMetricsThroughVault: the Prometheus text crosses the plugin protocol
// and Vault's HTTP layer intact, with a Bearer token as Prometheus sends it,
// and the JSON form reads through the CLI.
func TestMetricsThroughVault(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, testOrg("alice@example.com"))
	v := startDevVault(t)
	setupEngine(t, v, emu)
	writeRole(t, v, "app", "alice@example.com", "10m", "1h")
	readCreds(t, v, "app")
	readCreds(t, v, "app")
	m := scrapeMetrics(t, v)
	if got := m["salesforce_grants_total,outcome=granted,error="]; got != 1 {
		t.Errorf("granted = %v, want 1 (%v)", got, m)
	}
	if got := m["salesforce_reuse_hits_total"]; got != 1 {
		t.Errorf("reuse hits = %v, want 1", got)
	}
	if got := m["salesforce_holders"]; got != 2 {
		t.Errorf("holders = %v, want 2", got)
	}
	if got := m["salesforce_certificate_expiry_seconds,connection=emu,key=current"]; got < 86400 {
		t.Errorf("certificate expiry = %v s, want the generated certificate's (years)", got)
	}
	var js struct {
		Data struct {
			Metrics map[string]interface{} `json:"metrics"`
		} `json:"data"`
	}
	v.mustJSON(t, &js, "read", "salesforce/metrics", "format=json")
	if _, ok := js.Data.Metrics["salesforce_logins_last_hour"]; !ok {
		t.Fatalf("format=json through the CLI lacks salesforce_logins_last_hour: %v", js.Data.Metrics)
	}
}
