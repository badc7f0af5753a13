package sfemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestContentTypes checks the Content-Type of every kind of answer the
// emulated endpoints give.
func TestContentTypes(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	intro := func(token string, basic bool) answer {
		f := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
		if !basic {
			f.Set("client_id", appMain)
			f.Set("client_secret", secret)
		}
		return h.post("/services/oauth2/introspect", f, func(r *http.Request) {
			if basic {
				r.SetBasicAuth(appMain, secret)
			}
		})
	}
	cases := []struct {
		name   string
		call   func() answer
		status int
		ctype  string
		check  func(t *testing.T, a answer)
	}{
		{"versions", func() answer { return h.get("/services/data/", "") }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			var vs []apiVersion
			if err := json.Unmarshal(a.body, &vs); err != nil || len(vs) == 0 || vs[len(vs)-1].Version != "66.0" || vs[len(vs)-1].Label != "Spring '26" {
				t.Errorf("versions: %v %s", err, a.body)
			}
		}},
		{"versions without slash", func() answer { return h.get("/services/data", "") }, 200, contentTypeJSON, nil},
		{"version resources", func() answer { return h.get("/services/data/v65.0/", tok) }, 200, contentTypeJSON, nil},
		{"limits", func() answer { return h.get("/services/data/v65.0/limits", tok) }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			if !strings.Contains(string(a.body), "DailyApiRequests") {
				t.Errorf("limits: %s", a.body)
			}
		}},
		{"query", func() answer {
			return h.get("/services/data/v65.0/query?q="+url.QueryEscape("SELECT Id FROM User LIMIT 1"), tok)
		}, 200, contentTypeJSON, func(t *testing.T, a answer) {
			if m := a.json(t); m["totalSize"] != float64(1) || m["done"] != true {
				t.Errorf("query: %s", a.body)
			}
		}},
		{"query without q", func() answer { return h.get("/services/data/v65.0/query", tok) }, 400, contentTypeJSON, nil},
		{"unknown version", func() answer { return h.get("/services/data/v12.0/limits", tok) }, 404, contentTypeJSON, nil},
		{"unknown resource", func() answer { return h.get("/services/data/v65.0/nothing", tok) }, 404, contentTypeJSON, nil},
		{"limits without token", func() answer { return h.get("/services/data/v65.0/limits", "") }, 401, contentTypeJSON, func(t *testing.T, a answer) {
			var errs []restError
			if err := json.Unmarshal(a.body, &errs); err != nil || len(errs) != 1 || errs[0].ErrorCode != "INVALID_SESSION_ID" {
				t.Errorf("401 body: %s", a.body)
			}
		}},
		{"userinfo", func() answer { return h.get("/services/oauth2/userinfo", tok) }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			m := a.json(t)
			if m["user_id"] != "005000000000001AAA" || m["organization_id"] != "00D5g000004XyZaEAK" || m["preferred_username"] != "alice@example.com" {
				t.Errorf("userinfo: %s", a.body)
			}
		}},
		{"userinfo dead token", func() answer { return h.get("/services/oauth2/userinfo", "00D5g000004XyZa!AQnope") }, 401, contentTypeJSON, nil},
		{"identity", func() answer { return h.get("/id/00D5g000004XyZaEAK/005000000000001AAA", tok) }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			if m := a.json(t); m["username"] != "alice@example.com" {
				t.Errorf("identity: %s", a.body)
			}
		}},
		{"identity 15-char ids", func() answer { return h.get("/id/00D5g000004XyZa/005000000000001", tok) }, 200, contentTypeJSON, nil},
		{"identity of another user", func() answer { return h.get("/id/00D5g000004XyZaEAK/005000000000009AAA", tok) }, 404, contentTypeJSON, nil},
		{"introspect active", func() answer { return intro(tok, false) }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			m := a.json(t)
			if m["active"] != true || m["client_id"] != appMain || m["username"] != "alice@example.com" || m["token_type"] != "access_token" || m["scope"] != "api web refresh_token" {
				t.Errorf("introspect: %s", a.body)
			}
		}},
		{"introspect basic", func() answer { return intro(tok, true) }, 200, contentTypeJSON, nil},
		{"introspect unknown", func() answer { return intro("00D5g000004XyZa!AQnope", false) }, 200, contentTypeJSON, func(t *testing.T, a answer) {
			if string(a.body) != `{"active":false}` {
				t.Errorf("introspect: %s", a.body)
			}
		}},
		{"introspect bad secret", func() answer {
			return h.post("/services/oauth2/introspect", url.Values{"token": {tok}, "client_id": {appMain}, "client_secret": {"x"}}, nil)
		}, 401, contentTypeJSON, nil},
		{"token success", func() answer { return h.jwtGrant(nil) }, 200, contentTypeJSON, nil},
		{"token error", func() answer { return h.jwtGrant(map[string]any{"iss": "x"}) }, 400, contentTypeJSON, nil},
		{"revoke error", func() answer { return h.revoke("x") }, 400, contentTypeForm, nil},
		{"unknown path", func() answer { return h.get("/nothing", "") }, 404, contentTypeJSON, nil},
		{"POST on data", func() answer { return h.post("/services/data/v65.0/limits", nil, nil) }, 405, contentTypeJSON, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.call()
			if a.status != tc.status || a.ctype != tc.ctype {
				t.Fatalf("got %d %q, want %d %q (body %s)", a.status, a.ctype, tc.status, tc.ctype, a.body)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
	// A successful revoke is 200 with an empty body, last because it ends tok.
	if a := h.revoke(tok); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("revoke: %d %q", a.status, a.body)
	}
}

func TestVersionLabels(t *testing.T) {
	for v, want := range map[int]string{31: "Summer '14", 62: "Winter '25", 64: "Summer '25", 65: "Winter '26", 66: "Spring '26"} {
		if got := versionLabel(v); got != want {
			t.Errorf("v%d = %q, want %q", v, got, want)
		}
	}
}

func TestTokenShape(t *testing.T) {
	e, err := New(Config{OrgID: "00D5g000004XyZaEAK"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok := e.newToken()
		if !tokenShaped(tok) || !strings.HasPrefix(tok, "00D5g000004XyZa!") || seen[tok] {
			t.Fatalf("bad or repeated token %q", tok)
		}
		seen[tok] = true
	}
}

func TestConfigValidation(t *testing.T) {
	testKeys(t)
	bad := map[string]Config{
		"org id":        {OrgID: "001000000000000"},
		"timeout":       {SessionTimeoutSeconds: -1},
		"duplicate app": {Apps: []App{{ClientID: "a"}, {ClientID: "a"}}},
		"empty id":      {Apps: []App{{}}},
		"bad cert":      {Apps: []App{{ClientID: "a", CertificatePEM: "nope"}}},
		"huge cert":     {Apps: []App{{ClientID: "a", CertificatePEM: strings.Repeat("x", 5000)}}},
		"private key":   {Apps: []App{{ClientID: "a", CertificatePEM: keyPEM}}},
	}
	for name, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		}
	}
}

// TestVersionResources: GET /services/data/vNN.N lists that version's
// resources, relative URLs but for identity, the absolute identity URL of
// the token's user. jsforce, given only an access token, follows it.
func TestVersionResources(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	identity := h.base + "/id/00D5g000004XyZaEAK/005000000000001AAA"
	for _, p := range []string{"/services/data/v65.0", "/services/data/v65.0/"} {
		a := h.get(p, tok)
		if a.status != 200 || a.ctype != contentTypeJSON {
			t.Fatalf("%s: %d %q %s", p, a.status, a.ctype, a.body)
		}
		m := a.json(t)
		want := map[string]any{
			"identity": identity,
			"query":    "/services/data/v65.0/query",
			"sobjects": "/services/data/v65.0/sobjects",
			"limits":   "/services/data/v65.0/limits",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %v, want %v", p, k, m[k], v)
			}
		}
	}
	// The identity URL it lists answers for that token.
	path := strings.TrimPrefix(identity, h.base)
	if a := h.get(path, tok); a.status != 200 || a.json(t)["username"] != "alice@example.com" {
		t.Errorf("identity %s: %d %s", path, a.status, a.body)
	}
	// A dead token: the REST API's 401 array.
	h.revoke(tok)
	a := h.get("/services/data/v65.0", tok)
	var errs []restError
	if a.status != 401 || a.ctype != contentTypeJSON || json.Unmarshal(a.body, &errs) != nil || len(errs) != 1 || errs[0].ErrorCode != "INVALID_SESSION_ID" {
		t.Errorf("dead token: %d %q %s", a.status, a.ctype, a.body)
	}
}
