package salesforce

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

const (
	tokenPath  = "/services/oauth2/token" //nolint:gosec // G101: an endpoint path, not a credential
	revokePath = "/services/oauth2/revoke"

	grantTypeJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // G101: a grant type's name
	grantTypeClientCredentials = "client_credentials"                          //nolint:gosec // G101: a grant type's name

	// maxAnswerBytes bounds what we read of an answer: a token answer is
	// under 2 KiB, so anything near this is a misbehaving server.
	maxAnswerBytes = 1 << 20
	// maxDrainBytes is how much of an unread body we discard to keep the
	// connection reusable; past this, closing it is cheaper.
	maxDrainBytes = 64 << 10

	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 15 * time.Second
	// requestTimeout bounds one attempt; the caller's context bounds all
	// of them together.
	requestTimeout      = 30 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConnsPerHost = 16

	// maxRetryAfter is the longest Retry-After the client waits for within
	// a request: one attempt's own bound. Salesforce documents no
	// Retry-After; a gateway or maintenance page asking for longer is
	// better answered at once with a 502 that names the wait.
	maxRetryAfter = requestTimeout
	// maxRetryAfterSeconds bounds what a Retry-After header is read as, far
	// above maxRetryAfter, so that no value overflows a Duration.
	maxRetryAfterSeconds = 1 << 31

	projectURL = "https://github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce"
)

// userAgent lets Salesforce admins recognise Vault's logins in the Login
// History. It is built at init, after the linker has set Version.
var userAgent = buildUserAgent(Version)

func buildUserAgent(version string) string {
	version = strings.TrimSpace(version)
	if version == "" {
		version = "v0.0.0-unknown"
	}
	return "vault-plugin-secrets-salesforce/" + version + " (+" + projectURL + ")"
}

// clientSettings is what a connection tells the client; LoginURL carries
// no trailing slash. The JWT audience is not among them: each grant names
// the audiences to try (audience.go).
type clientSettings struct {
	LoginURL string
	ClientID string
	CACert   string
}

// tokenResponse is Salesforce's answer to a successful grant. Salesforce
// sends no expires_in; a refresh_token comes only from the web server flow
// (and from a refresh, when the app rotates them).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	IssuedAt    string `json:"issued_at"`
	Signature   string `json:"signature"`
	// RefreshToken never leaves the engine: it is not in the JSON form.
	RefreshToken string `json:"-"`

	// Audience is not part of the answer: it is the JWT aud that
	// Salesforce accepted, for a JWT bearer grant.
	Audience string `json:"-"`
}

// sfClient speaks Salesforce's OAuth endpoints for one connection. It is
// safe for concurrent use and keeps connections alive between grants.
type sfClient struct {
	settings  clientSettings
	tokenURL  string
	revokeURL string
	http      *http.Client
	transport *http.Transport
	logger    hclog.Logger
	retry     retryPolicy
	now       func() time.Time
	// sleep waits between attempts; tests replace it to see the waits.
	sleep func(context.Context, time.Duration) error
}

func newClient(s clientSettings, logger hclog.Logger) (*sfClient, error) {
	s.LoginURL = strings.TrimRight(s.LoginURL, "/")
	u, err := url.Parse(s.LoginURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("'login_url' %q is not an absolute URL: set it to e.g. https://login.salesforce.com or the org's My Domain URL", s.LoginURL)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if strings.TrimSpace(s.CACert) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.CACert)) {
			return nil, errors.New("'ca_cert' holds no valid PEM certificate: paste the CA certificate(s) including the -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines, or unset it to trust the system roots")
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          2 * maxIdleConnsPerHost,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		ForceAttemptHTTP2:     true,
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &sfClient{
		settings:  s,
		tokenURL:  s.LoginURL + tokenPath,
		revokeURL: s.LoginURL + revokePath,
		http: &http.Client{
			Transport: transport,
			Timeout:   requestTimeout,
			// A redirected POST turns into a GET without its form; report
			// the redirect instead, it means login_url is not the right host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: transport,
		logger:    logger,
		retry:     defaultRetryPolicy,
		now:       time.Now,
		sleep:     sleepCtx,
	}, nil
}

// Close drops idle connections; in-flight requests finish normally.
func (c *sfClient) Close() {
	c.transport.CloseIdleConnections()
}

// GrantJWT exchanges a signed assertion for an access token of username.
// audiences are the aud values to try, in order: the next one is tried
// only when Salesforce refuses the previous one as an invalid audience, so
// that no other refusal costs a second login. With none, aud is the login
// URL. The answer's Audience is the one Salesforce accepted.
func (c *sfClient) GrantJWT(ctx context.Context, key *rsa.PrivateKey, username string, audiences ...string) (*tokenResponse, error) {
	if len(audiences) == 0 {
		audiences = []string{c.settings.LoginURL}
	}
	var err error
	for i, aud := range audiences {
		var tok *tokenResponse
		if tok, err = c.grantJWTWith(ctx, key, username, aud); err == nil {
			tok.Audience = aud
			return tok, nil
		}
		if !isAudienceRefusal(err) {
			return nil, err
		}
		if i+1 < len(audiences) {
			c.logger.Info("salesforce refused the JWT audience; trying the next one", "audience", aud, "next", audiences[i+1])
		}
	}
	return nil, withAudiencesTried(err, audiences)
}

// grantJWTWith is one JWT bearer grant (with its retries) for one audience.
func (c *sfClient) grantJWTWith(ctx context.Context, key *rsa.PrivateKey, username, audience string) (*tokenResponse, error) {
	var tok *tokenResponse
	var assertion string
	// The assertion is signed per attempt: a retry after a long backoff
	// must not send one close to its exp.
	build := func() (url.Values, error) {
		a, err := signAssertion(key, c.settings.ClientID, username, audience, c.now())
		if err != nil {
			return nil, err
		}
		assertion = a
		// No client_id and no scope: Salesforce refuses a scope field
		// and takes the client from the assertion's iss.
		return url.Values{"grant_type": {grantTypeJWTBearer}, "assertion": {a}}, nil
	}
	err := c.post(ctx, opJWTGrant, c.tokenURL, build, nil, func(status int, ct string, body []byte) error {
		t, err := parseTokenAnswerRedacted(status, ct, body, newRedactor(assertion))
		tok = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// GrantClientCredentials asks for a token of the Connected App's Run As
// user. The credentials go in HTTP Basic rather than the form: Salesforce
// takes either, and proxies and WAFs that log request bodies rarely log
// the Authorization header.
func (c *sfClient) GrantClientCredentials(ctx context.Context, clientSecret string) (*tokenResponse, error) {
	if clientSecret == "" {
		return nil, errors.New("the connection has no 'client_secret': set it to the Connected App's consumer secret")
	}
	if c.settings.ClientID == "" {
		return nil, errors.New("the connection has no 'client_id': set it to the Connected App's consumer key")
	}
	// RFC 6749 2.3.1: form-encode id and secret before Basic encoding, so a
	// ':' in either cannot split them wrongly.
	auth := func(r *http.Request) {
		r.SetBasicAuth(url.QueryEscape(c.settings.ClientID), url.QueryEscape(clientSecret))
	}
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.settings.ClientID) + ":" + url.QueryEscape(clientSecret)))
	form := url.Values{"grant_type": {grantTypeClientCredentials}}
	return c.tokenRequest(ctx, opClientGrant, form, auth, clientSecret, newRedactor(clientSecret, basic))
}

// tokenRequest posts a form to the token endpoint and reads a token answer,
// checking its signature when a secret went with it.
func (c *sfClient) tokenRequest(ctx context.Context, op string, form url.Values, auth func(*http.Request), secret string, r redactor) (*tokenResponse, error) {
	var tok *tokenResponse
	build := func() (url.Values, error) { return form, nil }
	err := c.post(ctx, op, c.tokenURL, build, auth, func(status int, ct string, body []byte) error {
		t, err := parseTokenAnswerRedacted(status, ct, body, r)
		if err != nil {
			return err
		}
		if secret != "" {
			if err := verifySignature(t, secret); err != nil {
				return err
			}
		}
		tok = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// verifySignature checks Salesforce's proof that the answer was minted for
// our app: base64(HMAC-SHA256(consumer secret, id + issued_at)). An answer
// without the pair cannot be checked and is accepted, as Salesforce
// sometimes omits it.
func verifySignature(t *tokenResponse, clientSecret string) error {
	if t.Signature == "" || t.IssuedAt == "" {
		return nil
	}
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte(t.ID + t.IssuedAt))
	got, err := base64.StdEncoding.DecodeString(t.Signature)
	if err == nil && hmac.Equal(got, mac.Sum(nil)) {
		return nil
	}
	return &answerError{status: http.StatusOK, retry: false,
		reason: "the answer's signature does not match the connection's client_secret, so it did not come from this Connected App: check that login_url points at the app's org and that no proxy answers in Salesforce's place"}
}

// Revoke ends the session of token at Salesforce. A token Salesforce no
// longer knows counts as revoked.
func (c *sfClient) Revoke(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("no token to revoke: the lease holds no access token")
	}
	build := func() (url.Values, error) { return url.Values{"token": {token}}, nil }
	r := newRedactor(token)
	return c.post(ctx, opRevoke, c.revokeURL, build, nil, func(status int, ct string, body []byte) error {
		return parseRevokeAnswerRedacted(status, ct, body, r)
	})
}

// post sends a form to endpoint until handle accepts the answer, handle
// refuses it for good, the attempts run out or ctx ends. handle gets each
// answer's status, content type and (bounded) body.
func (c *sfClient) post(ctx context.Context, op, endpoint string,
	build func() (url.Values, error), auth func(*http.Request),
	handle func(status int, contentType string, body []byte) error,
) error {
	maxAttempts := max(c.retry.MaxAttempts, 1)
	var lastErr error
	var asked time.Duration // what the last answer's Retry-After asked for
	lastStatus := 0
	attempt := 0
	giveUp := func(err error) error {
		return &unavailableError{Op: op, Attempts: attempt, LastStatus: lastStatus, Err: err}
	}
	for attempt < maxAttempts {
		if attempt > 0 {
			if err := c.pause(ctx, op, attempt, asked, lastErr); err != nil {
				return giveUp(err)
			}
		}
		attempt++
		form, err := build()
		if err != nil {
			return err
		}
		start := time.Now()
		rep, err := c.send(ctx, endpoint, form, auth)
		if err != nil {
			c.logger.Debug("salesforce request failed", "op", op, "attempt", attempt, "duration", time.Since(start), "error", err)
			lastStatus, asked = 0, 0
			if ctxErr := ctx.Err(); ctxErr != nil {
				return giveUp(ctxErr)
			}
			if !retryableTransportError(err) {
				return giveUp(describeTransportError(err))
			}
			lastErr = describeTransportError(err)
			continue
		}
		lastStatus, asked = rep.status, rep.retryAfter
		c.logger.Debug("salesforce answered", "op", op, "attempt", attempt, "status", rep.status, "duration", time.Since(start))
		err = handle(rep.status, rep.contentType, rep.body)
		if err == nil {
			return nil
		}
		var se *salesforceError
		if errors.As(err, &se) {
			se.Op = op
			return se
		}
		var ae *answerError
		if errors.As(err, &ae) {
			if !ae.retry {
				return giveUp(err)
			}
			lastErr = err
			continue
		}
		return err
	}
	c.logger.Warn("salesforce request gave up", "op", op, "attempts", attempt, "last_status", lastStatus)
	if asked > 0 {
		lastErr = fmt.Errorf("%w; salesforce asked to retry after %d seconds", lastErr, ceilSeconds(asked))
	}
	return giveUp(lastErr)
}

// reply is one answer as post needs it.
type reply struct {
	status      int
	contentType string
	body        []byte
	// retryAfter is the wait a 429 or 503 asked for; 0 when none.
	retryAfter time.Duration
}

// send makes one attempt. The body is read within maxAnswerBytes and the
// rest drained so that the keep-alive connection goes back to the pool.
func (c *sfClient) send(ctx context.Context, endpoint string, form url.Values, auth func(*http.Request)) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if auth != nil {
		auth(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
		_ = resp.Body.Close() // the answer is read; a close error changes nothing
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return reply{}, fmt.Errorf("error reading salesforce's answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(body) > maxAnswerBytes {
		// Cut to the limit: parsing fails on the truncated JSON and the
		// answer is treated as not Salesforce's protocol.
		body = body[:maxAnswerBytes]
	}
	rep := reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body}
	if rep.status == http.StatusTooManyRequests || rep.status == http.StatusServiceUnavailable {
		rep.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return rep, nil
}
