package salesforce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

const secretTypeAccessToken = "salesforce_access_token" //nolint:gosec // G101: the secret type's name

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

// tokenRevoke ends one lease, all or nothing: the token is revoked at
// Salesforce only when this lease was its last holder, and if Salesforce
// does not confirm, the error goes back to Vault, which keeps the lease live
// and retries, while the ledger keeps the lease as a holder.
func (b *backend) tokenRevoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	tid, hid, err := leaseHolder(req)
	if err != nil {
		return nil, err
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	return nil, b.ledger.Release(ctx, req.Storage, tid, hid)
}

// tokenRenew extends a lease up to the role's max_ttl, and moves its
// holder's expiry with it so that the sweep does not end a token a renewed
// lease holds.
func (b *backend) tokenRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	tid, hid, err := leaseHolder(req)
	if err != nil {
		return nil, err
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	ttl, maxTTL, err := b.renewTTLs(ctx, req)
	if err != nil {
		return responseFor(err)
	}
	effective, warnings, err := framework.CalculateTTL(b.System(), req.Secret.Increment, ttl, 0, maxTTL, 0, req.Secret.IssueTime)
	if err != nil {
		return logical.ErrorResponse("cannot renew: %s", err), nil
	}
	err = b.ledger.Extend(ctx, req.Storage, tid, hid, b.ledger.Now().Add(effective))
	if errors.Is(err, ledger.ErrGone) {
		return logical.ErrorResponse("the token of this lease was already revoked at salesforce (break glass or sweep); read creds again for a new one"), nil
	}
	if err != nil {
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
		return b.leaseTTLs(r)
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
