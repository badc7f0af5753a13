package salesforce

import (
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

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
