package salesforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Operation names, as they read in error messages.
const (
	opJWTGrant     = "JWT bearer token request"
	opClientGrant  = "client credentials token request"
	opRevoke       = "token revocation"
	invalidGrant   = "invalid_grant"
	invalidToken   = "invalid_token"
	maxCodeLen     = 64
	maxDescLen     = 300
	genericHint    = "check the connection (login_url, client_id, private key or client_secret) and the Connected App's OAuth policies in Salesforce Setup"
	redactedMarker = "[redacted]"
)

// salesforceError is a refusal by Salesforce (a 4xx answer): someone must
// change the role, the connection or the Connected App, so retrying is
// pointless and the engine answers 400.
type salesforceError struct {
	StatusCode  int
	Code        string
	Description string
	Hint        string
	// Op names what was refused, e.g. "JWT bearer token request".
	Op string
}

func (e *salesforceError) Error() string {
	op := e.Op
	if op == "" {
		op = "request"
	}
	var b strings.Builder
	b.WriteString("salesforce refused the ")
	b.WriteString(op)
	b.WriteString(": ")
	switch {
	case e.Code != "" && e.Description != "":
		b.WriteString(e.Code + ": " + e.Description)
	case e.Code != "":
		b.WriteString(e.Code)
	case e.Description != "":
		fmt.Fprintf(&b, "HTTP %d: %s", e.StatusCode, e.Description)
	default:
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// unavailableError means Salesforce could not be reached, failed (5xx), or
// answered something that is not its protocol, after retries: the engine
// answers 502 and the caller may try again later.
type unavailableError struct {
	Op         string
	Attempts   int
	LastStatus int
	Err        error
}

func (e *unavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "salesforce did not complete the %s after %d attempt(s)", e.Op, e.Attempts)
	if e.LastStatus != 0 {
		fmt.Fprintf(&b, " (last HTTP status %d)", e.LastStatus)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *unavailableError) Unwrap() error { return e.Err }

// answerError is an answer that is not Salesforce's protocol: a 5xx, a 429,
// an HTML maintenance page, a 200 without a token. retry says whether asking
// again may help; the client turns it into an unavailableError in the end.
type answerError struct {
	status int
	reason string
	retry  bool
	// media is the server-supplied part of reason, if any.
	media string
}

func (e *answerError) Error() string { return e.reason }

// isInvalidAssertion reports whether Salesforce refused the JWT because its
// signature does not verify against the Connected App's certificate: the
// engine then tries the connection's pending key, if it has one.
func isInvalidAssertion(err error) bool {
	var se *salesforceError
	if !errors.As(err, &se) {
		return false
	}
	return strings.EqualFold(se.Code, invalidGrant) &&
		strings.Contains(strings.ToLower(se.Description), "invalid assertion")
}

// hintRule maps Salesforce's (error, error_description) to the usual fix.
// desc is a lower-case substring; "" matches any description. First match
// wins, so specific rows come before a code's catch-all.
type hintRule struct{ code, desc, hint string }

var hintRules = []hintRule{
	{invalidGrant, "user hasn't approved this consumer", "pre-authorize the user: in the Connected App's policies set 'Admin approved users are pre-authorized' and add the user's profile or a permission set"},
	{invalidGrant, "audience is invalid", "set the connection's audience to https://login.salesforce.com, https://test.salesforce.com or the My Domain URL, with no trailing slash"},
	{invalidGrant, "invalid assertion", "the private key does not match the certificate uploaded to the Connected App: upload the connection's certificate (read config/<name>/certificate)"},
	{invalidGrant, "expired authorization code", "the assertion had expired when Salesforce read it: sync the Vault server's clock with NTP (assertions are valid for 150 seconds)"},
	{invalidGrant, "ip restricted", "the user's profile forbids this login: add the Vault server's egress IP to the profile's Login IP Ranges (or relax the Connected App's IP policy) and check its Login Hours"},
	{invalidGrant, "login rate exceeded", "the user exceeded Salesforce's 3,600 logins per hour: wait for the hour to pass, and let Vault reuse tokens longer (the connection's reuse_interval) or spread roles over more users"},
	{invalidGrant, "request not supported on this domain", "the client credentials flow works only on My Domain: set the connection's login_url to the org's My Domain URL, e.g. https://acme.my.salesforce.com"},
	{invalidGrant, "no client credentials user enabled", "set a Run As user: in the Connected App's policies enable 'Client Credentials Flow' and choose the user it runs as"},
	{invalidGrant, "inactive", "the Salesforce user or org is inactive, frozen or locked: reactivate it, or point the role at an active username"},
	{invalidGrant, "authentication failure", "check the role's username: it must be an active Salesforce user of the org login_url points at (sandbox usernames carry a suffix)"},
	{invalidGrant, "", "Salesforce refused the grant: check the role's username, that the user is active and pre-authorized for the Connected App, and the connection's audience"},
	{"invalid_client_id", "", "the consumer key is unknown here: check the connection's client_id and that login_url is the app's org (production, sandbox or My Domain); a new or changed Connected App takes 2-10 minutes to propagate, so wait and retry"},
	{"invalid_client", "", "the Connected App refused its credentials: for jwt_bearer enable 'Use digital signatures' and save the connection's certificate on the app; for client_credentials set the connection's client_secret to the app's consumer secret"},
	{"invalid_app_access", "", "the user is not admin-approved for this app: add the user's profile or a permission set to the Connected App (Manage > Profiles / Permission Sets)"},
	{"app_not_found", "", "the External Client App is not installed in this org: install or enable it in the org that login_url points at, or correct login_url"},
	{"inactive_user", "", "the Salesforce user is inactive, frozen or locked: reactivate it in Setup > Users, or point the role at an active username"},
	{"inactive_org", "", "the Salesforce org is inactive, locked or expired (a deleted sandbox or trial): check the org, or point the connection at a live one"},
	{"unsupported_grant_type", "", "the endpoint did not accept the grant: set login_url to the bare Salesforce login or My Domain URL (no path) and make sure no proxy rewrites the form body"},
	{"invalid_request", "scope parameter not supported", "a 'scope' field reached Salesforce, which the plugin never sends: check for a proxy rewriting requests between Vault and Salesforce"},
	{"invalid_request", "", "Salesforce found the request malformed: set login_url to the bare Salesforce login or My Domain URL (no path) and check for proxies rewriting requests"},
	{"unsupported_token_type", "", "Salesforce does not recognise the value as a token: if it is still live, revoke it in Setup > Connected Apps OAuth Usage"},
	{"rate_limit_exceeded", "", "Salesforce is rate limiting this org: wait a few minutes, and let Vault reuse tokens longer (the connection's reuse_interval)"},
}

// hintFor returns a one-line fix for a Salesforce refusal; never empty.
func hintFor(status int, code, desc string) string {
	if code == "" {
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return "set login_url to the bare Salesforce login or My Domain URL (no path): the OAuth endpoint was not found there"
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired:
			return "something between Vault and Salesforce refused the request: check proxies, firewalls and the connection's login_url"
		}
		return genericHint
	}
	code = strings.ToLower(code)
	desc = strings.ToLower(desc)
	for _, r := range hintRules {
		if r.code == code && strings.Contains(desc, r.desc) {
			return r.hint
		}
	}
	return genericHint
}

// oauthError is the error body of Salesforce's OAuth endpoints.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// parseOAuthError reads {"error","error_description"}, the REST-style
// [{"errorCode","message"}], or the form-encoded error=...&error_description=...
// that the revoke endpoint uses. ok is false when the body is none of them.
func parseOAuthError(contentType string, body []byte) (oauthError, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return oauthError{}, false
	}
	switch trimmed[0] {
	case '{':
		var e struct {
			Code        flexString `json:"error"`
			Description flexString `json:"error_description"`
		}
		if json.Unmarshal(trimmed, &e) == nil && e.Code != "" {
			return oauthError{Code: string(e.Code), Description: string(e.Description)}, true
		}
		return oauthError{}, false
	case '[':
		var es []struct {
			Code    flexString `json:"errorCode"`
			Message flexString `json:"message"`
		}
		if json.Unmarshal(trimmed, &es) == nil && len(es) > 0 && es[0].Code != "" {
			return oauthError{Code: string(es[0].Code), Description: string(es[0].Message)}, true
		}
		return oauthError{}, false
	}
	// Only read a form body when nothing says it is something else, so that
	// an HTML page mentioning "error=" is not taken for an OAuth error.
	switch mediaType(contentType) {
	case "", "application/x-www-form-urlencoded", "text/plain":
	default:
		return oauthError{}, false
	}
	q, err := url.ParseQuery(string(trimmed))
	if err != nil {
		return oauthError{}, false
	}
	code := q.Get("error")
	if !isOAuthCode(code) {
		return oauthError{}, false
	}
	return oauthError{Code: code, Description: q.Get("error_description")}, true
}

// isOAuthCode accepts what RFC 6749 error codes look like, so that random
// text is not mistaken for one.
func isOAuthCode(s string) bool {
	if s == "" || len(s) > maxCodeLen {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || (r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))) {
			return false
		}
	}
	return true
}

// refusal builds the salesforceError for a 4xx answer. Secrets are taken
// out before the text is shortened, so that no cut can leave part of one.
func refusal(op string, status int, contentType string, body []byte, r redactor) *salesforceError {
	e, ok := parseOAuthError(contentType, body)
	se := &salesforceError{StatusCode: status, Op: op}
	if ok {
		se.Code = r.safeText(e.Code, maxCodeLen)
		se.Description = r.safeText(e.Description, maxDescLen)
		// A secret could straddle the code and the description.
		if r.leaks(se.Code + ": " + se.Description) {
			se.Code, se.Description = "", redactedMarker
		}
	} else {
		se.Description = http.StatusText(status)
	}
	se.Hint = hintFor(status, se.Code, se.Description)
	return se
}

// parseTokenAnswer turns one answer of the token endpoint into a token, a
// refusal (*salesforceError) or an *answerError. It is pure so that it can
// be fuzzed.
func parseTokenAnswer(status int, contentType string, body []byte) (*tokenResponse, error) {
	return parseTokenAnswerRedacted(status, contentType, body, nil)
}

// parseTokenAnswerRedacted is parseTokenAnswer that keeps what the client
// sent (assertion, secret) out of a refusal that echoes it.
func parseTokenAnswerRedacted(status int, contentType string, body []byte, r redactor) (*tokenResponse, error) {
	switch {
	case status == http.StatusOK:
		var w struct {
			AccessToken flexString `json:"access_token"`
			Scope       flexString `json:"scope"`
			InstanceURL flexString `json:"instance_url"`
			ID          flexString `json:"id"`
			TokenType   flexString `json:"token_type"`
			IssuedAt    flexString `json:"issued_at"`
			Signature   flexString `json:"signature"`
		}
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &w) != nil {
			return nil, notJSON(status, contentType, r)
		}
		if w.AccessToken == "" {
			return nil, &answerError{status: status, retry: true,
				reason: "salesforce answered HTTP 200 without an access_token; check that login_url points at Salesforce and not at a proxy or portal"}
		}
		return &tokenResponse{
			AccessToken: string(w.AccessToken),
			Scope:       string(w.Scope),
			InstanceURL: string(w.InstanceURL),
			ID:          string(w.ID),
			TokenType:   string(w.TokenType),
			IssuedAt:    string(w.IssuedAt),
			Signature:   string(w.Signature),
		}, nil
	case isRetryableStatus(status):
		return nil, failing(status, contentType, r)
	case status >= 300 && status < 400:
		return nil, redirected("", status)
	case status >= 400 && status < 500:
		return nil, refusal("", status, contentType, body, r)
	}
	return nil, &answerError{status: status, retry: true, reason: fmt.Sprintf("salesforce answered an unexpected HTTP %d", status)}
}

// parseRevokeAnswer turns one answer of the revoke endpoint into nil
// (revoked, or already invalid), a *salesforceError, or an *answerError.
func parseRevokeAnswer(status int, contentType string, body []byte) error {
	return parseRevokeAnswerRedacted(status, contentType, body, nil)
}

func parseRevokeAnswerRedacted(status int, contentType string, body []byte, r redactor) error {
	switch {
	case status == http.StatusOK:
		return nil
	case isRetryableStatus(status):
		return failing(status, contentType, r)
	case status >= 300 && status < 400:
		return redirected(opRevoke, status)
	case status >= 400 && status < 500:
		// A token that is already invalid, revoked or expired is what the
		// caller wanted: it can no longer be used.
		if e, ok := parseOAuthError(contentType, body); ok && strings.EqualFold(e.Code, invalidToken) {
			return nil
		}
		return refusal(opRevoke, status, contentType, body, r)
	}
	return &answerError{status: status, retry: true, reason: fmt.Sprintf("salesforce answered an unexpected HTTP %d", status)}
}

func redirected(op string, status int) *salesforceError {
	return &salesforceError{
		StatusCode:  status,
		Op:          op,
		Description: fmt.Sprintf("redirected (HTTP %d)", status),
		Hint:        "set login_url to the URL Salesforce redirects to, usually the org's My Domain URL, with no path",
	}
}

// isRetryableStatus: 5xx is Salesforce failing, 429 and 408 are it asking
// us to come back; neither says anything about our request being wrong.
func isRetryableStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

func failing(status int, contentType string, r redactor) *answerError {
	return withMediaType(status, contentType, r, "salesforce answered HTTP %d (%s); it may be down for maintenance, try again later")
}

func notJSON(status int, contentType string, r redactor) *answerError {
	return withMediaType(status, contentType, r, "salesforce answered HTTP %d with %s instead of JSON (maintenance page or proxy?)")
}

// withMediaType names what came back, as it tells a maintenance page from
// a proxy; the media type is the server's text, so it is redacted too,
// including where it would complete a secret with the words around it.
func withMediaType(status int, contentType string, r redactor, format string) *answerError {
	mt := r.safeText(mediaType(contentType), 64)
	if mt == "" {
		mt = "no content type"
	}
	reason := fmt.Sprintf(format, status, mt)
	if r.leaks(reason) {
		mt = redactedMarker
		reason = fmt.Sprintf(format, status, mt)
	}
	return &answerError{status: status, retry: true, reason: reason, media: mt}
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// safeText makes text from the network fit a one-line error message
// without anything the client sent. Redaction comes after the clean-up,
// which could otherwise assemble a secret, and before the cut, which could
// otherwise leave part of one.
func (r redactor) safeText(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return ' '
		}
		return c
	}, s)
	s = strings.TrimSpace(r.apply(s))
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "..."
	}
	if r.leaks(s) {
		return redactedMarker
	}
	return s
}

// redactor holds what the client sent that must never come back out: an
// answer that echoes the request (a gateway's error page, a hostile server)
// would otherwise carry it into errors and logs. Each secret is kept in the
// encodings it can come back in.
type redactor []string

func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		// Very short values would blank ordinary words; real secrets,
		// tokens and assertions are far longer.
		if len(s) < 8 {
			continue
		}
		js, _ := json.Marshal(s)
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), string(js[1 : len(js)-1])} {
			// A value inside the marker itself could never be removed.
			if !strings.Contains(redactedMarker, v) {
				r = append(r, v)
			}
		}
	}
	return r
}

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, redactedMarker)
	}
	// A secret that contains the marker, or replacements that join into
	// one, would survive the loop: then nothing of the text is kept.
	if r.leaks(s) {
		return redactedMarker
	}
	return s
}

func (r redactor) leaks(s string) bool {
	for _, secret := range r {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// flexString decodes a JSON string, number or null into a string, so that a
// gateway sending issued_at as a number does not break an otherwise good
// answer.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch {
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
		*f = ""
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexString(n.String())
	default:
		return errors.New("expected a string or a number")
	}
	return nil
}
