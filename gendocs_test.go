package salesforce

// Documents generated from the code: docs/troubleshooting.md from the hint
// tables (hints.go), docs/openapi.json from the backend's paths. Each test
// fails when the checked-in file differs from what the code generates;
// `make troubleshooting` and `make openapi` rewrite them by running the
// test with -update-generated-docs.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

var updateGeneratedDocs = flag.Bool("update-generated-docs", false, "rewrite the generated files under docs/ instead of checking them")

// checkGenerated compares path with want, or writes it with -update-generated-docs.
func checkGenerated(t *testing.T, path, want, makeTarget string) {
	t.Helper()
	if *updateGeneratedDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make %s` to generate it", err, makeTarget)
	}
	if string(got) != want {
		t.Errorf("%s is stale: it differs from what the code generates at line %d; run `make %s` and commit the result",
			path, firstDiffLine(string(got), want), makeTarget)
	}
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

func TestTroubleshootingDocIsCurrent(t *testing.T) {
	checkGenerated(t, "docs/troubleshooting.md", troubleshootingMarkdown(), "troubleshooting")
}

const troubleshootingIntro = `# Troubleshooting

<!-- Generated from hints.go by ` + "`make troubleshooting`" + `: edit hints.go, not this file. -->

When Salesforce refuses a request, the engine answers **400** with Salesforce's
own ` + "`error` and `error_description`" + ` and a hint, for instance:

` + "```text" + `
salesforce refused the JWT bearer token request: invalid_grant: user hasn't approved this consumer (hint: pre-authorize the user: ...)
` + "```" + `

The hint is the **fix** column below, followed by where to make it in Setup,
for an External Client App and for a Connected App (Salesforce has created no
new Connected Apps since Spring '26; existing ones keep working). A
description matches case-insensitively as part of Salesforce's text; a row
without one covers every other description of its ` + "`error`" + `.

When Salesforce cannot be reached, fails (HTTP 5xx), or answers something
that is not its protocol (an HTML maintenance page, a proxy's answer), the
engine retries with capped exponential backoff and then answers **502**. A
429 or 503 carrying ` + "`Retry-After`" + ` is retried after that wait; a wait past the
request's deadline, or longer than 30 seconds, is answered with the 502 at
once, saying how long Salesforce asked to wait. Try again later.
`

// troubleshootingMarkdown is docs/troubleshooting.md: one row per error and
// description of the hint table.
func troubleshootingMarkdown() string {
	var b strings.Builder
	b.WriteString(troubleshootingIntro)
	b.WriteString("\n## Refusals\n\n")
	b.WriteString("| `error` | `error_description` | meaning | where: External Client App | where: Connected App | fix |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	seen := map[string]bool{} // codes with a row of their own above
	for _, r := range hintRules {
		descs := r.descs
		if len(descs) == 0 {
			descs = []string{""}
		}
		for _, d := range descs {
			desc := "(any)"
			switch {
			case d != "":
				desc = "`" + d + "`"
			case seen[r.code]:
				desc = "(any other)"
			}
			seen[r.code] = true
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n",
				r.code, desc, cell(r.meaning), cell(r.eca), cell(r.ca), cell(r.fix))
		}
	}
	b.WriteString("\n## Answers without an OAuth error\n\n")
	b.WriteString("Something other than Salesforce's OAuth endpoint answered, with no `error` field.\n\n")
	b.WriteString("| HTTP status | meaning | fix |\n|---|---|---|\n")
	for _, s := range statusHints {
		codes := make([]string, len(s.statuses))
		for i, st := range s.statuses {
			codes[i] = fmt.Sprint(st)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", strings.Join(codes, ", "), cell(s.meaning), cell(s.fix))
	}
	fmt.Fprintf(&b, "| any other | | %s |\n", cell(genericHint))
	return b.String()
}

// cell keeps a table cell one cell: no pipe, no line break, never empty.
func cell(s string) string {
	if s == "" {
		return "(not applicable)"
	}
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;").Replace(s)
}

func TestOpenAPIDocIsCurrent(t *testing.T) {
	checkGenerated(t, "docs/openapi.json", openAPIDocument(t), "openapi")
}

// apiMount is where the generated documents assume the engine is mounted.
const apiMount = "salesforce"

// docBackend is the backend as Vault builds it, for documents and the
// tests that hold them to the code.
func docBackend(t *testing.T) *backend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.Logger = hclog.NewNullLogger()
	conf.System = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
		PluginEnvironment: &logical.PluginEnvironment{}}
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(*backend)
	t.Cleanup(func() { b.Cleanup(context.Background()) })
	return b
}

// openAPIDocument is docs/openapi.json: the backend's own OpenAPI, as the
// framework builds it for Vault's root help, with the paths under the mount
// and the document's info describing the engine rather than Vault.
func openAPIDocument(t *testing.T) string {
	t.Helper()
	b := docBackend(t)
	resp, err := b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.HelpOperation, Path: "", Storage: &logical.InmemStorage{},
		Data: map[string]interface{}{"requestResponsePrefix": apiMount},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("the root help carries no OpenAPI document: %#v", resp.Data)
	}
	paths := make(map[string]*framework.OASPathItem, len(doc.Paths))
	for p, item := range doc.Paths {
		paths["/"+apiMount+p] = item
	}
	doc.Paths = paths
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["info"] = map[string]interface{}{
		"title": "Salesforce secrets engine for HashiCorp Vault",
		"description": "The engine's HTTP API, generated from its source by `make openapi`. Paths assume the engine " +
			"is mounted at " + apiMount + "/ and are prefixed with Vault's /v1/. Version 1: fields are added, none renamed. " +
			"See docs/api.md.",
		"version": "1",
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out) + "\n"
}

func TestEveryOperationDocumentsItsResponse(t *testing.T) {
	for _, p := range docBackend(t).Paths {
		for op, h := range p.Operations {
			props := h.Properties()
			if len(props.Responses) == 0 {
				t.Errorf("%s %s: no Responses", op, p.Pattern)
			}
			for code, rs := range props.Responses {
				for _, r := range rs {
					if r.Description == "" {
						t.Errorf("%s %s: response %d has no description", op, p.Pattern, code)
					}
					for name, f := range r.Fields {
						if f.Description == "" {
							t.Errorf("%s %s: response field %q has no description", op, p.Pattern, name)
						}
					}
				}
			}
		}
	}
}

// TestEveryFieldStatesItsDefault: vault path-help shows a field's
// description and nothing else, so the description must say the default
// (the schema's own, when it has one) or that the field is required.
func TestEveryFieldStatesItsDefault(t *testing.T) {
	for _, p := range docBackend(t).Paths {
		for name, f := range p.Fields {
			d := f.Description
			if !strings.Contains(d, "Default: ") && !strings.Contains(d, "Required") {
				t.Errorf("%s %q: the description states no default: %q", p.Pattern, name, d)
				continue
			}
			if f.Default != nil && !strings.Contains(d, "Default: "+defaultText(f)) {
				t.Errorf("%s %q: the description does not say 'Default: %s': %q", p.Pattern, name, defaultText(f), d)
			}
		}
	}
}

// defaultText is a schema default as a description writes it: durations
// in hours when whole, else in seconds.
func defaultText(f *framework.FieldSchema) string {
	if f.Type == framework.TypeDurationSecond {
		if s, ok := f.Default.(int); ok {
			if s%3600 == 0 {
				return fmt.Sprintf("%dh", s/3600)
			}
			return fmt.Sprintf("%ds", s)
		}
	}
	return fmt.Sprint(f.Default)
}
