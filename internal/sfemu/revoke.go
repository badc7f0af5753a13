package sfemu

import (
	"net/http"
	"time"
)

// Revoke errors are form-encoded, not JSON, and the description uses %20:
// written out literally so that no encoder turns the spaces into "+".
const (
	revokeUnsupported  = "error=unsupported_token_type&error_description=this%20token%20type%20is%20not%20supported"
	revokeInvalidToken = "error=invalid_token"
)

func (e *Emulator) serveRevoke(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.counters.revokeCalls++
	e.mu.Unlock()
	var token string
	switch r.Method {
	case http.MethodGet:
		token = r.URL.Query().Get("token")
	case http.MethodPost:
		form, ok := readForm(w, r)
		if !ok {
			e.revokeFail(w, "unsupported_token_type", revokeUnsupported)
			return
		}
		token = form.Get("token")
	default:
		w.Header().Set("Allow", "GET, POST")
		e.revokeFail(w, "unsupported_token_type", revokeUnsupported)
		return
	}
	var ok bool
	switch {
	case refreshShaped(token):
		e.mu.Lock()
		ok = e.revokeRefreshLocked(token, e.now())
		e.mu.Unlock()
	case tokenShaped(token):
		e.mu.Lock()
		ok = e.revokeLocked(token, e.now())
		e.mu.Unlock()
	default:
		e.revokeFail(w, "unsupported_token_type", revokeUnsupported)
		return
	}
	if !ok {
		e.revokeFail(w, "invalid_token", revokeInvalidToken)
		return
	}
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	w.WriteHeader(http.StatusOK)
}

// revokeRefreshLocked ends the authorization of a current refresh token:
// every refresh token of its family and every access token they handed
// out. A rotated-out, expired or unknown one is an invalid token.
func (e *Emulator) revokeRefreshLocked(token string, now time.Time) bool {
	rt := e.refresh[token]
	if !e.refreshUsableLocked(rt, now) {
		return false
	}
	e.endFamilyLocked(rt.fam, now, endRevoked, true)
	return true
}

func (e *Emulator) revokeFail(w http.ResponseWriter, code, body string) {
	e.count(code)
	w.Header().Set("Content-Type", contentTypeForm)
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(body))
}
