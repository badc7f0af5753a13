package sfemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (h *harness) admin(method, path, body string) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+"/__sfemu/"+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func TestAdminAPI(t *testing.T) {
	h := newHarness(t, nil)
	tok := h.mustToken(nil)
	h.revoke("x")

	a := h.admin("GET", "stats", "")
	var st Stats
	if a.status != 200 || a.ctype != contentTypeJSON || json.Unmarshal(a.body, &st) != nil {
		t.Fatalf("stats: %d %s", a.status, a.body)
	}
	if st.Grants["jwt_bearer"] != 1 || st.TokenCalls != 1 || st.RevokeCalls != 1 || st.Errors["unsupported_token_type"] != 1 || len(st.Sessions) != 1 {
		t.Errorf("stats: %s", a.body)
	}
	if strings.Contains(string(a.body), tok) || !strings.Contains(string(a.body), `"revoked_at":null`) {
		t.Errorf("stats leaks the token or lacks revoked_at: %s", a.body)
	}

	if a := h.admin("POST", "revoke-all", ""); a.status != 204 || h.emu.TokenActive(tok) {
		t.Fatalf("revoke-all: %d", a.status)
	}
	tok = h.mustToken(nil)
	if a := h.admin("POST", "expire-all", ""); a.status != 204 || h.emu.TokenActive(tok) {
		t.Fatalf("expire-all: %d", a.status)
	}
	if a := h.admin("POST", "reset", ""); a.status != 204 || len(h.emu.Stats().Sessions) != 0 {
		t.Fatalf("reset: %d", a.status)
	}
	if a := h.admin("GET", "reset", ""); a.status != 405 {
		t.Errorf("GET reset: %d", a.status)
	}
	if a := h.admin("GET", "nothing", ""); a.status != 404 {
		t.Errorf("unknown admin path: %d", a.status)
	}

	// The demo's path: Vault generates the key, the emulator is handed the
	// certificate Vault returned.
	if a := h.admin("PUT", "apps/"+appNoCert+"/certificate", certPEM); a.status != 204 {
		t.Fatalf("put certificate: %d %s", a.status, a.body)
	}
	if a := h.jwtGrant(map[string]any{"iss": appNoCert}); a.status != 200 {
		t.Fatalf("grant after certificate upload: %d %s", a.status, a.body)
	}
	if a := h.admin("PUT", "apps/"+appNoCert+"/certificate", "junk"); a.status != 400 {
		t.Errorf("junk certificate: %d", a.status)
	}
	if a := h.admin("PUT", "apps/unknown/certificate", certPEM); a.status != 404 {
		t.Errorf("unknown app: %d", a.status)
	}
	// A public key works as well as a certificate; the other key replaces
	// the first, which then stops working.
	if err := h.emu.SetAppCertificate(appMain, otherCert); err != nil {
		t.Fatal(err)
	}
	if m := h.jwtGrant(nil).json(t); m["error_description"] != descBadAssertion {
		t.Errorf("old key after rotation: %v", m)
	}

	app := `{"client_id":"3MVG9added","certificate_pem":` + jsonString(certPEM) + `,"scopes":"api id","users":[{"username":"zed@example.com"}]}`
	if a := h.admin("POST", "apps", app); a.status != 204 {
		t.Fatalf("post app: %d %s", a.status, a.body)
	}
	a = h.jwtGrant(map[string]any{"iss": "3MVG9added", "sub": "zed@example.com"})
	if a.status != 200 || a.json(t)["scope"] != "api id" {
		t.Fatalf("grant on added app (users default to approved and active): %d %s", a.status, a.body)
	}
	if a := h.admin("POST", "apps", `{"client_id":"x","bogus":1}`); a.status != 400 {
		t.Errorf("unknown field: %d", a.status)
	}
	if a := h.admin("PUT", "apps/3MVG9added/users", `{"username":"zed@example.com","active":false}`); a.status != 204 {
		t.Fatalf("put user: %d %s", a.status, a.body)
	}
	if m := h.jwtGrant(map[string]any{"iss": "3MVG9added", "sub": "zed@example.com"}).json(t); m["error"] != "inactive_user" {
		t.Errorf("deactivated via admin: %v", m)
	}
	a = h.admin("GET", "apps", "")
	if a.status != 200 || strings.Contains(string(a.body), secret) || !strings.Contains(string(a.body), "3MVG9added") {
		t.Errorf("apps: %s", a.body)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestFaults(t *testing.T) {
	h := newHarness(t, nil)
	a := h.admin("POST", "faults", `{"token_failure_rate":0.5,"seed":42}`)
	if a.status != 200 {
		t.Fatalf("post faults: %d %s", a.status, a.body)
	}
	var f Faults
	if err := json.Unmarshal(h.admin("GET", "faults", "").body, &f); err != nil || f.TokenFailureRate != 0.5 || f.Status != 503 || f.Seed != 42 {
		t.Fatalf("get faults: %+v %v", f, err)
	}
	run := func() []int {
		h.emu.SetFaults(Faults{TokenFailureRate: 0.5, Seed: 42})
		var out []int
		for i := 0; i < 40; i++ {
			a := h.jwtGrant(nil)
			out = append(out, a.status)
			if a.status == 503 && (a.ctype != contentTypeHTML || !strings.Contains(string(a.body), "<html>")) {
				t.Fatalf("fault answer: %q %s", a.ctype, a.body)
			}
		}
		return out
	}
	first, second := run(), run()
	fails := 0
	for i := range first {
		if first[i] != second[i] {
			t.Fatal("the same seed gave a different fault sequence")
		}
		if first[i] == 503 {
			fails++
		}
	}
	if fails < 8 || fails > 32 {
		t.Errorf("%d of 40 failed at rate 0.5", fails)
	}
	// Faults spare the admin API and the endpoints they do not name.
	h.emu.SetFaults(Faults{TokenFailureRate: 1, Status: 500})
	if a := h.get("/services/data/", ""); a.status != 200 {
		t.Errorf("REST under token faults: %d", a.status)
	}
	if a := h.jwtGrant(nil); a.status != 500 || a.ctype != contentTypeHTML {
		t.Errorf("status 500 fault: %d %q", a.status, a.ctype)
	}
	h.emu.SetFaults(Faults{RevokeFailureRate: 1})
	if a := h.revoke("x"); a.status != 503 {
		t.Errorf("revoke fault: %d", a.status)
	}
	if a := h.admin("POST", "faults", `{"token_failure_rate":2}`); a.status != 400 {
		t.Errorf("rate 2 accepted: %d", a.status)
	}
	if a := h.admin("POST", "faults", `{"status":200}`); a.status != 400 {
		t.Errorf("status 200 accepted: %d", a.status)
	}

	h.emu.SetFaults(Faults{LatencyMS: 50})
	start := time.Now()
	h.get("/services/data/", "")
	if time.Since(start) < 50*time.Millisecond {
		t.Error("latency not applied")
	}

	// A hung request waits for the client to give up.
	h.emu.SetFaults(Faults{HangRate: 1})
	c := *h.client
	c.Timeout = 200 * time.Millisecond
	start = time.Now()
	if resp, err := c.Get(h.base + "/services/data/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("hung request answered: %d %q after %v hdr=%v", resp.StatusCode, b, time.Since(start), resp.Header)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hang outlived the client by %v", d)
	}
	// ...or until hang_ms passes, then answers with the fault status.
	h.emu.SetFaults(Faults{HangRate: 1, HangMS: 30})
	if a := h.get("/services/data/", ""); a.status != 503 {
		t.Errorf("after hang_ms: %d", a.status)
	}
	h.emu.SetFaults(Faults{})
	if st := h.emu.Stats(); st.FaultsInjected == 0 || st.Errors["fault"] != st.FaultsInjected {
		t.Errorf("faults not counted: %+v", st)
	}
}
