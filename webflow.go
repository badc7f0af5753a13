package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// User authorizations: the OAuth 2.0 web server flow with PKCE (RFC 7636,
// as RFC 9700 asks). start hands out an authorize URL whose state and PKCE
// verifier Vault keeps, single-use, for flowTTL; the person consents at
// Salesforce; the code comes back to callback (or is pasted into complete);
// Vault redeems it with the verifier, keeps the refresh token sealed, and
// roles of grant_type authorization_code read access tokens from it.

// defaultAuthorizationScopes is what start asks for when told nothing.
var defaultAuthorizationScopes = []string{"api", "refresh_token"}

// promptValues are what Salesforce's authorize endpoint accepts in prompt.
var promptValues = map[string]bool{"login": true, "consent": true, "select_account": true}

// startInput is what authorizations/<name>/start asks for.
type startInput struct {
	name, connection, loginHint, boundUsername, prompt string
	scopes                                             []string
	entityID, accessor                                 string
}

// startAnswer is the authorize URL and its state.
type startAnswer struct {
	authorizeURL, state string
	expiresAt           time.Time
}

func (b *backend) startAuthorization(ctx context.Context, s logical.Storage, in startInput) (*startAnswer, error) {
	conn, err := getConnection(ctx, s, in.connection)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, requestError{fmt.Sprintf("connection %q does not exist; write config/%s first", in.connection, in.connection)}
	}
	if conn.RedirectURI == "" {
		return nil, requestError{fmt.Sprintf("connection %q has no redirect_uri; write config/%s redirect_uri=<the callback URL registered on the app>", conn.Name, conn.Name)}
	}
	if err := validatePrompt(in.prompt); err != nil {
		return nil, err
	}
	unlock := b.authLocks.Lock(in.name)
	defer unlock()
	a, err := getAuthorization(ctx, s, in.name)
	if err != nil {
		return nil, err
	}
	if err := checkRestart(a, in.connection); err != nil {
		return nil, err
	}
	state, err := randomToken()
	if err != nil {
		return nil, err
	}
	verifier, err := randomToken()
	if err != nil {
		return nil, err
	}
	now := b.ledger.Now()
	f := &flow{Authorization: in.name, Connection: conn.Name, Scopes: strings.Join(withRefreshScope(in.scopes), " "),
		BoundUsername: in.boundUsername, Verifier: verifier, RedirectURI: conn.RedirectURI,
		EntityID: in.entityID, Accessor: in.accessor, ExpiresAt: now.Add(flowTTL)}
	if err := putFlow(ctx, s, state, f); err != nil {
		return nil, err
	}
	if a == nil {
		if err := putAuthorization(ctx, s, &authorization{Name: in.name, Connection: conn.Name, Status: authPending, Created: now}); err != nil {
			return nil, err
		}
		b.cache.drop()
	}
	b.Logger().Info("authorization started", "authorization", in.name, "connection", conn.Name, "entity_id", in.entityID)
	return &startAnswer{authorizeURL: authorizeURL(conn, f, state, in), state: state, expiresAt: f.ExpiresAt}, nil
}

// checkRestart allows a new consent for a new name, or for the same
// connection's pending, active or expired one; never for one being deleted.
func checkRestart(a *authorization, connection string) error {
	switch {
	case a == nil:
		return nil
	case a.Status == authRevoking:
		return requestError{fmt.Sprintf("authorization %q is being deleted; wait until its revocation at salesforce succeeded, or use another name", a.Name)}
	case a.Connection != connection:
		return requestError{fmt.Sprintf("authorization %q belongs to connection %q; delete it first to authorize through %q", a.Name, a.Connection, connection)}
	}
	return nil
}

func validatePrompt(p string) error {
	for _, v := range strings.Fields(p) {
		if !promptValues[v] {
			return requestError{fmt.Sprintf("'prompt' %q is not one of login, consent, select_account (space-separated)", v)}
		}
	}
	return nil
}

// withRefreshScope adds refresh_token: the consent must outlive the session.
func withRefreshScope(scopes []string) []string {
	if len(scopes) == 0 {
		scopes = defaultAuthorizationScopes
	}
	for _, s := range scopes {
		if s == "refresh_token" || s == "offline_access" {
			return scopes
		}
	}
	return append(append([]string(nil), scopes...), "refresh_token")
}

func authorizeURL(conn *connection, f *flow, state string, in startInput) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {conn.ClientID},
		"redirect_uri":          {f.RedirectURI},
		"scope":                 {f.Scopes},
		"state":                 {state},
		"code_challenge":        {pkceChallenge(f.Verifier)},
		"code_challenge_method": {"S256"},
	}
	if in.loginHint != "" {
		q.Set("login_hint", in.loginHint)
	}
	if in.prompt != "" {
		q.Set("prompt", in.prompt)
	}
	return conn.clientSettings().LoginURL + "/services/oauth2/authorize?" + q.Encode()
}

// flowAnswer is what came back to the redirect URI.
type flowAnswer struct {
	code, state, errCode, errDescription string
}

// answerFromURL reads the URL the browser landed on.
func answerFromURL(raw string) (flowAnswer, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.RawQuery == "" {
		return flowAnswer{}, requestError{"'url' must be the whole URL the browser landed on, with its ?code=...&state=... query"}
	}
	q := u.Query()
	return flowAnswer{code: q.Get("code"), state: q.Get("state"), errCode: q.Get("error"), errDescription: q.Get("error_description")}, nil
}

// caller is who completes a flow; nil for the unauthenticated callback,
// where the state alone (carried by the person's browser) binds it.
type caller struct{ entityID, accessor string }

func (c *caller) owns(f *flow) bool {
	if f.EntityID != "" {
		return c.entityID == f.EntityID
	}
	return c.accessor != "" && c.accessor == f.Accessor
}

// finishFlow takes the flow of the answer's state (once), redeems the code
// and stores the consent. name, when set, must be the flow's authorization.
func (b *backend) finishFlow(ctx context.Context, s logical.Storage, name string, ans flowAnswer, who *caller) (*authorization, error) {
	if ans.state == "" {
		return nil, requestError{errUnknownState.Error()}
	}
	unlock := b.authLocks.Lock(flowKey(ans.state))
	defer unlock()
	f, err := takeFlow(ctx, s, ans.state, b.ledger.Now(), func(f *flow) error {
		if name != "" && f.Authorization != name {
			return errUnknownState
		}
		if who != nil && !who.owns(f) {
			return forbiddenError{"this authorization was started by another Vault identity: only it may complete it"}
		}
		return nil
	})
	if errors.Is(err, errUnknownState) {
		return nil, requestError{err.Error()}
	}
	if err != nil {
		return nil, err
	}
	if ans.errCode != "" {
		// Salesforce's own help spells it access-denied; its redirects say
		// access_denied. Both end the flow the same way.
		if ans.errCode == "access-denied" {
			ans.errCode = "access_denied"
		}
		b.Logger().Info("authorization refused at salesforce", "authorization", f.Authorization, "error", ans.errCode)
		return nil, requestError{fmt.Sprintf("authorization failed: %s: %s (hint: %s)", safeLine(ans.errCode), safeLine(ans.errDescription),
			hintFor(http.StatusBadRequest, ans.errCode, ans.errDescription))}
	}
	if ans.code == "" {
		return nil, requestError{"the answer carries neither a code nor an error: paste the whole URL the browser landed on"}
	}
	return b.redeem(ctx, s, f, ans.code)
}

// safeLine keeps text from the browser's URL to one short printable line.
func safeLine(s string) string { return redactor(nil).safeText(s, maxDescLen) }

// redeem exchanges the code, learns who consented, and keeps the consent.
func (b *backend) redeem(ctx context.Context, s logical.Storage, f *flow, code string) (*authorization, error) {
	if err := b.ledger.EnsureLoaded(ctx, s); err != nil {
		return nil, err
	}
	conn, err := getConnection(ctx, s, f.Connection)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, requestError{fmt.Sprintf("connection %q was deleted during the authorization", f.Connection)}
	}
	client, err := b.client(conn)
	if err != nil {
		return nil, err
	}
	tr, err := client.ExchangeCode(ctx, code, f.RedirectURI, f.Verifier, conn.ClientSecret)
	if err != nil {
		return nil, err
	}
	who, err := b.whoConsented(ctx, conn, client, tr, f)
	if err != nil {
		b.discard(ctx, conn, tr)
		return nil, err
	}
	return b.storeConsent(ctx, s, f, conn, tr, who)
}

// whoConsented reads the identity of the token and checks it against the
// flow: a refresh token, and the user bound_username names.
func (b *backend) whoConsented(ctx context.Context, conn *connection, client *sfClient, tr *tokenResponse, f *flow) (*identity, error) {
	if tr.RefreshToken == "" {
		return nil, requestError{"salesforce granted no refresh token: add the refresh_token (offline_access) scope to the app's OAuth scopes and ask for it at start"}
	}
	// The identity URL gets the access token: it must be where the
	// connection may send credentials.
	u, err := url.Parse(tr.ID)
	if err == nil {
		_, err = validateEndpointURL("id", u.Scheme+"://"+u.Host, conn.AllowNonSalesforceHost)
	}
	if err != nil {
		return nil, &unavailableError{Op: opIdentity, Err: fmt.Errorf("salesforce answered an identity URL that is not a Salesforce endpoint: %w", err)}
	}
	who, err := client.Identity(ctx, tr.ID, tr.AccessToken)
	if err != nil {
		return nil, err
	}
	if f.BoundUsername != "" && !strings.EqualFold(who.Username, f.BoundUsername) {
		return nil, requestError{fmt.Sprintf("salesforce user %q consented, but the authorization is bound to %q: its refresh token was revoked; sign in as %s and start again",
			who.Username, f.BoundUsername, f.BoundUsername)}
	}
	return who, nil
}

// discard revokes what a consent that is refused obtained: its refresh
// token, which ends its access tokens too.
func (b *backend) discard(ctx context.Context, conn *connection, tr *tokenResponse) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	tok := tr.RefreshToken
	if tok == "" {
		tok = tr.AccessToken
	}
	if err := b.revokeAt(cctx, revokeTarget{connection: conn.Name, clientID: conn.ClientID, loginURL: conn.clientSettings().LoginURL, caCert: conn.CACert}, tok); err != nil {
		b.Logger().Error("could not revoke the tokens of a refused consent; they live until salesforce ends them", "connection", conn.Name, "error", err)
	}
}

// storeConsent keeps the refresh token, retires the previous consent's,
// and offers the access token it came with to the first read.
func (b *backend) storeConsent(ctx context.Context, s logical.Storage, f *flow, conn *connection, tr *tokenResponse, who *identity) (*authorization, error) {
	unlock := b.authLocks.Lock(f.Authorization)
	defer unlock()
	old, err := getAuthorization(ctx, s, f.Authorization)
	if err != nil {
		return nil, err
	}
	if old != nil && old.Status == authRevoking {
		b.discard(ctx, conn, tr)
		return nil, requestError{fmt.Sprintf("authorization %q was deleted while the person consented", f.Authorization)}
	}
	now := b.ledger.Now()
	org, user, _ := parseIdentityURL(tr.ID)
	a := &authorization{Name: f.Authorization, Connection: conn.Name, Status: authActive, RefreshToken: tr.RefreshToken,
		Username: who.Username, UserID: user, OrgID: org, InstanceURL: tr.InstanceURL, IdentityURL: tr.ID,
		Scope: tr.Scope, Created: now, Authorized: now, Generation: newGeneration(),
		LoginURL: conn.clientSettings().LoginURL, CACert: conn.CACert, ClientID: conn.ClientID}
	if old != nil {
		a.Created = old.Created
		a.Retired = old.Retired
		if old.RefreshToken != "" && old.RefreshToken != tr.RefreshToken {
			a.Retired = append(a.Retired, old.RefreshToken)
		}
	}
	if err := putAuthorization(ctx, s, a); err != nil {
		b.discard(ctx, conn, tr)
		return nil, err
	}
	b.cache.drop()
	b.Logger().Info("authorization stored", "authorization", a.Name, "connection", conn.Name, "username", a.Username)
	b.offerToken(ctx, s, a, conn, tr)
	if err := b.revokeRetired(ctx, s, a); err != nil {
		b.Logger().Warn("could not revoke the previous consent's refresh token yet; the sweep retries", "authorization", a.Name, "error", err)
	}
	return a, nil
}

// offerToken records the access token of the code exchange for the first
// creds read of the authorization's roles; unread, the sweep ends it.
func (b *backend) offerToken(ctx context.Context, s logical.Storage, a *authorization, conn *connection, tr *tokenResponse) {
	g := granted(tr, conn, a.Username)
	if err := b.ledger.Offer(ctx, s, g, authGrantKey(conn, a.Name), conn.Generation^a.Generation); err != nil {
		b.Logger().Warn("could not record the first access token of a consent; it is revoked instead", "authorization", a.Name, "error", err)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = b.ledger.Settle(cctx, s, g)
	}
}

// authGrantKey names the grants of an authorization's roles.
func authGrantKey(conn *connection, authorization string) string {
	return conn.Name + "\x00authorization_code\x00" + authorization
}

// revokeRetired revokes the refresh tokens an authorization no longer
// uses, and forgets the authorization once deleted and nothing is owed.
// The caller holds the authorization's lock.
func (b *backend) revokeRetired(ctx context.Context, s logical.Storage, a *authorization) error {
	var errs []error
	var left []string
	for _, tok := range a.Retired {
		if err := b.revokeAt(ctx, a.target(), tok); err != nil {
			errs = append(errs, err)
			left = append(left, tok)
		}
	}
	if len(left) == len(a.Retired) && len(errs) > 0 {
		a.LastError = errors.Join(errs...).Error()
		return errors.Join(errs...)
	}
	a.Retired = left
	if len(errs) > 0 {
		a.LastError = errors.Join(errs...).Error()
	}
	if a.Status == authRevoking && len(left) == 0 {
		if err := s.Delete(ctx, authorizationStoragePrefix+a.Name); err != nil {
			return fmt.Errorf("error deleting authorization %q: %w", a.Name, err)
		}
		b.cache.drop()
		b.Logger().Info("authorization deleted; its refresh token is revoked at salesforce", "authorization", a.Name)
		return nil
	}
	if err := putAuthorization(ctx, s, a); err != nil {
		return err
	}
	b.cache.drop()
	return errors.Join(errs...)
}

func (a *authorization) target() revokeTarget {
	return revokeTarget{connection: a.Connection, clientID: a.ClientID, loginURL: a.LoginURL, caCert: a.CACert}
}

// deleteAuthorization revokes the refresh token (which ends every access
// token issued from it), then forgets the authorization. If Salesforce does
// not confirm, it stays revoking (its roles refuse at once) and the sweep
// retries until it does.
func (b *backend) deleteAuthorization(ctx context.Context, s logical.Storage, name string) (*logical.Response, error) {
	unlock := b.authLocks.Lock(name)
	defer unlock()
	a, err := getAuthorization(ctx, s, name)
	if err != nil || a == nil {
		return nil, err
	}
	a.Status = authRevoking
	if a.RefreshToken != "" {
		a.Retired = append(a.Retired, a.RefreshToken)
		a.RefreshToken = ""
	}
	if err := putAuthorization(ctx, s, a); err != nil {
		return nil, err
	}
	b.cache.drop()
	if err := b.revokeRetired(ctx, s, a); err != nil {
		resp := &logical.Response{}
		resp.AddWarning(fmt.Sprintf("salesforce did not confirm the revocation (%s); authorization %q stays 'revoking', its roles refuse, and the engine retries until salesforce confirms", err, name))
		return resp, nil
	}
	return nil, nil
}

// retryRevocations is the sweep's part for authorizations: refresh tokens
// owed a revocation, and deletions waiting for one.
func (b *backend) retryRevocations(ctx context.Context, s logical.Storage) error {
	names, err := s.List(ctx, authorizationStoragePrefix)
	if err != nil {
		return fmt.Errorf("error listing authorizations: %w", err)
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, b.retryOne(ctx, s, name))
	}
	return errors.Join(errs...)
}

func (b *backend) retryOne(ctx context.Context, s logical.Storage, name string) error {
	unlock := b.authLocks.Lock(name)
	defer unlock()
	a, err := getAuthorization(ctx, s, name)
	if err != nil || a == nil || len(a.Retired) == 0 {
		return err
	}
	return b.revokeRetired(ctx, s, a)
}
