package sfemu

import (
	"errors"
	"fmt"
	"net/http"
)

func viewOf(a *appState) appView {
	return appView{
		ClientID:                      a.ClientID,
		HasCertificate:                a.key != nil,
		HasClientSecret:               a.ClientSecret != "",
		RunAs:                         a.RunAs,
		Scopes:                        a.Scopes,
		Users:                         append([]User{}, a.Users...),
		AdminApprovedOnly:             a.AdminApprovedOnly,
		NotInstalled:                  a.NotInstalled,
		CallbackURLs:                  append([]string{}, a.CallbackURLs...),
		RequireSecretForWebServerFlow: a.RequireSecretForWebServerFlow,
		RefreshTokenRotation:          a.RefreshTokenRotation,
		RefreshTokenPolicy:            a.RefreshTokenPolicy,
		RefreshTokenPolicyName:        a.RefreshTokenPolicy.String(),
		MaxApprovalsPerUser:           a.maxApprovals(),
	}
}

// app returns the app with client_id as GET /__sfemu/apps/<client_id>
// shows it (no secret), and whether it exists.
func (e *Emulator) app(clientID string) (appView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.apps[clientID]
	if a == nil {
		return appView{}, false
	}
	return viewOf(a), true
}

// serveAdminOneApp: GET shows one app, PUT adds or replaces it (the body is
// an app's JSON; its client_id may be left out, and must otherwise be the
// one in the path).
func (e *Emulator) serveAdminOneApp(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet:
		v, ok := e.app(id)
		if !ok {
			adminFail(w, http.StatusNotFound, fmt.Sprintf("%s %q", ErrUnknownApp, id))
			return
		}
		writeJSON(w, http.StatusOK, v)
	case http.MethodPut:
		var a App
		if !decodeAdmin(w, r, &a) {
			return
		}
		if a.ClientID == "" {
			a.ClientID = id
		}
		if a.ClientID != id {
			adminFail(w, http.StatusBadRequest, fmt.Sprintf("'client_id' %q in the body differs from %q in the path", a.ClientID, id))
			return
		}
		if err := e.PutApp(a); err != nil {
			adminFail(w, http.StatusBadRequest, err.Error())
			return
		}
		v, _ := e.app(id)
		writeJSON(w, http.StatusOK, v)
	default:
		w.Header().Set("Allow", "GET, PUT")
		adminFail(w, http.StatusMethodNotAllowed, fmt.Sprintf("use GET or PUT for %s", r.URL.Path))
	}
}

type consentRequest struct {
	AuthorizeURL string `json:"authorize_url"`
	Username     string `json:"username"`
	Allow        bool   `json:"allow"`
}

// serveAdminConsent answers an authorize URL as the user would at the
// login-and-consent page, without HTML: {"location": ...} is where the
// browser would be sent.
func (e *Emulator) serveAdminConsent(w http.ResponseWriter, r *http.Request) {
	var c consentRequest
	if !decodeAdmin(w, r, &c) {
		return
	}
	if c.AuthorizeURL == "" {
		adminFail(w, http.StatusBadRequest, "'authorize_url' is required")
		return
	}
	loc, err := e.Consent(c.AuthorizeURL, c.Username, c.Allow)
	switch {
	case errors.Is(err, ErrLoginFailed):
		adminFail(w, http.StatusForbidden, err.Error())
	case err != nil:
		adminFail(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"location": loc})
	}
}
