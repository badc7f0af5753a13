// Package salesforce is a HashiCorp Vault secrets engine that issues
// short-lived Salesforce access tokens as Vault leases.
//
// Vault keeps a Connected App's (or External Client App's) private key or
// consumer secret sealed. A role names a Salesforce user and the scopes its
// tokens may carry; reading creds/<role> returns an access token as a lease;
// when the last lease holding a token ends, the token is revoked at
// Salesforce. Salesforce returns one token per app and user while the
// session lives, so the engine keeps a ledger of which leases hold which
// token (internal/ledger).
//
// # Files
//
//	backend.go              Factory and wiring: paths, the secret, periodic work, invalidation; the backend's locks and caches
//	doc.go                  this map
//	path_config.go          config/<name>: a connection (one org's app); LIST config/
//	config_schema.go        the config/ paths' fields (defaults, limits) and answers
//	path_config_keys.go     config/<name>/certificate, rotate-key, promote-key
//	config_input.go         the config-write pipeline: a write's fields, validated against the stored connection
//	connection.go           the stored connection: fields, defaults, generation, storage
//	keys.go                 RSA key generation, parsing, fingerprints, certificates
//	loginurl.go, validation.go   what login_url, names and other input may be
//	path_roles.go           roles/<name>; LIST roles/
//	role.go                 the stored role and its scope ceiling
//	path_creds.go           creds/<role>: a token as a lease; lease TTLs
//	grant.go                asking Salesforce for a token and recording it in the ledger
//	secret_access_token.go  the salesforce_access_token secret: lease revocation and renewal
//	path_revoke.go          revoke/<role>: break glass
//	path_sessions.go        sessions/: the ledger as an operator sees it
//	path_metrics.go         metrics: Prometheus text or JSON
//	metrics.go              the counters, histogram and gauges behind it
//	path_authorizations.go  authorizations/<name>/start, complete, read, delete; LIST authorizations/
//	path_callback.go        callback: Vault's own redirect URI (unauthenticated), and its page
//	webflow.go              the web server flow: start, redeem the code, keep the consent, delete
//	flow.go                 a flow in progress: state, PKCE verifier, single use
//	authorization.go        the stored authorization: the refresh token and who consented
//	refresh.go              access tokens of authorization_code roles, from the refresh token
//	rollback.go             WAL entries of grants whose outcome is unknown, and their rollback
//	periodic.go             the periodic sweep, and which nodes may run background work
//	clients.go              Salesforce clients cached by their settings; revocation for the ledger
//	client.go               the OAuth client: JWT bearer and client credentials grants, revocation
//	client_retry.go         its retries: backoff with jitter, Retry-After, what is worth another attempt
//	client_webflow.go       the web server flow's calls: code exchange, refresh, identity
//	assertion.go            the JWT bearer assertion
//	audience.go             which JWT audiences a grant sends, and the one Salesforce accepted
//	answer.go               decoding Salesforce's answers: tokens, refusals, revocations
//	hints.go                the fix for each Salesforce refusal: the source of docs/troubleshooting.md
//	errors.go               error types and what the caller sees for each (400, 502, 503)
//	redact.go               keeping what was sent out of what comes back
//	entrycache.go           roles, connections and authorizations served from memory to creds reads
//	version.go              the version the build stamps (scripts/build.sh)
//	sysview.go              Vault's system view behind a short cache, never a zero from a failed call
//
// # Storage
//
// All under the mount's storage view:
//
//	config/<name>                     a connection, with its private key and consumer secret (seal-wrapped)
//	roles/<name>                      a role
//	authorizations/<name>             a person's consent, with its refresh token (seal-wrapped)
//	flows/<SHA-256 of the state>      an authorization in progress, with its PKCE verifier (seal-wrapped; 10 minutes)
//	audiences/<name>                  the JWT audience Salesforce accepted for connection <name>, with its login_url and client_id
//	ledger/tokens/<token ID>          a token and what revoking it needs (seal-wrapped)
//	ledger/holders/<token ID>/<batch> the leases holding a token, recorded together
//	ledger/epochs/<epoch>             how far a backend instance's leases are known to be registered
//	wal/<id>                          grants whose outcome is unknown (node-local storage)
//
// A token ID is the SHA-256 of the token in hex: storage keys, logs and
// the sessions/ path never carry a token.
package salesforce
