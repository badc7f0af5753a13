package salesforce

// Documents generated from the code: docs/troubleshooting.md from the hint
// tables (hints.go), docs/openapi.json from the backend's paths. Each test
// fails when the checked-in file differs from what the code generates;
// `make troubleshooting` and `make openapi` rewrite them by running the
// test with -update-generated-docs.

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
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
