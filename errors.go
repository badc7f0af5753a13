package salesforce

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
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

// missingCredentialError is a connection that cannot serve the role's flow:
// the operator must fix the connection, so it is a 400.
type missingCredentialError struct{ msg string }

func (e missingCredentialError) Error() string { return e.msg }

// ceilingError is a token Salesforce granted with scopes the role does
// not allow: refused, never handed out. The operator must narrow the
// Connected App's scopes or widen the role's, so it is a 400.
type ceilingError struct {
	role  string
	extra []string
}

func (e ceilingError) Error() string {
	return fmt.Sprintf("salesforce granted scopes outside role %q's ceiling: %s; remove them from the Connected App's OAuth scopes or add them to the role's scopes",
		e.role, strings.Join(e.extra, ", "))
}

// requestError is a request the caller or the operator must change: a 400
// that says how.
type requestError struct{ msg string }

func (e requestError) Error() string { return e.msg }

// forbiddenError is a request the caller may not make: a 403.
type forbiddenError struct{ msg string }

func (e forbiddenError) Error() string { return e.msg }

// vaultUnavailableError is a question Vault could not answer (the mount's
// lease TTLs): the caller may retry, so it is a 503.
type vaultUnavailableError struct{ msg string }

func (e vaultUnavailableError) Error() string { return e.msg }

// responseFor turns an error of an operation that talks to Salesforce into
// what the caller sees: a refusal by Salesforce or a misconfiguration is a
// 400 with Salesforce's words and a hint, Salesforce unreachable or failing
// is a 502, Vault itself failing a 503. Anything else is ours (500).
func responseFor(err error) (*logical.Response, error) {
	var sfErr *salesforceError
	var unavail *unavailableError
	var missing missingCredentialError
	var ceiling ceilingError
	var vault vaultUnavailableError
	var bad requestError
	var forbidden forbiddenError
	switch {
	case errors.As(err, &sfErr), errors.As(err, &missing), errors.As(err, &ceiling), errors.As(err, &bad):
		return logical.ErrorResponse(err.Error()), nil
	case errors.As(err, &forbidden):
		return logical.ErrorResponse(err.Error()), logical.ErrPermissionDenied
	case errors.As(err, &unavail):
		return nil, logical.CodedError(http.StatusBadGateway, err.Error())
	case errors.As(err, &vault):
		return nil, logical.CodedError(http.StatusServiceUnavailable, err.Error())
	}
	return nil, err
}
