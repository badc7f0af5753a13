package salesforce

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

func pathCreds(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "creds/" + nameFieldRegex,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "generate",
			OperationSuffix: "access-token",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": nameField("role"),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathCredsRead,
				Summary:  "Get a Salesforce access token for the role, as a lease.",
				// Grants, the ledger and revocation live on the active node.
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: credsResponseFields}},
				},
			},
		},
		HelpSynopsis:    pathCredsHelpSyn,
		HelpDescription: pathCredsHelpDesc,
	}}
}

var credsResponseFields = map[string]*framework.FieldSchema{
	"access_token":    {Type: framework.TypeString, Description: "The Salesforce access token (send as 'Authorization: Bearer').", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
	"instance_url":    {Type: framework.TypeString, Description: "The org's My Domain URL: the base for REST calls."},
	"scope":           {Type: framework.TypeString, Description: "Scopes granted, space-separated."},
	"token_type":      {Type: framework.TypeString, Description: "Always Bearer."},
	"id":              {Type: framework.TypeString, Description: "Identity URL of the user."},
	"username":        {Type: framework.TypeString, Description: "Salesforce username (jwt_bearer roles)."},
	"organization_id": {Type: framework.TypeString, Description: "Org ID, from the identity URL."},
	"user_id":         {Type: framework.TypeString, Description: "User ID, from the identity URL."},
	"issued_at":       {Type: framework.TypeString, Description: "Milliseconds since the epoch, when Salesforce reports it."},
}

func (b *backend) pathCredsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	// The hot path: both come from memory after the first read.
	r, err := b.cache.role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return logical.ErrorResponse("role %q does not exist; create it at roles/%s", name, name), nil
	}
	conn, err := b.cache.connection(ctx, req.Storage, r.Connection)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return logical.ErrorResponse("connection %q of role %q does not exist; write config/%s", r.Connection, name, r.Connection), nil
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	ttl, maxTTL, err := b.leaseTTLs(r)
	if err != nil {
		return responseFor(err)
	}
	h, username, err := b.holdFor(ctx, req.Storage, r, conn, ttl)
	if err != nil {
		return responseFor(err)
	}
	lease, err := b.reuse(ctx, req.Storage, h)
	if lease == nil && err == nil {
		lease, err = b.grant(ctx, req.Storage, r, conn, h)
	}
	if err != nil {
		return responseFor(err)
	}
	if err := ctx.Err(); err != nil {
		// Vault gave up on this request: the answer will never become a
		// lease, so its holder must not keep the token alive.
		b.abandon(ctx, req.Storage, lease)
		return nil, err
	}
	b.ledger.Handed(lease.HolderID)
	return b.credsResponse(r, username, lease, ttl, maxTTL), nil
}

func (b *backend) credsResponse(r *role, username string, lease *ledger.Lease, ttl, maxTTL time.Duration) *logical.Response {
	a := lease.Answer
	data := map[string]interface{}{
		"access_token": a.AccessToken,
		"instance_url": a.InstanceURL,
		"scope":        a.Scope,
		"token_type":   a.TokenType,
		"id":           a.ID,
	}
	if username != "" {
		data["username"] = username
	}
	if org, user, ok := parseIdentityURL(a.ID); ok {
		data["organization_id"] = org
		data["user_id"] = user
	}
	if a.IssuedAt != "" {
		data["issued_at"] = a.IssuedAt
	}
	internal := map[string]interface{}{
		"token_id":   lease.TokenID,
		"holder_id":  lease.HolderID,
		"role":       r.Name,
		"connection": r.Connection,
		"ttl":        int64(ttl.Seconds()),
		"max_ttl":    int64(maxTTL.Seconds()),
	}
	resp := b.Secret(secretTypeAccessToken).Response(data, internal)
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = maxTTL
	resp.Secret.Renewable = true
	return resp
}

// leaseTTLs is the role's TTL and max TTL, defaulted to and capped by the
// mount's. The mount's come from Vault; when Vault cannot answer, the last
// good answer is used, and without one the read fails: a lease of TTL 0
// would be given the mount's default by Vault while its holder expired at
// once.
func (b *backend) leaseTTLs(r *role) (ttl, maxTTL time.Duration, err error) {
	def, mountMax, ok := mountTTLs(b.System())
	if !ok {
		return 0, 0, vaultUnavailableError{"vault did not answer the mount's lease TTLs; try again"}
	}
	maxTTL = mountMax
	if r.MaxTTL > 0 && r.MaxTTL < maxTTL {
		maxTTL = r.MaxTTL
	}
	ttl = r.TTL
	if ttl <= 0 {
		ttl = def
	}
	if ttl > maxTTL {
		ttl = maxTTL
	}
	return ttl, maxTTL, nil
}

// parseIdentityURL reads org and user IDs from https://host/id/<org>/<user>.
func parseIdentityURL(id string) (org, user string, ok bool) {
	i := strings.Index(id, "/id/")
	if i < 0 {
		return "", "", false
	}
	parts := strings.Split(strings.Trim(id[i+len("/id/"):], "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

const pathCredsHelpSyn = `Get a short-lived Salesforce access token for a role.`

//nolint:gosec // G101: help text, not a credential
const pathCredsHelpDesc = `
Reading creds/<role> returns a Salesforce access token for the role's user,
with instance_url, scope, token_type and id, as a lease of type
salesforce_access_token. If the engine is mounted at salesforce/:

    vault read salesforce/creds/app

Salesforce hands every grant for one Connected App and user the same token
while the session lives, so leases of one user share a token. Ending a lease
revokes the token at Salesforce only when no other live lease holds it. To end
the user's session now, whatever leases hold it, write salesforce/revoke/app.
`
