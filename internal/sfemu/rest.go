package sfemu

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

const (
	oldestAPIVersion = 31
	latestAPIVersion = 66 // Spring '26
)

var invalidSession = []restError{{Message: "Session expired or invalid", ErrorCode: "INVALID_SESSION_ID"}}

// bearer takes the token from "Bearer x" or Salesforce's older "OAuth x".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "OAuth")) {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticate finds the caller's live session and records the activity
// that keeps it alive; a dead or missing token gets the REST API's 401.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) (session, string, bool) {
	tok := bearer(r)
	e.mu.Lock()
	e.counters.restCalls++
	s := e.sessionLocked(tok, e.now(), true)
	var cp session
	if s != nil {
		cp = *s
	}
	base := e.baseLocked(r)
	e.mu.Unlock()
	if s == nil {
		e.count("INVALID_SESSION_ID")
		writeJSON(w, http.StatusUnauthorized, invalidSession)
		return session{}, "", false
	}
	return cp, base, true
}

func (e *Emulator) methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	e.count("METHOD_NOT_ALLOWED")
	w.Header().Set("Allow", allowed)
	writeJSON(w, http.StatusMethodNotAllowed, []restError{{
		ErrorCode: "METHOD_NOT_ALLOWED",
		Message:   fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", r.Method, allowed),
	}})
}

func (e *Emulator) notFound(w http.ResponseWriter) {
	e.count("NOT_FOUND")
	writeJSON(w, http.StatusNotFound, []restError{{ErrorCode: "NOT_FOUND", Message: "The requested resource does not exist"}})
}

func (e *Emulator) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		e.oauthFail(w, http.StatusBadRequest, "invalid_request", descMustPost)
		return
	}
	form, ok := readForm(w, r)
	if !ok {
		e.oauthFail(w, http.StatusBadRequest, "invalid_request", "invalid request")
		return
	}
	id, secret := clientCredentials(r, form)
	e.mu.Lock()
	app := e.apps[id]
	now := e.now()
	s := e.sessionLocked(form.Get("token"), now, false)
	var cp session
	if s != nil {
		cp = *s
	}
	timeout := e.timeout
	e.mu.Unlock()
	if app == nil || app.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		e.oauthFail(w, http.StatusUnauthorized, "invalid_client", descBadClientCreds)
		return
	}
	// An app introspects its own tokens; others are as good as unknown.
	if s == nil || cp.clientID != app.ClientID {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active":     true,
		"scope":      cp.scope,
		"client_id":  cp.clientID,
		"username":   cp.username,
		"sub":        cp.userID,
		"token_type": "access_token",
		"exp":        cp.lastActivity.Add(timeout).Unix(),
		"iat":        cp.created.Unix(),
		"nbf":        cp.created.Unix(),
	})
}

func (e *Emulator) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		e.methodNotAllowed(w, r, "GET,POST")
		return
	}
	s, base, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sub":                base + "/id/" + e.orgID + "/" + s.userID,
		"user_id":            s.userID,
		"organization_id":    e.orgID,
		"preferred_username": s.username,
		"nickname":           strings.SplitN(s.username, "@", 2)[0],
		"name":               s.username,
		"email":              s.username,
		"email_verified":     true,
		"zoneinfo":           "Europe/London",
		"locale":             "en_US",
		"active":             true,
		"user_type":          "STANDARD",
		"utcOffset":          0,
		"updated_at":         s.created.UTC().Format("2006-01-02T15:04:05Z"),
		"urls":               e.urls(base, s.userID),
	})
}

func (e *Emulator) urls(base, userID string) map[string]string {
	v := fmt.Sprintf("%d.0", latestAPIVersion)
	return map[string]string{
		"rest":          base + "/services/data/v{version}/",
		"query":         base + "/services/data/v{version}/query/",
		"sobjects":      base + "/services/data/v{version}/sobjects/",
		"profile":       base + "/" + userID,
		"custom_domain": base,
		"limits":        base + "/services/data/v" + v + "/limits",
	}
}

func (e *Emulator) serveIdentity(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		e.methodNotAllowed(w, r, "GET,POST")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/id/"), "/")
	s, base, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	if len(parts) != 2 || !sameID(parts[0], e.orgID) || !sameID(parts[1], s.userID) {
		e.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                 base + "/id/" + e.orgID + "/" + s.userID,
		"asserted_user":      true,
		"user_id":            s.userID,
		"organization_id":    e.orgID,
		"username":           s.username,
		"nick_name":          strings.SplitN(s.username, "@", 2)[0],
		"display_name":       s.username,
		"email":              s.username,
		"email_verified":     true,
		"active":             true,
		"user_type":          "STANDARD",
		"language":           "en_US",
		"locale":             "en_US",
		"utcOffset":          0,
		"last_modified_date": s.created.UTC().Format("2006-01-02T15:04:05.000+0000"),
		"is_app_installed":   true,
		"urls":               e.urls(base, s.userID),
	})
}

// sameID compares Salesforce ids, where the 15-character form is the
// 18-character one without its checksum suffix.
func sameID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 && (len(a) == 15 || len(b) == 15) {
		return a[:15] == b[:15]
	}
	return a == b
}

type apiVersion struct {
	Label   string `json:"label"`
	URL     string `json:"url"`
	Version string `json:"version"`
}

func versionLabel(v int) string {
	seasons := [3]string{"Winter", "Spring", "Summer"}
	d := v - 65 // v65.0 is Winter '26
	idx := ((d % 3) + 3) % 3
	year := 26 + floorDiv(d, 3)
	return fmt.Sprintf("%s '%02d", seasons[idx], year)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (e *Emulator) serveData(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/services/data"), "/")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e.methodNotAllowed(w, r, "GET,HEAD")
		return
	}
	if rest == "" {
		var out []apiVersion
		for v := oldestAPIVersion; v <= latestAPIVersion; v++ {
			out = append(out, apiVersion{Label: versionLabel(v), URL: fmt.Sprintf("/services/data/v%d.0", v), Version: fmt.Sprintf("%d.0", v)})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	verPart, resource, _ := strings.Cut(rest, "/")
	resource = strings.TrimSuffix(resource, "/")
	s, base, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	ver, ok := parseVersion(verPart)
	if !ok {
		e.notFound(w)
		return
	}
	prefix := "/services/data/v" + ver
	switch resource {
	case "":
		// Resources by Version: relative URLs, except identity, the
		// absolute identity URL of the token's user (jsforce reads it).
		writeJSON(w, http.StatusOK, map[string]string{
			"identity": base + "/id/" + e.orgID + "/" + s.userID,
			"limits":   prefix + "/limits",
			"query":    prefix + "/query",
			"sobjects": prefix + "/sobjects",
		})
	case "limits":
		writeJSON(w, http.StatusOK, map[string]any{
			"DailyApiRequests":                  map[string]int{"Max": 15000, "Remaining": 14999},
			"ConcurrentAsyncGetReportInstances": map[string]int{"Max": 200, "Remaining": 200},
			"DataStorageMB":                     map[string]int{"Max": 5, "Remaining": 5},
			"FileStorageMB":                     map[string]int{"Max": 20, "Remaining": 20},
		})
	case "query":
		e.serveQuery(w, r, s, prefix)
	default:
		e.notFound(w)
	}
}

// parseVersion accepts "vNN.N" for the versions the org serves.
func parseVersion(p string) (string, bool) {
	if !strings.HasPrefix(p, "v") || !strings.HasSuffix(p, ".0") {
		return "", false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(p[1:], ".0"))
	if err != nil || n < oldestAPIVersion || n > latestAPIVersion {
		return "", false
	}
	return p[1:], true
}
