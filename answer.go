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
)

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
		ascii := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if r != '_' && r != '-' && r != '.' && !ascii {
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
			Refresh     flexString `json:"refresh_token"`
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
			AccessToken:  string(w.AccessToken),
			Scope:        string(w.Scope),
			InstanceURL:  string(w.InstanceURL),
			ID:           string(w.ID),
			TokenType:    string(w.TokenType),
			IssuedAt:     string(w.IssuedAt),
			Signature:    string(w.Signature),
			RefreshToken: string(w.Refresh),
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

// parseRevokeAnswerRedacted turns one answer of the revoke endpoint into nil
// (revoked, or already invalid), a *salesforceError, or an *answerError.
func parseRevokeAnswerRedacted(status int, contentType string, body []byte, r redactor) error {
	switch {
	case status == http.StatusOK && len(bytes.TrimSpace(body)) == 0:
		return nil
	case status == http.StatusOK:
		// Salesforce confirms a revocation with an empty 200. Anything else
		// (a proxy's or portal's page) says nothing about the token, which
		// may well be alive: a failed revocation, to retry.
		return withMediaType(status, contentType, r, "salesforce answered a revocation with HTTP %d and a body (%s) instead of the empty answer that confirms it; check that login_url points at Salesforce and not at a proxy or portal")
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
