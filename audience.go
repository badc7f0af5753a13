package salesforce

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
)

// The JWT audience. Salesforce documents aud as https://login.salesforce.com,
// https://test.salesforce.com or an Experience Cloud site URL; orgs also
// accept their My Domain, and External Client Apps are reported to take only
// that. Which one an org takes cannot be known before asking, so when a
// connection sets no audience, a grant sends the login URL first and, only
// when Salesforce answers that the audience is invalid, the documented
// audience for the host's kind, as the Salesforce CLI does. What Salesforce
// accepted is kept per connection, outside the connection's own entry
// (every write of which ends token reuse), and sent first from then on.

const (
	// audienceStoragePrefix holds, per connection, the audience Salesforce
	// accepted; not secret, so not seal-wrapped.
	audienceStoragePrefix = "audiences/"

	productionAudience = "https://login.salesforce.com"
	sandboxAudience    = "https://test.salesforce.com"
)

// acceptedAudience is what Salesforce accepted as aud for a connection,
// with the login URL and consumer key it was accepted for: when either
// changes, it says nothing about the new endpoint and is ignored.
type acceptedAudience struct {
	Audience string `json:"audience"`
	LoginURL string `json:"login_url"`
	ClientID string `json:"client_id"`
}

// appliesTo reports whether a was accepted for c's login URL and app.
func (a *acceptedAudience) appliesTo(c *connection) bool {
	return a != nil && a.Audience != "" &&
		a.LoginURL == strings.TrimRight(c.LoginURL, "/") && a.ClientID == c.ClientID
}

// records reports whether a already says that c's endpoint accepts aud.
func (a *acceptedAudience) records(c *connection, aud string) bool {
	return a.appliesTo(c) && a.Audience == aud
}

// audienceCandidates is what a JWT grant sends as aud, in order. An explicit
// audience is used alone: the operator chose it, and a fallback would hide
// their mistake behind a second login.
func audienceCandidates(c *connection, accepted *acceptedAudience) []string {
	if c.Audience != "" {
		return []string{c.audience()}
	}
	var out []string
	add := func(a string) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if accepted.appliesTo(c) {
		add(accepted.Audience)
	}
	loginURL := strings.TrimRight(c.LoginURL, "/")
	add(loginURL)
	add(documentedAudience(loginURL))
	return out
}

// documentedAudience is the audience Salesforce documents for the kind of
// host loginURL is: test for sandboxes, login for everything else (a
// production My Domain, an Experience Cloud site, a gateway, an emulator).
func documentedAudience(loginURL string) string {
	u, err := url.Parse(loginURL)
	if err == nil && isSandboxHost(u.Hostname()) {
		return sandboxAudience
	}
	return productionAudience
}

// isSandboxHost recognises the sandbox login hosts of Salesforce's "My
// Domain URL Formats": test.salesforce.com; a sandbox My Domain with
// enhanced domains (acme--uat.sandbox.my.salesforce.com) and without them
// (acme--uat.my.salesforce.com: "--" separates the My Domain name from the
// sandbox name and appears in no production My Domain); and the legacy
// instanced forms on sandbox (CS) instances, cs42.salesforce.com and
// acme--uat.cs42.my.salesforce.com, which the Salesforce CLI also treats as
// sandboxes.
func isSandboxHost(host string) bool {
	host = strings.ToLower(host)
	switch {
	case host == "test.salesforce.com", strings.HasSuffix(host, ".sandbox.my.salesforce.com"):
		return true
	case !strings.HasSuffix(host, ".salesforce.com"):
		return false
	}
	labels := strings.Split(strings.TrimSuffix(host, ".salesforce.com"), ".")
	n := len(labels)
	switch {
	case n == 1:
		return isSandboxInstance(labels[0])
	case labels[n-1] != "my":
		return false
	case strings.Contains(labels[0], "--"):
		return true
	}
	return n >= 3 && isSandboxInstance(labels[n-2])
}

// isSandboxInstance: cs followed by digits, the legacy sandbox instances.
func isSandboxInstance(label string) bool {
	digits := strings.TrimPrefix(label, "cs")
	return len(digits) > 0 && len(digits) < len(label) && strings.Trim(digits, "0123456789") == ""
}

// isAudienceRefusal reports whether Salesforce refused a JWT grant for its
// aud: only then is the next audience worth a login.
func isAudienceRefusal(err error) bool {
	var se *salesforceError
	if !errors.As(err, &se) || !strings.EqualFold(se.Code, invalidGrant) {
		return false
	}
	d := strings.ToLower(se.Description)
	return strings.Contains(d, "audience is invalid") || strings.Contains(d, "audience validation failed")
}

// withAudiencesTried tells the operator which audiences were refused, so
// that the hint to set one does not send them to try the same again.
func withAudiencesTried(err error, audiences []string) error {
	var se *salesforceError
	if len(audiences) > 1 && errors.As(err, &se) {
		se.Hint = fmt.Sprintf("the engine sent aud %s in turn and each was refused; %s",
			strings.Join(audiences, ", then "), se.Hint)
	}
	return err
}

// grantJWT is a JWT bearer grant under the connection's audience rule. It
// records the audience Salesforce accepted when it is new; failing to record
// it only costs a refused attempt on a later grant, so it is logged, never
// returned: the token is granted and must reach the ledger.
func (b *backend) grantJWT(ctx context.Context, s logical.Storage, client *sfClient, conn *connection, key *rsa.PrivateKey, username string) (*tokenResponse, error) {
	accepted, err := getAcceptedAudience(ctx, s, conn.Name)
	if err != nil {
		b.Logger().Warn("could not read the audience salesforce accepted; sending the default audiences", "connection", conn.Name, "error", err)
	}
	tr, err := client.GrantJWT(ctx, key, username, audienceCandidates(conn, accepted)...)
	if err != nil {
		return nil, err
	}
	if conn.Audience == "" && !accepted.records(conn, tr.Audience) {
		b.recordAudience(ctx, s, conn, tr.Audience)
	}
	return tr, nil
}

func (b *backend) recordAudience(ctx context.Context, s logical.Storage, conn *connection, audience string) {
	a := &acceptedAudience{Audience: audience, LoginURL: strings.TrimRight(conn.LoginURL, "/"), ClientID: conn.ClientID}
	if err := putAcceptedAudience(ctx, s, conn.Name, a); err != nil {
		b.Logger().Warn("could not record the audience salesforce accepted; later grants may spend a refused attempt",
			"connection", conn.Name, "error", err)
		return
	}
	b.Logger().Info("salesforce accepted the JWT audience; later grants send it first", "connection", conn.Name, "audience", audience)
}

// acceptedAudienceFor is what config/<name> shows as accepted_audience:
// the audience Salesforce accepted for the connection's current login URL
// and app, when the connection leaves the audience to the engine.
func acceptedAudienceFor(ctx context.Context, s logical.Storage, c *connection) (string, error) {
	if c.Audience != "" {
		return "", nil
	}
	a, err := getAcceptedAudience(ctx, s, c.Name)
	if err != nil || !a.appliesTo(c) {
		return "", err
	}
	return a.Audience, nil
}

func getAcceptedAudience(ctx context.Context, s logical.Storage, name string) (*acceptedAudience, error) {
	entry, err := s.Get(ctx, audienceStoragePrefix+name)
	if err != nil || entry == nil {
		return nil, err
	}
	var a acceptedAudience
	if err := entry.DecodeJSON(&a); err != nil {
		return nil, fmt.Errorf("error decoding the accepted audience of connection %q: %w", name, err)
	}
	return &a, nil
}

func putAcceptedAudience(ctx context.Context, s logical.Storage, name string, a *acceptedAudience) error {
	entry, err := logical.StorageEntryJSON(audienceStoragePrefix+name, a)
	if err != nil {
		return err
	}
	return s.Put(ctx, entry)
}
