package salesforce

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seeds are the answers docs/salesforce-protocol.md describes, plus the odd
// ones a gateway or a maintenance window produces.
var tokenAnswerSeeds = []struct {
	status int
	ct     string
	body   string
}{
	{200, "application/json;charset=UTF-8", `{"access_token":"00D5g000004XyZa!AQ4AQ.x","scope":"api web","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer"}`},
	{200, "application/json", `{"access_token":"t","issued_at":1732790000123,"signature":"c2ln"}`},
	{200, "application/json", `{"access_token":null}`},
	{200, "application/json", `{"access_token":["x"]}`},
	{200, "text/html", "<html>portal</html>"},
	{200, "", ""},
	{400, "application/json", `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`},
	{400, "application/json", `{"error":"invalid_grant","error_description":"invalid assertion"}`},
	{400, "application/json", `{"error":"invalid_client_id","error_description":"client identifier invalid"}`},
	{400, "application/json", `{"error":"x\n\u2028y","error_description":"` + strings.Repeat("é", 400) + `"}`},
	{401, "application/json", `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`},
	{400, "application/x-www-form-urlencoded", "error=unsupported_grant_type&error_description=grant%20type%20not%20supported"},
	{404, "text/html", "<html>error=nope</html>"},
	{302, "", ""},
	{429, "", ""},
	{503, "text/html; charset=utf-8", "<html>maintenance</html>"},
	{0, "bad/\x00type;;", "\xff\xfe"},
	{-1, "", "{"},
}

var revokeAnswerSeeds = []struct {
	status int
	ct     string
	body   string
}{
	{200, "", ""},
	{400, "application/x-www-form-urlencoded", "error=invalid_token"},
	{400, "application/x-www-form-urlencoded", "error=unsupported_token_type&error_description=this%20token%20type%20is%20not%20supported"},
	{400, "application/json", `{"error":"invalid_token"}`},
	{400, "", "error=%zz"},
	{400, "text/html", "<html>error=invalid_token</html>"},
	{500, "text/html", "<html>oops</html>"},
	{301, "", ""},
	{418, "text/plain", "error=INVALID_TOKEN&error=other"},
}

const fuzzSecret = "00D5g000004XyZa!AQ4AQ.secret"

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range tokenAnswerSeeds {
		f.Add(s.status, s.ct, []byte(s.body), fuzzSecret)
		// The same answer echoing the secret, as a hostile gateway would.
		f.Add(s.status, s.ct, []byte(strings.ReplaceAll(s.body, "invalid", fuzzSecret)), fuzzSecret)
	}
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte, secret string) {
		tok, err := parseTokenAnswerRedacted(status, ct, body, newRedactor(secret))
		if (tok == nil) == (err == nil) {
			t.Fatalf("tok = %v, err = %v: want exactly one", tok, err)
		}
		if tok != nil {
			if status != http.StatusOK || tok.AccessToken == "" {
				t.Fatalf("token from status %d: %+v", status, tok)
			}
			return
		}
		checkAnswerError(t, status, err, secret)
		if plain, perr := parseTokenAnswer(status, ct, body); (plain == nil) != (tok == nil) || (perr == nil) != (err == nil) {
			t.Fatalf("redaction changed the outcome: %v vs %v", perr, err)
		}
	})
}

func FuzzParseRevokeError(f *testing.F) {
	for _, s := range revokeAnswerSeeds {
		f.Add(s.status, s.ct, []byte(s.body), fuzzSecret)
		f.Add(s.status, s.ct, []byte(strings.ReplaceAll(s.body, "this", fuzzSecret)), fuzzSecret)
	}
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte, secret string) {
		err := parseRevokeAnswerRedacted(status, ct, body, newRedactor(secret))
		if err == nil {
			if status != http.StatusOK && (status < 400 || status >= 500) {
				t.Fatalf("status %d counted as revoked", status)
			}
			return
		}
		if status == http.StatusOK {
			t.Fatalf("200 refused: %v", err)
		}
		checkAnswerError(t, status, err, secret)
	})
}

// checkAnswerError holds every failed parse to the same promises: a typed
// error, one line, bounded, and nothing the client sent in it.
func checkAnswerError(t *testing.T, status int, err error, secret string) {
	t.Helper()
	var se *salesforceError
	var ae *answerError
	switch {
	case errors.As(err, &se):
		if isRetryableStatus(status) || status < 300 || status >= 500 {
			t.Fatalf("status %d became a refusal: %v", status, err)
		}
		if se.Hint == "" {
			t.Fatalf("refusal without a hint: %#v", se)
		}
		if utf8.RuneCountInString(se.Code) > maxCodeLen+3 || utf8.RuneCountInString(se.Description) > maxDescLen+3 {
			t.Fatalf("refusal text not bounded: %d/%d runes", len(se.Code), len(se.Description))
		}
		if len(secret) >= 8 && (strings.Contains(se.Code, secret) || strings.Contains(se.Description, secret)) {
			t.Fatalf("refusal carries the secret %q: %#v", secret, se)
		}
	case errors.As(err, &ae):
		if !ae.retry {
			t.Fatalf("a parse produced a final answerError: %v", err)
		}
		// Only our own words may hold a "secret" the fuzzer picked from them.
		if len(secret) >= 8 && strings.Contains(ae.reason, secret) && ae.media != "" && ae.media != redactedMarker && ae.media != "no content type" {
			t.Fatalf("answer error carries the secret %q: %v", secret, err)
		}
	default:
		t.Fatalf("untyped error %T: %v", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 2048 {
		t.Fatalf("error is not one bounded line: %q", msg)
	}
}
