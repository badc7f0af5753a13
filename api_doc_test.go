package salesforce

// docs/api.md is written by hand; this test holds it to the backend: every
// path and operation has its section, every field its parameter line (with
// the schema's default), every response field its place in the sample
// response, and the document names no operation the backend lacks.

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const apiDocPath = "docs/api.md"

// apiDocMethods is how the HashiCorp-style reference writes each operation.
var apiDocMethods = map[logical.Operation]string{
	logical.CreateOperation: "POST",
	logical.UpdateOperation: "POST",
	logical.ReadOperation:   "GET",
	logical.DeleteOperation: "DELETE",
	logical.ListOperation:   "LIST",
}

// apiDocPathOf turns a path pattern into the reference's form:
// "config/(?P<name>[^/]+)/certificate$" is /salesforce/config/:name/certificate.
func apiDocPathOf(t *testing.T, pattern string) string {
	t.Helper()
	p := strings.ReplaceAll(pattern, nameFieldRegex, ":name")
	p = strings.TrimSuffix(p, "$")
	p = strings.TrimSuffix(p, "/?")
	if strings.ContainsAny(p, `()[]?*+\^$|`) {
		t.Fatalf("pattern %q has a part the reference test cannot name; teach apiDocPathOf", pattern)
	}
	return "/" + apiMount + "/" + p
}

// apiDocRow is the method table row of an operation.
func apiDocRow(method, path string) *regexp.Regexp {
	return regexp.MustCompile("(?m)^\\| `" + method + "` +\\| `" + regexp.QuoteMeta(path) + "` \\|$")
}

// apiDocSection is the "## " section holding loc, up to the next one.
func apiDocSection(doc string, loc int) string {
	start := strings.LastIndex(doc[:loc], "\n## ")
	end := strings.Index(doc[loc:], "\n## ")
	if end < 0 {
		return doc[start:]
	}
	return doc[start : loc+end]
}

func readAPIDoc(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestAPIDocCoversTheBackend(t *testing.T) {
	doc := readAPIDoc(t)
	for _, p := range docBackend(t).Paths {
		path := apiDocPathOf(t, p.Pattern)
		for op, h := range p.Operations {
			if _, both := p.Operations[logical.UpdateOperation]; op == logical.CreateOperation && both {
				continue // one POST section documents both
			}
			method := apiDocMethods[op]
			loc := apiDocRow(method, path).FindStringIndex(doc)
			if loc == nil {
				t.Errorf("%s: no section with the row | `%s` | `%s` |", apiDocPath, method, path)
				continue
			}
			checkAPIDocSection(t, apiDocSection(doc, loc[0]), method+" "+path, op, p, h.Properties())
		}
	}
}

func checkAPIDocSection(t *testing.T, section, name string, op logical.Operation, p *framework.Path, props framework.OperationProperties) {
	t.Helper()
	for _, want := range []string{"### Sample request", "$ curl", "### Sample response"} {
		if !strings.Contains(section, want) {
			t.Errorf("%s: the section has no %q", name, want)
		}
	}
	if !strings.Contains(section, "$ vault ") && !strings.Contains(section, "The `vault` CLI cannot show this answer") {
		t.Errorf("%s: the section has no `vault` CLI example, nor says why not", name)
	}
	for field, f := range p.Fields {
		// A write documents every field; other operations, the path's
		// own and their query parameters.
		write := op == logical.CreateOperation || op == logical.UpdateOperation
		if !write && !f.Query && !strings.Contains(p.Pattern, "<"+field+">") {
			continue
		}
		line := apiDocParamLine(section, field)
		if line == "" {
			t.Errorf("%s: parameter %q is not documented (want a line \"- `%s` `(type: default)` - ...\")", name, field, field)
			continue
		}
		if f.Default != nil && !strings.Contains(line, defaultText(f)) {
			t.Errorf("%s: parameter %q: %q does not give the default %s", name, field, line, defaultText(f))
		}
	}
	for code, rs := range props.Responses {
		for _, r := range rs {
			for field := range r.Fields {
				if !strings.Contains(section, fmt.Sprintf("%q:", field)) {
					t.Errorf("%s: response field %q (HTTP %d) is not in the sample response", name, field, code)
				}
			}
		}
	}
}

func apiDocParamLine(section, field string) string {
	prefix := "- `" + field + "` `("
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// TestAPIDocNamesOnlyWhatExists: a documented operation the backend does
// not have (renamed, removed, or not merged yet) fails too.
func TestAPIDocNamesOnlyWhatExists(t *testing.T) {
	have := map[string]bool{}
	for _, p := range docBackend(t).Paths {
		for op := range p.Operations {
			have[apiDocMethods[op]+" "+apiDocPathOf(t, p.Pattern)] = true
		}
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z]+)` +\\| `(/[^`]*)` \\|$")
	rows := row.FindAllStringSubmatch(readAPIDoc(t), -1)
	for _, m := range rows {
		if !have[m[1]+" "+m[2]] {
			t.Errorf("%s documents %s %s, which the backend does not serve", apiDocPath, m[1], m[2])
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no method table rows", apiDocPath)
	}
}
