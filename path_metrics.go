package salesforce

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	formatPrometheus = "prometheus"
	formatJSON       = "json"
	// prometheusContentType is the text exposition format, version 0.0.4.
	prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
)

func pathMetrics(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "metrics$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "read",
			OperationSuffix: "metrics",
		},
		Fields: map[string]*framework.FieldSchema{
			"format": {
				Type:          framework.TypeString,
				Description:   "Output format: prometheus (the text exposition format) or json. Default: prometheus.",
				Default:       formatPrometheus,
				AllowedValues: []interface{}{formatPrometheus, formatJSON},
				Query:         true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathMetricsRead,
				Summary:  "The engine's metrics: grants, revocations, reuse, sessions, certificates, login budget.",
				// The active node does the work the counters count.
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "Prometheus text (format=prometheus) or, with format=json, one entry per metric family.",
						Fields: map[string]*framework.FieldSchema{
							"metrics": {Type: framework.TypeMap, Description: "Metric families by name: help, type and samples (format=json)."},
						}}},
				},
			},
		},
		HelpSynopsis:    pathMetricsHelpSyn,
		HelpDescription: pathMetricsHelpDesc,
	}}
}

func (b *backend) pathMetricsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	format := d.Get("format").(string)
	if format != formatPrometheus && format != formatJSON {
		return logical.ErrorResponse("'format' %q is not supported; use prometheus or json", format), nil
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	now := b.ledger.Now()
	g, err := b.scrapeGauges(ctx, req.Storage, now)
	if err != nil {
		return nil, err
	}
	fams := b.metrics.families(g, now)
	if format == formatJSON {
		return &logical.Response{Data: map[string]interface{}{"metrics": b.metricsJSON(fams)}}, nil
	}
	return &logical.Response{Data: map[string]interface{}{
		logical.HTTPContentType: prometheusContentType,
		logical.HTTPRawBody:     []byte(b.metrics.prometheusText(fams)),
		logical.HTTPStatusCode:  http.StatusOK,
	}}, nil
}

// scrapeGauges reads what the gauges show now: the ledger, and the
// certificates of the connections.
func (b *backend) scrapeGauges(ctx context.Context, s logical.Storage, now time.Time) (gauges, error) {
	var g gauges
	for _, v := range b.ledger.Sessions() {
		g.sessions++
		g.holders += v.Holders
		if v.Pending != nil {
			g.owed++
		}
	}
	names, err := s.List(ctx, configStoragePrefix)
	if err != nil {
		return g, err
	}
	for _, name := range names {
		conn, err := b.cache.connection(ctx, s, name)
		if err != nil || conn == nil {
			continue
		}
		for _, c := range []struct{ which, pem string }{{"current", conn.Certificate}, {"pending", conn.PendingCertificate}} {
			if c.pem == "" {
				continue
			}
			if exp, err := certificateExpiry(c.pem); err == nil {
				g.certExpiry = append(g.certExpiry, sample{
					labels: [][2]string{{"connection", name}, {"key", c.which}},
					value:  float64(int64(exp.Sub(now).Seconds())),
				})
			}
		}
	}
	return g, nil
}

func (b *backend) metricsJSON(fams []family) map[string]interface{} {
	out := make(map[string]interface{}, len(fams))
	for _, f := range fams {
		entry := map[string]interface{}{"help": f.help, "type": f.kind}
		if f.kind == "histogram" {
			entry["histogram"] = b.metrics.histogramJSON()
		} else {
			samples := make([]map[string]interface{}, 0, len(f.samples))
			for _, s := range f.samples {
				labels := map[string]string{}
				for _, l := range s.labels {
					labels[l[0]] = l[1]
				}
				samples = append(samples, map[string]interface{}{"labels": labels, "value": s.value})
			}
			entry["samples"] = samples
		}
		out[f.name] = entry
	}
	return out
}

const pathMetricsHelpSyn = `The engine's own metrics, for Prometheus or as JSON.`

const pathMetricsHelpDesc = `
External plugins cannot feed Vault's telemetry, so the engine serves its own
metrics: token requests by outcome and Salesforce error code, their latency,
revocations (ok, failed, given up), reuse hits, live sessions and holders,
revocations owed, sweep and rollback work, seconds until each connection's
certificate expires, and each Salesforce user's logins in the last hour
against the 3,600 an hour Salesforce allows. If the engine is mounted at
salesforce/:

    curl -H "X-Vault-Token: $VAULT_TOKEN" $VAULT_ADDR/v1/salesforce/metrics
    vault read -format=json salesforce/metrics format=json

The counters are this node's and start at zero when the plugin starts or the
node becomes active, as Prometheus counters do. Reads on a standby are
forwarded to the active node.
`
