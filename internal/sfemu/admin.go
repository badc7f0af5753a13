package sfemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// adminPrefix is the emulator's own control API; Salesforce has nothing
// under it, so it cannot shadow an emulated endpoint.
const adminPrefix = "/__sfemu/"

const maxAdminBody = 1 << 20

// ErrUnknownApp is returned for a client_id the emulator does not hold.
var ErrUnknownApp = errors.New("unknown app")

// Stats is what the emulator saw: counters since the last reset, every
// session, live or dead, and every authorization. Tokens appear only as
// SHA-256 hashes.
type Stats struct {
	Grants         map[string]int `json:"grants"`
	Errors         map[string]int `json:"errors"`
	TokenCalls     int            `json:"token_calls"`
	RevokeCalls    int            `json:"revoke_calls"`
	RESTCalls      int            `json:"rest_calls"`
	FaultsInjected int            `json:"faults_injected"`
	Sessions       []SessionStats `json:"sessions"`
	// Authorizations are the web server flow's approvals (refresh token
	// families), oldest first; Approvals counts the live ones per app and
	// user.
	Authorizations []AuthorizationStats `json:"authorizations"`
	Approvals      []ApprovalStats      `json:"approvals"`
}

// SessionStats is one session as Stats reports it.
type SessionStats struct {
	TokenSHA256  string     `json:"token_sha256"`
	ClientID     string     `json:"client_id"`
	Username     string     `json:"username"`
	GrantType    string     `json:"grant_type"`
	Created      time.Time  `json:"created"`
	LastActivity time.Time  `json:"last_activity"`
	RevokedAt    *time.Time `json:"revoked_at"`
	ExpiredAt    *time.Time `json:"expired_at"`
	Grants       int        `json:"grants"`
	Active       bool       `json:"active"`
}

// Stats returns the same data as GET /__sfemu/stats.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	st := Stats{
		Grants:         map[string]int{statJWT: 0, statCC: 0},
		Errors:         map[string]int{},
		TokenCalls:     e.counters.tokenCalls,
		RevokeCalls:    e.counters.revokeCalls,
		RESTCalls:      e.counters.restCalls,
		FaultsInjected: e.counters.faultsInjected,
		Sessions:       make([]SessionStats, 0, len(e.order)),
	}
	for k, v := range e.counters.grants {
		st.Grants[k] = v
	}
	st.Authorizations, st.Approvals = e.authorizationStatsLocked(now)
	for k, v := range e.counters.errors {
		st.Errors[k] = v
	}
	for _, s := range e.order {
		st.Sessions = append(st.Sessions, SessionStats{
			TokenSHA256:  s.tokenSHA256,
			ClientID:     s.clientID,
			Username:     s.username,
			GrantType:    s.grantType,
			Created:      s.created,
			LastActivity: s.lastActivity,
			RevokedAt:    copyTime(s.revokedAt),
			ExpiredAt:    copyTime(s.expiredAt),
			Grants:       s.grants,
			Active:       e.aliveLocked(s, now),
		})
	}
	return st
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// PutApp adds an app or replaces the one with the same client_id. Live
// sessions of a replaced app stay alive, as they do at Salesforce when an
// admin edits a Connected App.
func (e *Emulator) PutApp(a App) error {
	s, err := newAppState(a)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.apps[a.ClientID] = s
	e.mu.Unlock()
	return nil
}

// SetAppCertificate replaces an app's certificate with a PEM certificate or
// public key, as an admin uploading Vault's certificate would.
func (e *Emulator) SetAppCertificate(clientID, pemText string) error {
	if _, err := parseVerificationKey(pemText); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.apps[clientID]
	if cur == nil {
		return fmt.Errorf("%w %q", ErrUnknownApp, clientID)
	}
	a := cur.App
	a.CertificatePEM, a.PublicKeyPEM = "", ""
	if strings.Contains(pemText, "CERTIFICATE") {
		a.CertificatePEM = pemText
	} else {
		a.PublicKeyPEM = pemText
	}
	s, err := newAppState(a)
	if err != nil {
		return err
	}
	e.apps[clientID] = s
	return nil
}

// SetUser adds or replaces one user of an app, to approve, disapprove,
// deactivate or restrict it while a test runs.
func (e *Emulator) SetUser(clientID string, u User) error {
	if u.Username == "" {
		return errors.New("user 'username' is empty")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.apps[clientID]
	if cur == nil {
		return fmt.Errorf("%w %q", ErrUnknownApp, clientID)
	}
	a := cur.App
	a.Users = nil
	replaced := false
	for _, x := range cur.Users {
		if x.Username == u.Username {
			x, replaced = u, true
		}
		a.Users = append(a.Users, x)
	}
	if !replaced {
		a.Users = append(a.Users, u)
	}
	s, err := newAppState(a)
	if err != nil {
		return err
	}
	// Apps are replaced, never mutated: grants read them outside the lock.
	e.apps[clientID] = s
	return nil
}

// appView is an app as the admin API shows it: no secret.
type appView struct {
	ClientID          string `json:"client_id"`
	HasCertificate    bool   `json:"has_certificate"`
	HasClientSecret   bool   `json:"has_client_secret"`
	RunAs             string `json:"run_as"`
	Scopes            string `json:"scopes"`
	Users             []User `json:"users"`
	AdminApprovedOnly bool   `json:"admin_approved_only"`
	NotInstalled      bool   `json:"not_installed"`

	CallbackURLs                  []string           `json:"callback_urls"`
	RequireSecretForWebServerFlow bool               `json:"require_secret_for_web_server_flow"`
	RefreshTokenRotation          bool               `json:"refresh_token_rotation"`
	RefreshTokenPolicy            RefreshTokenPolicy `json:"refresh_token_policy"`
	// RefreshTokenPolicyName is the policy in words: valid_until_revoked,
	// expire_after_seconds N or idle_seconds N.
	RefreshTokenPolicyName string `json:"refresh_token_policy_name"`
	MaxApprovalsPerUser    int    `json:"max_approvals_per_user"`
}

type adminError struct {
	Error string `json:"error"`
}

func adminFail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, adminError{Error: msg})
}

func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, adminPrefix)
	method := func(m string) bool {
		if r.Method == m {
			return true
		}
		w.Header().Set("Allow", m)
		adminFail(w, http.StatusMethodNotAllowed, fmt.Sprintf("use %s for %s", m, r.URL.Path))
		return false
	}
	switch {
	case p == "health":
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case p == "stats":
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, e.Stats())
		}
	case p == "reset" || p == "expire-all" || p == "revoke-all":
		if !method(http.MethodPost) {
			return
		}
		map[string]func(){"reset": e.Reset, "expire-all": e.ExpireAll, "revoke-all": e.RevokeAll}[p]()
		w.WriteHeader(http.StatusNoContent)
	case p == "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, e.GetFaults())
		case http.MethodPost, http.MethodPut:
			var f Faults
			if !decodeAdmin(w, r, &f) {
				return
			}
			if err := f.validate(); err != nil {
				adminFail(w, http.StatusBadRequest, err.Error())
				return
			}
			e.SetFaults(f)
			writeJSON(w, http.StatusOK, e.GetFaults())
		default:
			method(http.MethodPost)
		}
	case p == "apps":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, e.appViews())
		case http.MethodPost, http.MethodPut:
			var a App
			if !decodeAdmin(w, r, &a) {
				return
			}
			if err := e.PutApp(a); err != nil {
				adminFail(w, http.StatusBadRequest, err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			method(http.MethodPost)
		}
	case p == "audiences":
		e.serveAdminAudiences(w, r, method)
	case p == "consent":
		if method(http.MethodPost) {
			e.serveAdminConsent(w, r)
		}
	case p == "expire-refresh-tokens":
		if method(http.MethodPost) {
			e.ExpireRefreshTokens()
			w.WriteHeader(http.StatusNoContent)
		}
	case strings.HasPrefix(p, "apps/"):
		e.serveAdminApp(w, r, strings.TrimPrefix(p, "apps/"), method)
	default:
		adminFail(w, http.StatusNotFound, fmt.Sprintf("no admin endpoint %s", r.URL.Path))
	}
}

func (e *Emulator) serveAdminApp(w http.ResponseWriter, r *http.Request, rest string, method func(string) bool) {
	id, sub, _ := strings.Cut(rest, "/")
	var err error
	switch sub {
	case "":
		e.serveAdminOneApp(w, r, id)
		return
	case "certificate":
		if !method(http.MethodPut) {
			return
		}
		b, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if rerr != nil {
			adminFail(w, http.StatusBadRequest, "reading body: "+rerr.Error())
			return
		}
		err = e.SetAppCertificate(id, string(b))
	case "users":
		if !method(http.MethodPut) {
			return
		}
		u := User{Approved: true, Active: true}
		if !decodeAdmin(w, r, &u) {
			return
		}
		err = e.SetUser(id, u)
	default:
		adminFail(w, http.StatusNotFound, fmt.Sprintf("no admin endpoint %s", r.URL.Path))
		return
	}
	switch {
	case errors.Is(err, ErrUnknownApp):
		adminFail(w, http.StatusNotFound, err.Error())
	case err != nil:
		adminFail(w, http.StatusBadRequest, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminFail(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (e *Emulator) appViews() []appView {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]appView, 0, len(e.apps))
	for _, a := range e.apps {
		out = append(out, viewOf(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}
