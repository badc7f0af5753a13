package salesforce

import (
	"net/http"
	"strings"
)

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
