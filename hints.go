package salesforce

import (
	"net/http"
	"strings"
)

// The hint tables are the single source of what the engine tells an
// operator about a refusal: the hint in each error message, and
// docs/troubleshooting.md, which is generated from them (make
// troubleshooting; a test fails when the file differs).

// Where things are in Setup, as the hints and the troubleshooting page name
// them: External Client Apps (ECAs) first, as Salesforce has created no new
// Connected Apps since Spring '26.
const (
	ecaPolicies     = "Setup > External Client App Manager > the app > Edit Policies"
	ecaSettings     = "Setup > External Client App Manager > the app > Edit Settings > OAuth Settings"
	caPolicies      = "Setup > App Manager > the app > Manage > Edit Policies"
	caManage        = "Setup > App Manager > the app > Manage"
	caSettings      = "Setup > App Manager > the app > Edit > API (Enable OAuth Settings)"
	setupUsers      = "Setup > Users > Users > the user"
	setupMyDomain   = "Setup > My Domain"
	setupLoginLimit = "Setup > Login History (filter by the user)"
	profileNetwork  = "Setup > Profiles > the user's profile > Login IP Ranges and Login Hours; Setup > Security > Network Access"
)

// hintRule is one Salesforce refusal: what it means, where to look in
// Setup for an External Client App (eca) and for a Connected App (ca), and
// the fix. code is Salesforce's error as it writes it, matched without
// regard to case (and '-' as '_': Salesforce's own example spells
// access-denied). descs are the
// error_description values as Salesforce writes them, each matched as a
// case-insensitive substring; none matches any description. First match
// wins, so specific rows come before a code's catch-all.
type hintRule struct {
	code    string
	descs   []string
	meaning string
	eca, ca string
	fix     string
}

var hintRules = []hintRule{
	{code: invalidGrant, descs: []string{"user hasn't approved this consumer"},
		meaning: "The user is not pre-authorized for the app, or the username does not exist in this org.",
		eca:     ecaPolicies + " > OAuth Policies: Permitted Users, and App Policies: Select Profiles / Select Permission Sets",
		ca:      caPolicies + ": Permitted Users; then " + caManage + " > Manage Profiles / Manage Permission Sets",
		fix: "pre-authorize the user: set Permitted Users to 'Admin approved users are pre-authorized' and add the user's profile " +
			"or a permission set assigned to the user; check the role's username (sandbox usernames carry a suffix)"},
	{code: invalidGrant, descs: []string{"audience is invalid", "Audience validation failed"},
		meaning: "Salesforce does not take the JWT 'aud' the engine sent (every audience it tried, when the connection sets none).",
		eca:     setupMyDomain + " (External Client Apps take the org's My Domain URL)",
		ca:      setupMyDomain + " (the My Domain URL; login or test for production or sandbox)",
		fix: "unset the connection's audience so that the engine tries login_url, then https://test.salesforce.com (sandbox) " +
			"or https://login.salesforce.com; or set it to the one the org takes: https://login.salesforce.com, " +
			"https://test.salesforce.com or the My Domain URL, with no trailing slash"},
	{code: invalidGrant, descs: []string{"invalid assertion"},
		meaning: "The assertion's signature does not verify against the certificate on the app: another key signed it, or the JWT is malformed.",
		eca:     ecaSettings + " > Flow Enablement: Enable JWT Bearer Flow, certificate",
		ca:      caSettings + ": Use digital signatures",
		fix: "upload the connection's certificate to the app (read config/<name>/certificate); " +
			"after rotate-key, upload the pending certificate"},
	{code: invalidGrant, descs: []string{"expired authorization code"},
		meaning: "JWT bearer: the assertion had expired when Salesforce read it, as the Vault server's clock is behind. " +
			"User authorization: the code was already redeemed, or is too old.",
		fix: "for jwt_bearer, sync the Vault servers' clocks with NTP (assertions are valid for 150 seconds); " +
			"for an authorization, start it again (a code works once, for a few minutes)"},
	{code: invalidGrant, descs: []string{"invalid authorization code"},
		meaning: "Salesforce does not know the code: cut short, or from another org or app.",
		fix:     "start the authorization again (authorizations/<name>/start) and give the whole URL the browser landed on"},
	{code: invalidGrant, descs: []string{"invalid code verifier", "unexpected code verifier"},
		meaning: "The PKCE verifier does not match the challenge of the authorize request.",
		fix:     "start the authorization again, and check that nothing rewrites the authorize URL or the token request"},
	{code: invalidGrant, descs: []string{"expired access/refresh token"},
		meaning: "The authorization's refresh token was revoked (by an admin, by the person, or by a newer approval " +
			"past the app's limit) or expired under the app's refresh token policy.",
		eca: ecaPolicies + " > OAuth Policies: Refresh Token Policy",
		ca:  caPolicies + ": Refresh Token Policy",
		fix: "the person must authorize again (authorizations/<name>/start); to keep refresh tokens valid until " +
			"revoked, set the app's refresh token policy accordingly"},
	{code: invalidGrant, descs: []string{"IP restricted or invalid login hours"},
		meaning: "The user's profile forbids a login from this IP address or at this hour. The JWT bearer flow always " +
			"enforces the profile's Login IP Ranges, whatever the app's IP Relaxation policy says.",
		eca: profileNetwork,
		ca:  profileNetwork,
		fix: "add the Vault servers' egress IP address to the Login IP Ranges of the user's profile " +
			"(or to the org's trusted IP ranges in Network Access) and check the profile's Login Hours; " +
			"relaxing the app's IP policy does not help this flow"},
	{code: invalidGrant, descs: []string{"login rate exceeded"},
		meaning: "The user exceeded Salesforce's 3,600 logins per hour.",
		eca:     setupLoginLimit,
		ca:      setupLoginLimit,
		fix: "the user exceeded Salesforce's 3,600 logins per hour: wait for the hour to pass, and let Vault reuse " +
			"tokens longer (the connection's reuse_interval) or spread roles over more users"},
	{code: invalidGrant, descs: []string{"request not supported on this domain"},
		meaning: "The client credentials flow works only on the org's My Domain, not on login or test.",
		eca:     setupMyDomain,
		ca:      setupMyDomain,
		fix:     "set the connection's login_url to the org's My Domain URL, e.g. https://acme.my.salesforce.com"},
	{code: invalidGrant, descs: []string{"no client credentials user enabled"},
		meaning: "The app's client credentials flow has no Run As user.",
		eca:     ecaPolicies + " > OAuth Policies > OAuth Flows and External Client App Enhancements: Enable Client Credentials Flow, Run As (Username)",
		ca:      caPolicies + " > Client Credentials Flow: Run As",
		fix:     "enable the client credentials flow in the app's policies and choose the Run As user it issues tokens for"},
	{code: invalidGrant, descs: []string{"inactive"},
		meaning: "The user or the org is inactive, frozen or locked.",
		eca:     setupUsers,
		ca:      setupUsers,
		fix:     "reactivate or unfreeze the user, or point the role at an active username"},
	{code: invalidGrant, descs: []string{"authentication failure"},
		meaning: "Salesforce does not know the user, or will not log them in.",
		eca:     setupUsers,
		ca:      setupUsers,
		fix: "check the role's username: it must be an active user of the org login_url points at " +
			"(sandbox usernames carry a suffix)"},
	{code: invalidGrant,
		meaning: "Salesforce refused the grant for a reason it did not name.",
		eca:     ecaPolicies,
		ca:      caPolicies,
		fix: "check the role's username, that the user is active and pre-authorized for the app, " +
			"and the connection's audience"},
	{code: "redirect_uri_mismatch", descs: []string{"redirect_uri must match configuration"},
		meaning: "The connection's redirect_uri is not exactly a callback URL registered on the app: scheme, host, " +
			"port, path, trailing slash and case all count.",
		eca: ecaSettings + ": Callback URL",
		ca:  caSettings + ": Callback URL",
		fix: "register the connection's redirect_uri on the app character for character, or set redirect_uri to a " +
			"registered one"},
	{code: "access_denied",
		meaning: "The person pressed Deny on Salesforce's consent page.",
		fix:     "start the authorization again and allow access"},
	{code: "OAUTH_APP_ACCESS_DENIED",
		meaning: "The app admits admin-approved users only, and the person has neither an approved profile nor permission set.",
		eca:     ecaPolicies + " > App Policies: Select Profiles / Select Permission Sets",
		ca:      caManage + " > Manage Profiles / Manage Permission Sets",
		fix:     "add the person's profile, or a permission set assigned to them, to the app; then start the authorization again"},
	{code: "invalid_client_id", descs: []string{"client identifier invalid"},
		meaning: "The consumer key is unknown to the org login_url points at, or the app is too new to be known yet.",
		eca:     ecaSettings + " > Consumer Key and Secret",
		ca:      caManage + " > View > Manage Consumer Details",
		fix: "check the connection's client_id and that login_url is the app's org (production, sandbox or My Domain); " +
			"a new or changed app takes 2-10 minutes to propagate, so wait and retry"},
	{code: "invalid_client", descs: []string{"invalid client credentials"},
		meaning: "JWT bearer: the app has no certificate saved. Client credentials: the consumer secret is wrong.",
		eca:     ecaSettings + " > Flow Enablement (certificate) and Consumer Key and Secret",
		ca:      caSettings + ": Use digital signatures; " + caManage + " > View > Manage Consumer Details",
		fix: "for jwt_bearer, save the connection's certificate on the app; for client_credentials, set the " +
			"connection's client_secret to the app's consumer secret"},
	{code: "invalid_app_access", descs: []string{"user is not admin approved to access this app"},
		meaning: "The app admits admin-approved users only, and this user has neither an approved profile nor permission set.",
		eca:     ecaPolicies + " > App Policies: Select Profiles / Select Permission Sets",
		ca:      caManage + " > Manage Profiles / Manage Permission Sets",
		fix:     "add the user's profile, or a permission set assigned to the user, to the app"},
	{code: "app_not_found", descs: []string{"External client app is not installed in this org"},
		meaning: "The External Client App does not exist in the org login_url points at: ECAs are local to an org.",
		eca:     "Setup > External Client App Manager (is the app listed?)",
		fix:     "the External Client App is not installed in the org that login_url points at: install it there, or correct login_url"},
	{code: "inactive_user",
		meaning: "The user is inactive, frozen or locked.",
		eca:     setupUsers,
		ca:      setupUsers,
		fix:     "reactivate or unfreeze the user, or point the role at an active username"},
	{code: "inactive_org",
		meaning: "The org is inactive, locked or expired (a deleted sandbox, an ended trial).",
		eca:     "Setup > Company Information",
		ca:      "Setup > Company Information",
		fix:     "check the org, or point the connection at a live one"},
	{code: "unsupported_grant_type", descs: []string{"grant type not supported"},
		meaning: "The endpoint did not take the grant: the body was rewritten, or login_url has a path.",
		fix: "set login_url to the bare Salesforce login or My Domain URL (no path) and make sure no proxy " +
			"rewrites the form body"},
	{code: "invalid_request", descs: []string{"scope parameter not supported"},
		meaning: "A 'scope' field reached Salesforce, which the engine never sends.",
		fix:     "a 'scope' field reached Salesforce, which the engine never sends: check for a proxy rewriting requests between Vault and Salesforce"},
	{code: "invalid_request",
		meaning: "Salesforce found the request malformed.",
		fix: "set login_url to the bare Salesforce login or My Domain URL (no path) and check for proxies " +
			"rewriting requests"},
	{code: "unsupported_token_type",
		meaning: "A revocation was refused: Salesforce does not take the value for a token.",
		eca:     "Setup > External Client App OAuth Usage",
		ca:      "Setup > Connected Apps OAuth Usage",
		fix:     "if the session is still live, revoke it from the OAuth usage page"},
	{code: "rate_limit_exceeded",
		meaning: "Salesforce is rate limiting this org.",
		eca:     "Setup > Company Information (API Requests)",
		ca:      "Setup > Company Information (API Requests)",
		fix:     "wait a few minutes, and let Vault reuse tokens longer (the connection's reuse_interval)"},
}

// genericHint answers a refusal no row knows.
const genericHint = "check the connection (login_url, client_id, private key or client_secret) and the app's OAuth policies " +
	"(External Client App: " + ecaPolicies + "; Connected App: " + caPolicies + ")"

// statusHint is the fix for an answer that carries no OAuth error, by its
// HTTP status: something other than Salesforce's OAuth endpoint answered.
type statusHint struct {
	statuses []int
	meaning  string
	fix      string
}

var statusHints = []statusHint{
	{[]int{http.StatusNotFound, http.StatusMethodNotAllowed},
		"The OAuth endpoint was not found at login_url.",
		"set login_url to the bare Salesforce login or My Domain URL (no path): the OAuth endpoint was not found there"},
	{[]int{http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired},
		"Something between Vault and Salesforce refused the request.",
		"something between Vault and Salesforce refused the request: check proxies, firewalls and the connection's login_url"},
}

// hint is the rule as an error message carries it: the fix, then where to
// make it for either kind of app.
func (r hintRule) hint() string {
	switch {
	case r.eca == "" && r.ca == "":
		return r.fix
	case r.eca == r.ca:
		return r.fix + " (" + r.eca + ")"
	case r.ca == "":
		return r.fix + " (External Client App: " + r.eca + ")"
	}
	return r.fix + " (External Client App: " + r.eca + "; Connected App: " + r.ca + ")"
}

func (r hintRule) matches(code, desc string) bool {
	if !strings.EqualFold(r.code, strings.ReplaceAll(code, "-", "_")) {
		return false
	}
	if len(r.descs) == 0 {
		return true
	}
	for _, d := range r.descs {
		if strings.Contains(desc, strings.ToLower(d)) {
			return true
		}
	}
	return false
}

// hintFor returns the fix for a Salesforce refusal; never empty.
func hintFor(status int, code, desc string) string {
	if code == "" {
		for _, s := range statusHints {
			for _, st := range s.statuses {
				if st == status {
					return s.fix
				}
			}
		}
		return genericHint
	}
	code = strings.ToLower(code)
	desc = strings.ToLower(desc)
	for _, r := range hintRules {
		if r.matches(code, desc) {
			return r.hint()
		}
	}
	return genericHint
}
