// Package sfemu emulates the parts of Salesforce that the Vault plugin
// talks to: the OAuth authorize (login and consent), token, revoke,
// introspect and userinfo endpoints, the identity URL and a sliver of the
// REST API. It follows
// docs/salesforce-protocol.md to the letter, so that a plugin that passes
// against it also works against a real org.
package sfemu

import (
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	contentTypeJSON = "application/json;charset=UTF-8"
	contentTypeForm = "application/x-www-form-urlencoded;charset=UTF-8"
	contentTypeHTML = "text/html;charset=UTF-8"
)

// Emulator is one emulated Salesforce org. It is an http.Handler and is
// safe for concurrent use.
type Emulator struct {
	mu        sync.Mutex
	orgID     string
	orgName   string
	audiences []string
	// acceptOwnURL: the base URL is an accepted audience, as an org's My
	// Domain is.
	acceptOwnURL bool
	timeout      time.Duration
	reuse        bool
	inactiveOrg  bool
	rateLimit    int
	apps         map[string]*appState
	baseURL      string

	sessions map[string]*session     // by access token
	live     map[sessionKey]*session // the reusable session of an app and user
	order    []*session              // creation order, for Stats
	logins   map[string]*loginWindow // by username
	counters counters

	// The web server flow: pending consents, codes, refresh tokens and
	// their families (authorizations); see authorizations.go.
	pkceMismatch string
	pending      map[string]*pendingConsent // by its random id
	codes        map[string]*authCode       // by code
	refresh      map[string]*refreshToken   // by refresh token
	families     []*family                  // creation order

	faults Faults
	rng    *rand.Rand

	clock  atomic.Pointer[func() time.Time]
	logger atomic.Pointer[log.Logger]

	closed    chan struct{}
	closeOnce sync.Once
}

// New builds an emulator from cfg; zero values take Salesforce's defaults.
func New(cfg Config) (*Emulator, error) {
	if cfg.OrgID == "" {
		cfg.OrgID = defaultOrgID
	}
	if !validOrgID(cfg.OrgID) {
		return nil, fmt.Errorf("'org_id' %q is not a 15 or 18 character id starting with 00D", cfg.OrgID)
	}
	if cfg.SessionTimeoutSeconds < 0 {
		return nil, fmt.Errorf("'session_timeout_seconds' (%d) cannot be negative", cfg.SessionTimeoutSeconds)
	}
	if cfg.SessionTimeoutSeconds == 0 {
		cfg.SessionTimeoutSeconds = defaultSessionTimeout
	}
	if cfg.OrgName == "" {
		cfg.OrgName = defaultOrgName
	}
	if cfg.LoginRateLimitPerHour == 0 {
		cfg.LoginRateLimitPerHour = defaultLoginRateLimit
	}
	if err := validPKCEMismatch(cfg.PKCEMismatchError); err != nil {
		return nil, err
	}
	if cfg.PKCEMismatchError == "" {
		cfg.PKCEMismatchError = pkceMismatchObserved
	}
	e := &Emulator{
		orgID:        cfg.OrgID,
		orgName:      cfg.OrgName,
		acceptOwnURL: cfg.acceptOwnURL(),
		timeout:      time.Duration(cfg.SessionTimeoutSeconds) * time.Second,
		reuse:        cfg.reuse(),
		inactiveOrg:  cfg.InactiveOrg,
		rateLimit:    cfg.LoginRateLimitPerHour,
		pkceMismatch: cfg.PKCEMismatchError,
		apps:         map[string]*appState{},
		closed:       make(chan struct{}),
	}
	auds, err := normalizeAudiences(cfg.Audiences)
	if err != nil {
		return nil, err
	}
	e.audiences = auds
	for _, a := range cfg.Apps {
		s, err := newAppState(a)
		if err != nil {
			return nil, err
		}
		if _, dup := e.apps[a.ClientID]; dup {
			return nil, fmt.Errorf("app %q is configured twice", a.ClientID)
		}
		e.apps[a.ClientID] = s
	}
	e.resetLocked()
	e.setFaultsLocked(Faults{})
	return e, nil
}

// SetBaseURL sets the emulator's own URL: the instance_url and identity URL
// it hands out, and an accepted audience unless AcceptOwnURL is off (it
// acts as the org's My Domain).
func (e *Emulator) SetBaseURL(u string) {
	e.mu.Lock()
	e.baseURL = strings.TrimRight(u, "/")
	e.mu.Unlock()
}

// SetClock replaces the clock, so that tests can step over idle timeouts.
func (e *Emulator) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	e.clock.Store(&now)
}

// SetLogger turns on one compact line per request; nil turns it off. Lines
// carry method, path, status and duration only: never a query string or a
// body, where tokens, assertions and secrets travel.
func (e *Emulator) SetLogger(l *log.Logger) { e.logger.Store(l) }

// Close releases requests held by the hang fault.
func (e *Emulator) Close() { e.closeOnce.Do(func() { close(e.closed) }) }

func (e *Emulator) now() time.Time {
	if f := e.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// base is the URL the emulator answers as: the configured one, else the one
// the request reached.
func (e *Emulator) baseLocked(r *http.Request) string {
	if e.baseURL != "" {
		return e.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP routes a request to the emulated endpoint.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l := e.logger.Load(); l != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			l.Printf("%s %s %d %s", r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Microsecond))
		}()
		w = sw
	}
	p := r.URL.Path
	if strings.HasPrefix(p, adminPrefix) {
		e.serveAdmin(w, r)
		return
	}
	if e.injectFault(w, r) {
		return
	}
	switch {
	case p == "/services/oauth2/authorize":
		e.serveAuthorize(w, r)
	case p == "/services/oauth2/token":
		e.serveToken(w, r)
	case p == "/services/oauth2/revoke":
		e.serveRevoke(w, r)
	case p == "/services/oauth2/introspect":
		e.serveIntrospect(w, r)
	case p == "/services/oauth2/userinfo":
		e.serveUserinfo(w, r)
	case strings.HasPrefix(p, "/id/"):
		e.serveIdentity(w, r)
	case p == "/services/data" || strings.HasPrefix(p, "/services/data/"):
		e.serveData(w, r)
	default:
		e.count("NOT_FOUND")
		writeJSON(w, http.StatusNotFound, []restError{{ErrorCode: "NOT_FOUND", Message: "The requested resource does not exist"}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled: this cannot happen.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oauthError is the JSON error body of the token endpoint.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Emulator) oauthFail(w http.ResponseWriter, status int, code, desc string) {
	e.count(code)
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// restError is one element of the REST API's JSON error array.
type restError struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}
