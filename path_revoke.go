package salesforce

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const secretTypeAccessToken = "salesforce_access_token"

func secretAccessToken(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTypeAccessToken,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "Salesforce access token."},
			"instance_url": {Type: framework.TypeString, Description: "The org's My Domain URL."},
		},
		Revoke: b.tokenRevoke,
		Renew:  b.tokenRenew,
	}
}

// tokenRevoke ends one lease. The token is revoked at Salesforce only when
// this lease was its last holder; a failure there is returned so that Vault
// retries, and the token stays in the ledger for the retry and the sweep.
func (b *backend) tokenRevoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	tid, hid, err := leaseHolder(req)
	if err != nil {
		return nil, err
	}
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	return nil, b.releaseHolder(ctx, req.Storage, tid, hid)
}

// releaseHolder removes a lease from its token's holders, and revokes the
// token at Salesforce if no holder is left.
func (b *backend) releaseHolder(ctx context.Context, s logical.Storage, tid, hid string) error {
	rec := b.ledger.token(tid)
	if rec == nil {
		// Already revoked, swept or broken: its holders went with it.
		return nil
	}
	us := b.ledger.user(rec.UserKey)
	us.lock.Lock()
	defer us.lock.Unlock()
	if err := b.ledger.removeHolder(ctx, s, hid); err != nil {
		return err
	}
	rec, last := b.ledger.dropHolder(tid, hid)
	if !last {
		return nil
	}
	return b.revokeRecord(ctx, s, rec)
}

// tokenRenew extends a lease up to the role's max_ttl, and moves its holder's
// expiry with it so that the sweep does not end a token a renewed lease holds.
func (b *backend) tokenRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	tid, hid, err := leaseHolder(req)
	if err != nil {
		return nil, err
	}
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	ttl, maxTTL, err := b.renewTTLs(ctx, req)
	if err != nil {
		return nil, err
	}
	effective, warnings, err := framework.CalculateTTL(b.System(), req.Secret.Increment, ttl, 0, maxTTL, 0, req.Secret.IssueTime)
	if err != nil {
		return logical.ErrorResponse("cannot renew: %s", err), nil
	}
	expires := b.ledger.now().Add(effective)
	if !b.ledger.extendHolder(tid, hid, expires) {
		return logical.ErrorResponse("the token of this lease was already revoked at salesforce (break glass or sweep); read creds again for a new one"), nil
	}
	role, _ := req.Secret.InternalData["role"].(string)
	if _, err := b.ledger.store().update(ctx, req.Storage, hid, holderRecord{ExpiresAt: expires, Role: role}); err != nil {
		return nil, err
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = effective
	resp.Secret.MaxTTL = maxTTL
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}

// renewTTLs prefers the role's current TTLs, and falls back to those stored
// in the lease when the role is gone.
func (b *backend) renewTTLs(ctx context.Context, req *logical.Request) (ttl, maxTTL time.Duration, err error) {
	name, _ := req.Secret.InternalData["role"].(string)
	r, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return 0, 0, err
	}
	if r != nil {
		ttl, maxTTL = b.leaseTTLs(r)
		return ttl, maxTTL, nil
	}
	return secondsField(req.Secret.InternalData, "ttl"), secondsField(req.Secret.InternalData, "max_ttl"), nil
}

// secondsField reads a number Vault may hand back as float64 or json.Number.
func secondsField(m map[string]interface{}, k string) time.Duration {
	switch v := m[k].(type) {
	case float64:
		return time.Duration(v) * time.Second
	case int64:
		return time.Duration(v) * time.Second
	case int:
		return time.Duration(v) * time.Second
	case interface{ Int64() (int64, error) }:
		n, _ := v.Int64()
		return time.Duration(n) * time.Second
	}
	return 0
}

func leaseHolder(req *logical.Request) (tid, hid string, err error) {
	if req.Secret == nil {
		return "", "", fmt.Errorf("request has no secret")
	}
	tid, _ = req.Secret.InternalData["token_id"].(string)
	hid, _ = req.Secret.InternalData["holder_id"].(string)
	if tid == "" || hid == "" {
		return "", "", fmt.Errorf("lease is missing its token_id or holder_id internal data")
	}
	return tid, hid, nil
}

func pathRevoke(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "revoke/" + nameFieldRegex,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "revoke",
			OperationSuffix: "role-session",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Description: "Name of the role.", Required: true},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    b.pathRevokeWrite,
				Summary:                     "Revoke the role's user's token at Salesforce now, whatever leases hold it.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
		},
		HelpSynopsis:    pathRevokeHelpSyn,
		HelpDescription: pathRevokeHelpDesc,
	}}
}

// pathRevokeWrite is break glass: it revokes every token the ledger holds
// for the role's Salesforce user and drops their holders. The leases stay in
// Vault until they end, and then find nothing left to revoke.
func (b *backend) pathRevokeWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	r, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return logical.ErrorResponse("role %q does not exist", name), nil
	}
	conn, err := getConnection(ctx, req.Storage, r.Connection)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return logical.ErrorResponse("connection %q of role %q does not exist", r.Connection, name), nil
	}
	if err := b.ledger.ensureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	tokens, leases, err := b.breakGlass(ctx, req.Storage, userKey(conn.ClientID, r.GrantType, r.Username))
	b.Logger().Info("break-glass revocation", "role", name, "connection", r.Connection,
		"username", r.Username, "revoked_tokens", tokens, "released_leases", leases, "error", err)
	if err != nil {
		return credsError(err)
	}
	return &logical.Response{Data: map[string]interface{}{
		"revoked_tokens":  tokens,
		"released_leases": leases,
	}}, nil
}

func (b *backend) breakGlass(ctx context.Context, s logical.Storage, key string) (tokens, leases int, err error) {
	us := b.ledger.user(key)
	us.lock.Lock()
	defer us.lock.Unlock()
	for _, tid := range b.ledger.tokensOf(key) {
		rec, held := b.ledger.retire(tid)
		if rec == nil {
			continue
		}
		if err := b.revokeRecord(ctx, s, rec); err != nil {
			return tokens, leases, err
		}
		tokens++
		leases += held
	}
	return tokens, leases, nil
}

const pathRevokeHelpSyn = `Break glass: end the role's Salesforce session now, for every lease that holds it.`

const pathRevokeHelpDesc = `
Writing revoke/<role> revokes at Salesforce every token this engine handed
out for the role's Salesforce user, whatever leases still hold it, and drops
those leases from the token ledger. If the engine is mounted at salesforce/:

    vault write -f salesforce/revoke/app

Leases of other roles for the same Connected App and user lose their token
too, since Salesforce shares one token between them. The leases stay in Vault
until they expire or are revoked; the next read of creds starts a new session.
`
