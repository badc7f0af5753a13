package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// browser is a person's web browser as far as the web server flow needs
// one: cookies, redirects followed, the emulator's CA trusted, Vault over
// plain http on loopback.
type browser struct {
	t      testing.TB
	client *http.Client
}

func newBrowser(t testing.TB, emu *emulator) *browser {
	t.Helper()
	caPEM, err := os.ReadFile(emu.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}}
}

var pendingField = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// consent opens authorizeURL, signs in as username and presses Allow or
// Deny; it follows Salesforce's redirect to the callback and returns where
// the browser landed, with the page it shows.
func (b *browser) consent(authorizeURL, username string, allow bool) (*url.URL, int, string) {
	b.t.Helper()
	resp, err := b.client.Get(authorizeURL)
	if err != nil {
		b.t.Fatalf("opening authorize_url: %v", err)
	}
	page := readAll(b.t, resp)
	m := pendingField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("the login-and-consent page: HTTP %d\n%s", resp.StatusCode, page)
	}
	action := "deny"
	if allow {
		action = "allow"
	}
	form := url.Values{"pending": {m[1]}, "username": {username}, "action": {action}}
	post, err := url.JoinPath(strings.SplitN(authorizeURL, "/services/", 2)[0], "/services/oauth2/authorize")
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err = b.client.PostForm(post, form)
	if err != nil {
		b.t.Fatalf("submitting consent: %v", err)
	}
	body := readAll(b.t, resp)
	return resp.Request.URL, resp.StatusCode, body
}

// get opens a URL again, as a person replaying their history would.
func (b *browser) get(u string) (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, readAll(b.t, resp)
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flowSetup is a dev Vault whose engine has a connection "emu" with Vault's
// own callback as redirect_uri, registered on the emulated app, and a role
// "rep" reading through the authorization "alice".
func flowSetup(t *testing.T, mutate func(*sfemu.App)) (*vaultServer, *emulator) {
	t.Helper()
	v := startDevVault(t)
	callback := v.Addr + "/v1/salesforce/callback"
	cfg := testOrg("alice@example.com", "bob@example.com")
	cfg.Apps[0].CallbackURLs = []string{callback}
	cfg.Apps[0].Scopes = "api web refresh_token"
	if mutate != nil {
		mutate(&cfg.Apps[0])
	}
	emu := startEmulator(t, cfg)
	v.registerPlugin(t, "v0.1.0")
	v.must(t, "secrets", "enable", "-path=salesforce", "-plugin-version=v0.1.0", pluginName)
	connectEmulator(t, v, emu, "redirect_uri="+callback, "client_secret="+testClientSecret, "reuse_interval=0")
	v.must(t, "write", "salesforce/roles/rep", "connection=emu", "grant_type=authorization_code", "authorization=alice")
	return v, emu
}

func startFlow(t *testing.T, v *vaultServer, name string, extra ...string) string {
	t.Helper()
	var resp struct {
		Data struct {
			AuthorizeURL string `json:"authorize_url"`
		} `json:"data"`
	}
	v.mustJSON(t, &resp, append([]string{"write", "salesforce/authorizations/" + name + "/start", "connection=emu"}, extra...)...)
	if !strings.HasPrefix(resp.Data.AuthorizeURL, "https://") {
		t.Fatalf("start answered no authorize_url: %+v", resp)
	}
	return resp.Data.AuthorizeURL
}

func family(t *testing.T, emu *emulator, username string) []sfemu.AuthorizationStats {
	t.Helper()
	var out []sfemu.AuthorizationStats
	for _, a := range emu.stats(t).Authorizations {
		if a.Username == username && a.Active {
			out = append(out, a)
		}
	}
	return out
}

// TestUserAuthorizationThroughVault: a person consents in a browser, lands
// on Vault's callback, and an application reads leases; the refresh token
// rotates, a replayed callback and a denial are refused, re-authorizing
// replaces the consent, and deleting it ends every access token.
func TestUserAuthorizationThroughVault(t *testing.T) {
	t.Parallel()
	v, emu := flowSetup(t, func(a *sfemu.App) { a.RefreshTokenRotation = true })
	b := newBrowser(t, emu)

	landed, status, page := b.consent(startFlow(t, v, "alice", "login_hint=alice@example.com"), "alice@example.com", true)
	if status != http.StatusOK || !strings.Contains(page, "Authorization complete") || !strings.HasPrefix(landed.String(), v.Addr+"/v1/salesforce/callback") {
		t.Fatalf("after consent the browser landed on %s (HTTP %d):\n%s", landed, status, page)
	}
	if got := tableField(t, v.must(t, "read", "salesforce/authorizations/alice"), "status"); got != "active" {
		t.Fatalf("status after consent = %q", got)
	}
	if code, replay := b.get(landed.String()); code != http.StatusBadRequest || !strings.Contains(replay, "used or expired state") {
		t.Fatalf("a replayed callback: HTTP %d\n%s", code, replay)
	}

	// reuse_interval=0: every read refreshes, and the app rotates.
	before := family(t, emu, "alice@example.com")
	l1, l2 := readCreds(t, v, "rep"), readCreds(t, v, "rep")
	emu.requireLive(t, l1.Data.AccessToken, "token of the person's authorization")
	after := family(t, emu, "alice@example.com")
	if len(before) != 1 || len(after) != 1 || after[0].CurrentRefreshTokenSHA256 == before[0].CurrentRefreshTokenSHA256 {
		t.Fatalf("the refresh token did not rotate (before %+v, after %+v)", before, after)
	}
	if l1.Data.Username != "alice@example.com" {
		t.Errorf("creds username = %q", l1.Data.Username)
	}

	_, status, page = b.consent(startFlow(t, v, "denied"), "bob@example.com", false)
	if status != http.StatusBadRequest || !strings.Contains(page, "access_denied") {
		t.Fatalf("a denial: HTTP %d\n%s", status, page)
	}

	// Re-authorizing replaces the consent: one live family afterwards.
	b.consent(startFlow(t, v, "alice"), "alice@example.com", true)
	if f := family(t, emu, "alice@example.com"); len(f) != 1 || f[0].ID == after[0].ID {
		t.Fatalf("after re-authorizing, live families: %+v", f)
	}
	l3 := readCreds(t, v, "rep")

	v.must(t, "delete", "salesforce/authorizations/alice")
	for _, l := range []lease{l1, l2, l3} {
		emu.requireDead(t, l.Data.AccessToken, "access token of a deleted authorization")
	}
	if len(family(t, emu, "alice@example.com")) != 0 {
		t.Fatal("deleting the authorization left its refresh token alive")
	}
	if out := v.mustFail(t, "read", "salesforce/creds/rep"); !strings.Contains(out, "does not exist") {
		t.Fatalf("a read after delete: %s", out)
	}
}
