package salesforce

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// The documentation is checked against the backend itself: a command, a
// Terraform resource or a Kubernetes manifest that names a path or a field
// the engine does not have fails here, so that the docs cannot drift from
// the code. Only references to the mount the docs use, salesforce/, are
// checked; Vault's own paths (sys/..., auth/...) are not ours to check.

// checkedDocs are the documents whose examples must match the backend.
var checkedDocs = []string{"README.md", "docs/salesforce-setup.md", "docs/integrations.md"}

// docsMount is the mount every example in the docs uses.
const docsMount = "salesforce/"

func TestDocsMatchBackend(t *testing.T) {
	c := newDocChecker(t)
	for _, name := range checkedDocs {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		problems, checked := c.checkMarkdown(string(text))
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
		// A parser that finds nothing would pass everything: every document
		// shows at least one command.
		if checked == 0 {
			t.Errorf("%s: no salesforce/ reference was found to check", name)
		}
		t.Logf("%s: %d references checked", name, checked)
	}
}

// TestDocsCheckerCatchesMistakes proves that each kind of check fails on
// a wrong example, so that TestDocsMatchBackend cannot pass by finding
// nothing wrong where it looked at nothing.
func TestDocsCheckerCatchesMistakes(t *testing.T) {
	c := newDocChecker(t)
	cases := []struct{ name, doc, want string }{
		{"unknown field on a write",
			"```sh\nvault write salesforce/config/prod client_id=x bogus_field=1\n```\n", `"bogus_field"`},
		{"unknown path",
			"```sh\nvault read salesforce/nowhere/x\n```\n", "no path"},
		{"operation the path lacks",
			"```sh\nvault delete salesforce/creds/app\n```\n", "supports delete"},
		{"field the answer lacks",
			"```sh\nvault read -field=password salesforce/creds/app\n```\n", `"password"`},
		{"inline command in prose",
			"Run `vault write salesforce/roles/app usernme=a@b.c` now.\n", `"usernme"`},
		{"continued line",
			"```sh\nvault write salesforce/roles/app \\\n    connection=prod \\\n    max-ttl=1h\n```\n", `"max-ttl"`},
		{"terraform data_json key",
			"```hcl\nresource \"vault_generic_endpoint\" \"r\" {\n  path = \"salesforce/roles/app\"\n  data_json = jsonencode({\n    connection = \"prod\"\n    scope      = [\"api\"]\n  })\n}\n```\n", `"scope"`},
		{"terraform write_fields",
			"```hcl\nresource \"vault_generic_endpoint\" \"k\" {\n  path = \"salesforce/config/prod\"\n  write_fields = [\"cert\"]\n  data_json = jsonencode({\n    generate_key = true\n  })\n}\n```\n", `"cert"`},
		{"agent template field",
			"```hcl\ntemplate {\n  contents = \"{{ with secret \\\"salesforce/creds/app\\\" }}{{ .Data.token }}{{ end }}\"\n}\n```\n", `"token"`},
		{"VSO path",
			"```yaml\nkind: VaultDynamicSecret\nspec:\n  mount: salesforce\n  path: cred/app\n```\n", "cred/app"},
		{"write without data or -f",
			"```sh\nvault write salesforce/config/prod/promote-key\n```\n", "needs -f"},
		{"placeholder in a path",
			"```sh\nvault write salesforce/roles/<name> connection=<connection> usrname=<user>\n```\n", `"usrname"`},
		{"curl path",
			"```sh\ncurl -H \"X-Vault-Token: $T\" \"$VAULT_ADDR/v1/salesforce/role/app\"\n```\n", "role/app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := c.checkMarkdown(tc.doc)
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("problems = %q, want one naming %s", problems, tc.want)
			}
		})
	}
	good := "```sh\nvault write salesforce/roles/app connection=prod username=a@b.c scopes=api ttl=15m\n" +
		"vault read -field=access_token salesforce/creds/app\nvault list salesforce/roles\n" +
		"vault write -f salesforce/revoke/<role>\n```\n"
	if problems, n := c.checkMarkdown(good); len(problems) > 0 || n != 4 {
		t.Errorf("correct commands: %d checked, problems %q", n, problems)
	}
}

// docChecker holds the backend's paths, each anchored to match a whole path.
type docChecker struct {
	paths []*framework.Path
	res   []*regexp.Regexp
}

func newDocChecker(t *testing.T) *docChecker {
	t.Helper()
	lb, err := Factory(context.Background(), logical.TestBackendConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := lb.(*backend)
	if !ok {
		t.Fatalf("Factory returned %T, not *backend", lb)
	}
	c := &docChecker{}
	for _, p := range b.Paths {
		c.paths = append(c.paths, p)
		c.res = append(c.res, regexp.MustCompile("^(?:"+strings.TrimPrefix(p.Pattern, "^")+")$"))
	}
	return c
}

// docOp is what a reference does with a path.
type docOp int

const (
	opRead docOp = iota
	opWrite
	opList
	opDelete
)

func (o docOp) String() string { return [...]string{"read", "write", "list", "delete"}[o] }

func (o docOp) operations() []logical.Operation {
	switch o {
	case opWrite:
		return []logical.Operation{logical.CreateOperation, logical.UpdateOperation}
	case opList:
		return []logical.Operation{logical.ListOperation}
	case opDelete:
		return []logical.Operation{logical.DeleteOperation}
	}
	return []logical.Operation{logical.ReadOperation}
}

// docRef is one reference to the engine found in a document: a path under
// the mount, what is done with it, the request fields it sends and the
// answer fields it reads.
type docRef struct {
	where        string // the text it came from, for the error message
	path         string // relative to the mount, placeholders filled in
	op           docOp
	fields       []string
	answers      []string
	unparsed     []string // arguments the checker cannot read
	anyOpFine    bool     // a policy path: any operation will do
	missingForce bool     // a vault write with no data and no -f
}

// check returns what is wrong with the reference, or nothing.
func (c *docChecker) check(r docRef) []string {
	var p *framework.Path
	for i, re := range c.res {
		if re.MatchString(r.path) && (r.anyOpFine || c.hasOp(c.paths[i], r.op)) {
			p = c.paths[i]
			break
		}
	}
	if p == nil {
		return []string{fmt.Sprintf("%s: no path %q supports %s", r.where, docsMount+r.path, r.op)}
	}
	var out []string
	for _, f := range r.fields {
		if _, ok := p.Fields[f]; !ok {
			out = append(out, fmt.Sprintf("%s: path %q has no field %q (fields: %s)",
				r.where, docsMount+r.path, f, strings.Join(sortedKeys(p.Fields), ", ")))
		}
	}
	if len(r.answers) > 0 {
		known := c.answerFields(p, r.op)
		for _, f := range r.answers {
			if _, ok := known[f]; !ok {
				out = append(out, fmt.Sprintf("%s: the %s answer of %q has no field %q (documented: %s)",
					r.where, r.op, docsMount+r.path, f, strings.Join(sortedKeys(known), ", ")))
			}
		}
	}
	if r.missingForce {
		out = append(out, fmt.Sprintf("%s: a vault write without field=value arguments needs -f "+
			"(the CLI refuses it: \"Must supply data or use -force\")", r.where))
	}
	for _, u := range r.unparsed {
		out = append(out, fmt.Sprintf("%s: cannot check argument %q; write it as field=value", r.where, u))
	}
	return out
}

func (c *docChecker) hasOp(p *framework.Path, o docOp) bool {
	for _, op := range o.operations() {
		if _, ok := p.Operations[op]; ok {
			return true
		}
	}
	return false
}

// answerFields are the response fields the path documents for the
// operation, over every status code.
func (c *docChecker) answerFields(p *framework.Path, o docOp) map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{}
	for _, op := range o.operations() {
		h, ok := p.Operations[op]
		if !ok {
			continue
		}
		for _, responses := range h.Properties().Responses {
			for _, resp := range responses {
				for k, v := range resp.Fields {
					fields[k] = v
				}
			}
		}
	}
	return fields
}

func sortedKeys(m map[string]*framework.FieldSchema) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkMarkdown finds every reference in a document and checks it. It
// answers the problems found and how many references were checked.
func (c *docChecker) checkMarkdown(doc string) (problems []string, checked int) {
	var refs []docRef
	blocks, prose := splitMarkdown(doc)
	for _, b := range blocks {
		joined := strings.ReplaceAll(b.text, "\\\n", " ")
		refs = append(refs, cliRefs(joined)...)
		refs = append(refs, curlRefs(joined)...)
		switch b.lang {
		case "hcl", "terraform", "tf":
			refs = append(refs, terraformRefs(b.text)...)
			refs = append(refs, templateRefs(b.text)...)
			refs = append(refs, policyRefs(b.text)...)
		case "yaml", "yml":
			refs = append(refs, vsoRefs(b.text)...)
		}
	}
	for _, span := range inlineCode.FindAllStringSubmatch(prose, -1) {
		refs = append(refs, cliRefs(span[1])...)
	}
	for _, r := range refs {
		problems = append(problems, c.check(r)...)
	}
	return problems, len(refs)
}

type codeBlock struct{ lang, text string }

var fence = regexp.MustCompile("^\\s*```+\\s*([A-Za-z0-9_-]*)")

// splitMarkdown separates fenced code blocks from the prose around them;
// the prose keeps its line breaks as spaces, since inline code may span
// lines.
func splitMarkdown(doc string) (blocks []codeBlock, prose string) {
	var text []string
	var cur *codeBlock
	for _, line := range strings.Split(doc, "\n") {
		if m := fence.FindStringSubmatch(line); m != nil {
			if cur == nil {
				cur = &codeBlock{lang: strings.ToLower(m[1])}
			} else {
				blocks = append(blocks, *cur)
				cur = nil
			}
			continue
		}
		if cur != nil {
			cur.text += line + "\n"
		} else {
			text = append(text, line)
		}
	}
	return blocks, strings.Join(text, " ")
}

var (
	inlineCode  = regexp.MustCompile("`([^`]+)`")
	vaultCmd    = regexp.MustCompile(`\bvault\s+(read|write|list|delete)\s`)
	placeholder = regexp.MustCompile(`<[^<>/]*>|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)
	// wordPlaceholder is a placeholder such as <role> at the start of s.
	wordPlaceholder = regexp.MustCompile(`^<[A-Za-z0-9_.-]+>`)
)

// mountPath returns the path relative to the mount with placeholders
// (<role>, $NAME) filled in, or false when it is not under the mount.
func mountPath(p string) (string, bool) {
	if !strings.HasPrefix(p, docsMount) {
		return "", false
	}
	return placeholder.ReplaceAllString(strings.TrimPrefix(p, docsMount), "x"), true
}

// cliRefs finds `vault read|write|list|delete salesforce/...` commands.
func cliRefs(text string) []docRef {
	var refs []docRef
	for _, loc := range vaultCmd.FindAllStringSubmatchIndex(text, -1) {
		op := map[string]docOp{"read": opRead, "write": opWrite, "list": opList, "delete": opDelete}[text[loc[2]:loc[3]]]
		where := strings.TrimSpace(firstLine(text[loc[0]:]))
		if r, ok := parseCLI(where, op, shellWords(text[loc[1]:])); ok {
			refs = append(refs, r)
		}
	}
	return refs
}

// parseCLI reads a command's words after the verb: flags, the path, then
// field=value arguments. It answers false for another mount's command.
func parseCLI(where string, op docOp, words []string) (docRef, bool) {
	r := docRef{where: where, op: op}
	havePath, force := false, false
	for _, w := range words {
		switch {
		case strings.HasPrefix(w, "-"):
			if f, ok := strings.CutPrefix(w, "-field="); ok {
				r.answers = append(r.answers, f)
			}
			force = force || w == "-f" || w == "-force" || w == "--force"
		case !havePath:
			p, ours := mountPath(w)
			if !ours {
				return docRef{}, false
			}
			if op == opList && !strings.HasSuffix(p, "/") {
				p += "/" // the CLI lists "config" as "config/"
			}
			r.path, havePath = p, true
		default:
			if key, _, ok := strings.Cut(w, "="); ok {
				r.fields = append(r.fields, key)
			} else {
				r.unparsed = append(r.unparsed, w)
			}
		}
	}
	// The CLI refuses a write with no data: "Must supply data or use -force".
	r.missingForce = op == opWrite && !force && len(r.fields) == 0 && len(r.unparsed) == 0
	return r, havePath
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// shellWords splits one command line as a shell would, up to the end of
// the command (a newline, a pipe, a redirection, a comment, a closing
// parenthesis or backtick). Quoting is honoured; nothing is expanded.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			inWord, i = true, i+1+j
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '<' && wordPlaceholder.MatchString(s[i:]):
			// <role> in a path is the docs' placeholder, not a redirection.
			ph := wordPlaceholder.FindString(s[i:])
			cur.WriteString(ph)
			inWord, i = true, i+len(ph)-1
		case strings.IndexByte("\n|;&<>)`", ch) >= 0, ch == '#' && !inWord:
			flush()
			return words
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words
}

var (
	curlPath = regexp.MustCompile(`/v1/` + regexp.QuoteMeta(docsMount) + `([^\s"'?]*)`)
	curlPost = regexp.MustCompile(`-X\s*(POST|PUT)\b|--data\b|-d\s`)
)

// curlRefs finds HTTP calls to the mount: a read unless the command posts.
func curlRefs(text string) []docRef {
	var refs []docRef
	for _, line := range strings.Split(text, "\n") {
		for _, m := range curlPath.FindAllStringSubmatch(line, -1) {
			p, _ := mountPath(docsMount + m[1])
			op := opRead
			if curlPost.MatchString(line) {
				op = opWrite
			}
			refs = append(refs, docRef{where: strings.TrimSpace(line), path: p, op: op})
		}
	}
	return refs
}

var (
	tfPath        = regexp.MustCompile(`(?m)^\s*path\s*=\s*"` + regexp.QuoteMeta(docsMount) + `([^"]*)"`)
	tfWriteFields = regexp.MustCompile(`write_fields\s*=\s*\[([^\]]*)\]`)
	tfQuoted      = regexp.MustCompile(`"([^"]*)"`)
	tfJSON        = regexp.MustCompile(`(?s)jsonencode\(\{(.*?)\}\)`)
	tfKey         = regexp.MustCompile(`(?m)^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=`)
)

// terraformRefs checks the resources that write to the mount
// (vault_generic_endpoint, also ephemeral): their path, the keys of their
// jsonencode'd data and the write_fields they keep from the answer.
func terraformRefs(text string) []docRef {
	var refs []docRef
	for _, block := range topLevelBlocks(text) {
		m := tfPath.FindStringSubmatch(block)
		if m == nil {
			continue
		}
		p, _ := mountPath(docsMount + m[1])
		r := docRef{where: strings.TrimSpace(m[0]), path: p, op: opWrite}
		for _, j := range tfJSON.FindAllStringSubmatch(block, -1) {
			for _, k := range tfKey.FindAllStringSubmatch(j[1], -1) {
				r.fields = append(r.fields, k[1])
			}
		}
		if wf := tfWriteFields.FindStringSubmatch(block); wf != nil {
			for _, q := range tfQuoted.FindAllStringSubmatch(wf[1], -1) {
				r.answers = append(r.answers, q[1])
			}
		}
		refs = append(refs, r)
	}
	return refs
}

// topLevelBlocks splits HCL into its top-level blocks by brace depth.
func topLevelBlocks(text string) []string {
	var blocks []string
	depth, start := 0, 0
	for i, ch := range text {
		switch ch {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				blocks = append(blocks, text[start:i+1])
				start = i + 1
			}
		}
	}
	return blocks
}

var (
	templateSecret = regexp.MustCompile(`secret\s+\\?"` + regexp.QuoteMeta(docsMount) + `([^"\\]*)\\?"`)
	templateData   = regexp.MustCompile(`\.Data\.([A-Za-z_][A-Za-z0-9_]*)`)
	policyPath     = regexp.MustCompile(`(?m)^\s*path\s+"` + regexp.QuoteMeta(docsMount) + `([^"*+]*)"\s*\{`)
)

// templateRefs checks Vault Agent templates: the secret read and the
// .Data fields used from it, line by line.
func templateRefs(text string) []docRef {
	var refs []docRef
	for _, line := range strings.Split(text, "\n") {
		m := templateSecret.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p, _ := mountPath(docsMount + m[1])
		r := docRef{where: strings.TrimSpace(line), path: p, op: opRead}
		for _, d := range templateData.FindAllStringSubmatch(line, -1) {
			r.answers = append(r.answers, d[1])
		}
		refs = append(refs, r)
	}
	return refs
}

// policyRefs checks policy stanzas that name one path of the mount (globs
// are not checked).
func policyRefs(text string) []docRef {
	var refs []docRef
	for _, m := range policyPath.FindAllStringSubmatch(text, -1) {
		p, _ := mountPath(docsMount + m[1])
		refs = append(refs, docRef{where: strings.TrimSpace(m[0]), path: p, anyOpFine: true})
	}
	return refs
}

var (
	yamlMount = regexp.MustCompile(`(?m)^\s*mount:\s*"?([^"\s#]+)"?`)
	yamlPath  = regexp.MustCompile(`(?m)^\s*path:\s*"?([^"\s#]+)"?`)
)

// vsoRefs checks VaultDynamicSecret manifests on the mount: their path
// must be readable.
func vsoRefs(text string) []docRef {
	if !strings.Contains(text, "kind: VaultDynamicSecret") {
		return nil
	}
	mount, path := yamlMount.FindStringSubmatch(text), yamlPath.FindStringSubmatch(text)
	if mount == nil || path == nil || strings.Trim(mount[1], "/")+"/" != docsMount {
		return nil
	}
	p, _ := mountPath(docsMount + strings.TrimPrefix(path[1], "/"))
	return []docRef{{where: "VaultDynamicSecret path: " + path[1], path: p, op: opRead}}
}
