package salesforce

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
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
			"name": {Type: framework.TypeString, Description: "Name of the role.", Required: true},
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
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}

	ttl, maxTTL := b.leaseTTLs(r)
	hid, err := newHolderID()
	if err != nil {
		return nil, err
	}
	key := userKey(conn.ClientID, r.GrantType, r.Username)
	expires := b.ledger.now().Add(ttl)
	g, walID := b.ledger.holdCurrent(key, conn.Name, hid, expires), ""
	if g == nil {
		if g, walID, err = b.grantAndHold(ctx, req.Storage, r, conn, key, hid, expires); err != nil {
			return credsError(err)
		}
	}
	if extra := scopesOutside(g.resp.Scope, r.Scopes); len(extra) > 0 {
		b.abandonHolder(ctx, req.Storage, g.tokenID, hid, walID)
		return logical.ErrorResponse("salesforce granted scopes outside role %q's ceiling: %s; remove them from the Connected App's OAuth scopes or add them to the role's scopes",
			name, strings.Join(extra, ", ")), nil
	}
	h := holderRecord{ExpiresAt: expires, Role: name}
	if err := b.ledger.persistHolder(ctx, req.Storage, g.tokenID, hid, h); err != nil {
		b.abandonHolder(ctx, req.Storage, g.tokenID, hid, walID)
		return nil, err
	}
	if walID != "" {
		b.deleteWAL(ctx, req.Storage, walID)
	}
	return b.credsResponse(r, g, hid, ttl, maxTTL), nil
}

// abandonHolder undoes a holder whose read failed. If that leaves the token
// unheld it is revoked; if the revocation fails too, the grant's WAL entry is
// kept so that rollback (or else the sweep) finishes the job.
func (b *backend) abandonHolder(ctx context.Context, s logical.Storage, tid, hid, walID string) {
	if err := b.releaseHolder(ctx, s, tid, hid); err != nil {
		b.Logger().Error("could not revoke a token whose read failed; rollback and the sweep will retry", "error", err)
		return
	}
	if walID != "" {
		b.deleteWAL(ctx, s, walID)
	}
}

func (b *backend) credsResponse(r *role, g *cachedGrant, hid string, ttl, maxTTL time.Duration) *logical.Response {
	tr := g.resp
	data := map[string]interface{}{
		"access_token": tr.AccessToken,
		"instance_url": tr.InstanceURL,
		"scope":        tr.Scope,
		"token_type":   tr.TokenType,
		"id":           tr.ID,
	}
	if r.Username != "" {
		data["username"] = r.Username
	}
	if org, user, ok := parseIdentityURL(tr.ID); ok {
		data["organization_id"] = org
		data["user_id"] = user
	}
	if tr.IssuedAt != "" {
		data["issued_at"] = tr.IssuedAt
	}
	internal := map[string]interface{}{
		"token_id":   g.tokenID,
		"holder_id":  hid,
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
// mount's.
func (b *backend) leaseTTLs(r *role) (ttl, maxTTL time.Duration) {
	sys := b.System()
	maxTTL = sys.MaxLeaseTTL()
	if r.MaxTTL > 0 && r.MaxTTL < maxTTL {
		maxTTL = r.MaxTTL
	}
	ttl = r.TTL
	if ttl <= 0 {
		ttl = sys.DefaultLeaseTTL()
	}
	if ttl > maxTTL {
		ttl = maxTTL
	}
	return ttl, maxTTL
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

func newHolderID() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("error generating a holder ID: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}

const pathCredsHelpSyn = `Get a short-lived Salesforce access token for a role.`

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
