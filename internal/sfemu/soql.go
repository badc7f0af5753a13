package sfemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The emulated org answers SOQL on two objects: Organization (itself) and
// User (the caller). It reads "SELECT <fields> FROM <object>" and nothing
// after the object: WHERE, ORDER BY and LIMIT are not evaluated, which
// changes nothing for Organization (one record) and keeps User to the
// token's own user. An unknown object or field is answered as Salesforce
// answers it, so that clients get true answers or true errors.

const (
	// Organization values that Salesforce would read from the org's setup.
	orgType         = "Developer Edition"
	orgInstanceName = "EMU1"
	defaultOrgName  = "sfemu Emulated Org"

	msgInvalidType = "sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
	msgNoSuchField = "No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
)

// sobjectFields lists, per queryable object, its fields in Salesforce's
// spelling; a query may spell them in any case.
var sobjectFields = map[string][]string{
	"Organization": {"Id", "Name", "OrganizationType", "IsSandbox", "InstanceName", "TrialExpirationDate", "NamespacePrefix"},
	"User":         {"Id", "Username", "Name", "Email", "IsActive"},
}

// soqlToken is a word or a punctuation mark and where it starts (a byte
// offset into the query).
type soqlToken struct {
	text string
	pos  int
}

// soqlQuery is the part of a query the emulator reads.
type soqlQuery struct {
	fields []soqlToken // as written
	count  bool        // SELECT COUNT()
	object soqlToken
}

// soqlError is a query refusal: errorCode, the offending token, the reason.
type soqlError struct {
	code   string
	pos    int
	reason string
}

func isSOQLWordByte(c byte) bool { return isBase62(c) || c == '_' || c == '.' }

// soqlTokens splits the query into words and single punctuation marks; the
// last token is an empty one at the end of the query.
func soqlTokens(q string) []soqlToken {
	var out []soqlToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isSOQLWordByte(c):
			j := i
			for j < len(q) && isSOQLWordByte(q[j]) {
				j++
			}
			out = append(out, soqlToken{q[i:j], i})
			i = j
		default:
			_, n := utf8.DecodeRuneInString(q[i:])
			out = append(out, soqlToken{q[i : i+n], i})
			i += n
		}
	}
	return append(out, soqlToken{"", len(q)})
}

func unexpected(t soqlToken) *soqlError {
	text := t.text
	if text == "" {
		text = "<EOF>"
	}
	return &soqlError{code: "MALFORMED_QUERY", pos: t.pos, reason: fmt.Sprintf("unexpected token: '%s'", text)}
}

// parseSOQL reads "SELECT a, b FROM Object" (or "SELECT COUNT() FROM
// Object") and ignores what follows the object.
func parseSOQL(q string) (*soqlQuery, *soqlError) {
	toks := soqlTokens(q)
	i := 0
	next := func() soqlToken {
		t := toks[i]
		if i < len(toks)-1 {
			i++
		}
		return t
	}
	if t := next(); !strings.EqualFold(t.text, "SELECT") {
		return nil, unexpected(t)
	}
	var sq soqlQuery
	for {
		t := next()
		switch {
		case strings.EqualFold(t.text, "COUNT") && toks[i].text == "(" && len(sq.fields) == 0 && !sq.count:
			next()
			if c := next(); c.text != ")" {
				return nil, unexpected(c)
			}
			sq.count = true
		case t.text != "" && isSOQLWordByte(t.text[0]) && !strings.EqualFold(t.text, "FROM") && !sq.count:
			sq.fields = append(sq.fields, t)
		default:
			return nil, unexpected(t)
		}
		sep := next()
		if sep.text == "," && !sq.count {
			continue
		}
		if !strings.EqualFold(sep.text, "FROM") {
			return nil, unexpected(sep)
		}
		break
	}
	sq.object = next()
	if sq.object.text == "" || !isSOQLWordByte(sq.object.text[0]) {
		return nil, unexpected(sq.object)
	}
	return &sq, nil
}

// canonical finds name in list, ignoring case, in Salesforce's spelling.
func canonical(list []string, name string) (string, bool) {
	for _, x := range list {
		if strings.EqualFold(x, name) {
			return x, true
		}
	}
	return "", false
}

// message renders a refusal as Salesforce does: the query line, a caret
// under the token, its row and column (from 1), then the reason.
func (se *soqlError) message(q string) string {
	start := strings.LastIndexByte(q[:se.pos], '\n') + 1
	end := strings.IndexByte(q[se.pos:], '\n')
	if end < 0 {
		end = len(q)
	} else {
		end += se.pos
	}
	row := strings.Count(q[:se.pos], "\n") + 1
	col := utf8.RuneCountInString(q[start:se.pos]) + 1
	return fmt.Sprintf("\n%s\n%s^\nERROR at Row:%d:Column:%d\n%s",
		strings.TrimRight(q[start:end], "\r"), strings.Repeat(" ", col-1), row, col, se.reason)
}

// record is one query result record: attributes first, then the fields in
// the order the query selected them, as Salesforce writes it.
type record struct {
	keys   []string
	values map[string]any
}

func (r record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(r.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type queryResult struct {
	TotalSize int      `json:"totalSize"`
	Done      bool     `json:"done"`
	Records   []record `json:"records"`
}

// sobjectRecords is every record of object the caller can see, as values by
// field name, with the record's id.
func (e *Emulator) sobjectRecords(object string, s session) []map[string]any {
	switch object {
	case "Organization":
		// orgID and orgName never change after New: no lock needed.
		return []map[string]any{{
			"Id": e.orgID, "Name": e.orgName, "OrganizationType": orgType, "IsSandbox": false,
			"InstanceName": orgInstanceName, "TrialExpirationDate": nil, "NamespacePrefix": nil,
		}}
	case "User":
		return []map[string]any{{
			"Id": s.userID, "Username": s.username, "Name": s.username, "Email": s.username, "IsActive": true,
		}}
	}
	return nil
}

// serveQuery answers GET .../vNN.N/query?q=... for the caller's session.
func (e *Emulator) serveQuery(w http.ResponseWriter, r *http.Request, s session, prefix string) {
	q := r.URL.Query().Get("q")
	if strings.TrimSpace(q) == "" {
		e.count("MALFORMED_QUERY")
		writeJSON(w, http.StatusBadRequest, []restError{{ErrorCode: "MALFORMED_QUERY", Message: "A query string has to be specified"}})
		return
	}
	res, serr := e.runQuery(q, s, prefix)
	if serr != nil {
		e.count(serr.code)
		writeJSON(w, http.StatusBadRequest, []restError{{ErrorCode: serr.code, Message: serr.message(q)}})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (e *Emulator) runQuery(q string, s session, prefix string) (*queryResult, *soqlError) {
	sq, serr := parseSOQL(q)
	if serr != nil {
		return nil, serr
	}
	var object string
	var fields []string
	for name, fs := range sobjectFields {
		if strings.EqualFold(name, sq.object.text) {
			object, fields = name, fs
		}
	}
	// Salesforce resolves the object before its fields.
	if object == "" {
		return nil, &soqlError{"INVALID_TYPE", sq.object.pos, fmt.Sprintf(msgInvalidType, sq.object.text)}
	}
	keys := []string{"attributes"}
	for _, f := range sq.fields {
		c, ok := canonical(fields, f.text)
		if !ok {
			return nil, &soqlError{"INVALID_FIELD", f.pos, fmt.Sprintf(msgNoSuchField, f.text, object)}
		}
		if !contains(keys, c) {
			keys = append(keys, c)
		}
	}
	rows := e.sobjectRecords(object, s)
	res := &queryResult{TotalSize: len(rows), Done: true, Records: []record{}}
	if sq.count {
		return res, nil
	}
	for _, row := range rows {
		row["attributes"] = map[string]string{"type": object, "url": prefix + "/sobjects/" + object + "/" + row["Id"].(string)}
		res.Records = append(res.Records, record{keys: keys, values: row})
	}
	return res, nil
}
