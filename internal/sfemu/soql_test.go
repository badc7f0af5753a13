package sfemu

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func (h *harness) query(tok, q string) answer {
	h.t.Helper()
	return h.get("/services/data/v65.0/query?q="+url.QueryEscape(q), tok)
}

// restErrors decodes the REST API's error array and insists on one element.
func restErrorOf(t *testing.T, a answer) restError {
	t.Helper()
	var errs []restError
	if err := json.Unmarshal(a.body, &errs); err != nil || len(errs) != 1 {
		t.Fatalf("body is not a one-element error array: %s", a.body)
	}
	return errs[0]
}

// TestQueryOrganization runs the Salesforce CLI's own query after login and
// checks the org's record: its fields in the order selected, true values,
// nulls where the org has none.
func TestQueryOrganization(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OrgName = "Acme" })
	tok := h.mustToken(nil)
	a := h.query(tok, "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization")
	if a.status != 200 || a.ctype != contentTypeJSON {
		t.Fatalf("%d %q %s", a.status, a.ctype, a.body)
	}
	want := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Organization","url":"/services/data/v65.0/sobjects/Organization/00D5g000004XyZaEAK"},` +
		`"Name":"Acme","InstanceName":"EMU1","IsSandbox":false,"TrialExpirationDate":null,"NamespacePrefix":null,"OrganizationType":"Developer Edition"}]}`
	if string(a.body) != want {
		t.Errorf("got  %s\nwant %s", a.body, want)
	}
	// Keywords and names in any case; the answer uses Salesforce's spelling.
	a = h.query(tok, "select id, NAME from organization limit 1")
	var res struct {
		TotalSize int
		Records   []map[string]any
	}
	if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 || res.TotalSize != 1 || len(res.Records) != 1 {
		t.Fatalf("lower case: %d %s", a.status, a.body)
	}
	if r := res.Records[0]; r["Id"] != "00D5g000004XyZaEAK" || r["Name"] != "Acme" || len(r) != 3 {
		t.Errorf("lower case record: %v", r)
	}
	if a := h.query(tok, "SELECT COUNT() FROM Organization"); string(a.body) != `{"totalSize":1,"done":true,"records":[]}` {
		t.Errorf("COUNT(): %d %s", a.status, a.body)
	}
}

// TestQueryUser keeps User queries answering the token's own user.
func TestQueryUser(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	a := h.query(tok, "SELECT Id, Username FROM User LIMIT 1")
	want := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"User","url":"/services/data/v65.0/sobjects/User/005000000000001AAA"},"Id":"005000000000001AAA","Username":"alice@example.com"}]}`
	if a.status != 200 || string(a.body) != want {
		t.Errorf("got %d %s\nwant %s", a.status, a.body, want)
	}
}

// TestQueryInvalidType answers an object the org lacks as Salesforce does:
// 400, an error array, the query echoed with a caret under the object.
// ScratchOrgInfo is how the Salesforce CLI asks whether an org is a Dev Hub.
func TestQueryInvalidType(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	a := h.query(tok, "SELECT Id FROM ScratchOrgInfo limit 1")
	if a.status != 400 || a.ctype != contentTypeJSON {
		t.Fatalf("%d %q %s", a.status, a.ctype, a.body)
	}
	e := restErrorOf(t, a)
	want := "\nSELECT Id FROM ScratchOrgInfo limit 1\n               ^\nERROR at Row:1:Column:16\n" +
		"sObject type 'ScratchOrgInfo' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
	if e.ErrorCode != "INVALID_TYPE" || e.Message != want {
		t.Errorf("got %s: %q\nwant INVALID_TYPE: %q", e.ErrorCode, e.Message, want)
	}
	// The object is resolved before the fields, as at Salesforce.
	if e := restErrorOf(t, h.query(tok, "SELECT Nope FROM Foo__c")); e.ErrorCode != "INVALID_TYPE" || !strings.Contains(e.Message, "sObject type 'Foo__c'") {
		t.Errorf("unknown object and field: %+v", e)
	}
	if got := h.emu.Stats().Errors["INVALID_TYPE"]; got != 2 {
		t.Errorf("INVALID_TYPE counted %d times", got)
	}
}

func TestQueryInvalidField(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	a := h.query(tok, "SELECT Id, Country FROM Organization")
	e := restErrorOf(t, a)
	want := "\nSELECT Id, Country FROM Organization\n           ^\nERROR at Row:1:Column:12\n" +
		"No such column 'Country' on entity 'Organization'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
	if a.status != 400 || e.ErrorCode != "INVALID_FIELD" || e.Message != want {
		t.Errorf("got %d %s: %q\nwant INVALID_FIELD: %q", a.status, e.ErrorCode, e.Message, want)
	}
}

func TestQueryMalformed(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	cases := map[string]string{
		"SELECT Id, FROM Organization":          "\nSELECT Id, FROM Organization\n           ^\nERROR at Row:1:Column:12\nunexpected token: 'FROM'",
		"SELEC Id FROM Organization":            "\nSELEC Id FROM Organization\n^\nERROR at Row:1:Column:1\nunexpected token: 'SELEC'",
		"SELECT Id FROM":                        "\nSELECT Id FROM\n              ^\nERROR at Row:1:Column:15\nunexpected token: '<EOF>'",
		"SELECT Id\nFROM Organization\nWHERE (": "",
		"SELECT Id\n  FRM Organization":         "\n  FRM Organization\n  ^\nERROR at Row:2:Column:3\nunexpected token: 'FRM'",
	}
	for q, want := range cases {
		a := h.query(tok, q)
		if want == "" {
			// Clauses after the object are not read.
			if a.status != 200 {
				t.Errorf("%q: %d %s", q, a.status, a.body)
			}
			continue
		}
		e := restErrorOf(t, a)
		if a.status != 400 || e.ErrorCode != "MALFORMED_QUERY" || e.Message != want {
			t.Errorf("%q: got %d %s %q, want MALFORMED_QUERY %q", q, a.status, e.ErrorCode, e.Message, want)
		}
	}
}

// TestQueryNeedsASession: a dead token gets the REST API's 401 array before
// any SOQL is read.
func TestQueryNeedsASession(t *testing.T) {
	h := newHarness(t, nil)
	a := h.query("00D5g000004XyZa!AQnope", "SELECT Id FROM Foo")
	if e := restErrorOf(t, a); a.status != 401 || e.ErrorCode != "INVALID_SESSION_ID" {
		t.Errorf("%d %s", a.status, a.body)
	}
}
