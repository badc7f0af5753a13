package sfemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// AudienceSettings is what the token endpoint accepts as a JWT aud: the
// listed URLs and, when AcceptOwnURL is set, the emulator's own base URL
// (as an org's My Domain is accepted). An aud is compared exactly; a
// trailing slash is refused as "audience is invalid", as Salesforce does.
type AudienceSettings struct {
	Audiences    []string `json:"audiences"`
	AcceptOwnURL bool     `json:"accept_own_url"`
}

// normalizeAudiences checks that each audience is an absolute http(s) URL
// and drops a trailing slash: that is the form a correct client sends,
// while the form with the slash is the one Salesforce refuses.
func normalizeAudiences(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, a := range in {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("audience %q is not an absolute http(s) URL such as https://login.salesforce.com", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// Audiences returns the accepted audiences, as GET /__sfemu/audiences does.
func (e *Emulator) Audiences() AudienceSettings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return AudienceSettings{Audiences: append([]string{}, e.audiences...), AcceptOwnURL: e.acceptOwnURL}
}

// SetAudiences replaces the accepted audiences while the emulator runs, so
// that a test can configure it as Salesforce documents (login and test
// only) or as an External Client App behaves (its My Domain only).
func (e *Emulator) SetAudiences(s AudienceSettings) error {
	auds, err := normalizeAudiences(s.Audiences)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.audiences, e.acceptOwnURL = auds, s.AcceptOwnURL
	e.mu.Unlock()
	return nil
}

// acceptedAudiencesLocked is the list an aud is checked against for a
// request: the configured audiences and, if enabled, the base URL.
func (e *Emulator) acceptedAudiencesLocked(r *http.Request) []string {
	out := append([]string(nil), e.audiences...)
	if e.acceptOwnURL {
		out = append(out, e.baseLocked(r))
	}
	return out
}

// audienceRequest is the body of PUT /__sfemu/audiences; accept_own_url
// defaults to true when absent, as in the config file.
type audienceRequest struct {
	Audiences    []string `json:"audiences"`
	AcceptOwnURL *bool    `json:"accept_own_url"`
}

func (e *Emulator) serveAdminAudiences(w http.ResponseWriter, r *http.Request, method func(string) bool) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, e.Audiences())
	case http.MethodPut, http.MethodPost:
		var req audienceRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		s := AudienceSettings{Audiences: req.Audiences, AcceptOwnURL: req.AcceptOwnURL == nil || *req.AcceptOwnURL}
		if err := e.SetAudiences(s); err != nil {
			adminFail(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, e.Audiences())
	default:
		method(http.MethodPut)
	}
}
