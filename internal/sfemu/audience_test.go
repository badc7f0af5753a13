package sfemu

import (
	"encoding/json"
	"net/http"
	"testing"
)

// audienceOutcome grants with aud and reports "" on success, else the
// error_description.
func (h *harness) audienceOutcome(aud string) string {
	h.t.Helper()
	a := h.jwtGrant(map[string]any{"aud": aud})
	if a.status == http.StatusOK {
		return ""
	}
	d, _ := a.json(h.t)["error_description"].(string)
	return d
}

func (h *harness) wantAudiences(accepted, refused []string) {
	h.t.Helper()
	for _, aud := range accepted {
		if got := h.audienceOutcome(aud); got != "" {
			h.t.Errorf("aud %q refused (%s), want accepted", aud, got)
		}
	}
	for _, aud := range refused {
		if got := h.audienceOutcome(aud); got != descBadAudience {
			h.t.Errorf("aud %q: got %q, want %q", aud, got, descBadAudience)
		}
	}
}

// TestOwnURLAudienceDisabled: an emulator configured as Salesforce documents
// the flow (login and test only) refuses its own URL as aud, which is what
// a client that sends its login URL first must cope with.
func TestOwnURLAudienceDisabled(t *testing.T) {
	off := false
	h := newHarness(t, func(c *Config) { c.AcceptOwnURL = &off })
	h.wantAudiences(
		[]string{"https://login.salesforce.com", "https://test.salesforce.com"},
		[]string{h.base, h.base + "/"},
	)
	if got := h.emu.Audiences(); got.AcceptOwnURL || len(got.Audiences) != 2 {
		t.Errorf("Audiences() = %+v", got)
	}
}

// TestOwnURLAudienceByDefault: with no setting the emulator's own URL is an
// accepted audience, as the engine's tests and the demo rely on.
func TestOwnURLAudienceByDefault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Audiences = nil })
	h.wantAudiences([]string{h.base}, []string{"https://login.salesforce.com", h.base + "/"})
}

// TestSetAudiences changes the accepted audiences of a running emulator
// through the library, as a Go test does.
func TestSetAudiences(t *testing.T) {
	h := newHarness(t, nil)
	const myDomain = "https://acme.my.salesforce.com"
	// A trailing slash in the setting is dropped: the slash is what a
	// correct client never sends.
	if err := h.emu.SetAudiences(AudienceSettings{Audiences: []string{myDomain + "/"}}); err != nil {
		t.Fatal(err)
	}
	h.wantAudiences([]string{myDomain}, []string{myDomain + "/", h.base, "https://login.salesforce.com", "https://test.salesforce.com"})

	if err := h.emu.SetAudiences(AudienceSettings{AcceptOwnURL: true}); err != nil {
		t.Fatal(err)
	}
	h.wantAudiences([]string{h.base}, []string{myDomain})

	for _, bad := range []string{"", "login.salesforce.com", "ftp://x", "https://"} {
		if err := h.emu.SetAudiences(AudienceSettings{Audiences: []string{bad}}); err == nil {
			t.Errorf("SetAudiences accepted %q", bad)
		}
	}
	// A refused setting leaves the previous one in place.
	h.wantAudiences([]string{h.base}, nil)
	if _, err := New(Config{Audiences: []string{"not a url"}}); err == nil {
		t.Error("New accepted a malformed audience")
	}
}

// TestAdminAudiences drives the same setting over the admin API, as the
// binary's users (make dev, e2e) do.
func TestAdminAudiences(t *testing.T) {
	h := newHarness(t, nil)
	read := func(a answer) AudienceSettings {
		t.Helper()
		var s AudienceSettings
		if a.status != 200 || a.ctype != contentTypeJSON || json.Unmarshal(a.body, &s) != nil {
			t.Fatalf("audiences: %d %q %s", a.status, a.ctype, a.body)
		}
		return s
	}
	if s := read(h.admin("GET", "audiences", "")); !s.AcceptOwnURL || len(s.Audiences) != 2 {
		t.Errorf("initial: %+v", s)
	}

	s := read(h.admin("PUT", "audiences", `{"audiences":["https://login.salesforce.com"],"accept_own_url":false}`))
	if s.AcceptOwnURL || len(s.Audiences) != 1 {
		t.Errorf("after PUT: %+v", s)
	}
	h.wantAudiences([]string{"https://login.salesforce.com"}, []string{h.base, "https://test.salesforce.com"})

	// accept_own_url left out means true, as in the config file.
	if s := read(h.admin("PUT", "audiences", `{"audiences":[]}`)); !s.AcceptOwnURL || len(s.Audiences) != 0 {
		t.Errorf("after PUT without accept_own_url: %+v", s)
	}
	h.wantAudiences([]string{h.base}, []string{"https://login.salesforce.com"})

	for body, want := range map[string]int{
		`{"audiences":["login.salesforce.com"]}`: 400,
		`{"audience":["https://x.example"]}`:     400,
		`not json`:                               400,
	} {
		if a := h.admin("PUT", "audiences", body); a.status != want {
			t.Errorf("PUT %s: %d %s", body, a.status, a.body)
		}
	}
	if a := h.admin("DELETE", "audiences", ""); a.status != 405 {
		t.Errorf("DELETE: %d", a.status)
	}
	h.wantAudiences([]string{h.base}, nil)
}
