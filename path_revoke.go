package salesforce

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathRevoke(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "revoke/" + nameFieldRegex,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "revoke",
			OperationSuffix: "role-session",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": nameField("role"),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    b.pathRevokeWrite,
				Summary:                     "Revoke at Salesforce, now, every token a lease of the role holds, whatever else holds it.",
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"revoked_tokens":  {Type: framework.TypeInt, Description: "Tokens revoked at Salesforce."},
						"released_leases": {Type: framework.TypeInt, Description: "Leases (of any role) that held them; they stay in Vault until they end."},
					}}},
				},
			},
		},
		HelpSynopsis:    pathRevokeHelpSyn,
		HelpDescription: pathRevokeHelpDesc,
	}}
}

// pathRevokeWrite is break glass. The tokens are found by the ledger's own
// record of which role each lease was read through, so it works after the
// role was deleted or its connection rewritten (even to another client_id)
// while its leases live. The leases stay in Vault until they end, and then
// find nothing left to revoke.
func (b *backend) pathRevokeWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	r, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	tokens, leases, err := b.ledger.BreakGlass(ctx, req.Storage, name)
	b.Logger().Info("break-glass revocation", "role", name, "revoked_tokens", tokens, "released_leases", leases, "error", err)
	if err != nil {
		return responseFor(err)
	}
	if r == nil && tokens == 0 {
		return logical.ErrorResponse("role %q does not exist and no lease read through it holds a token", name), nil
	}
	return &logical.Response{Data: map[string]interface{}{
		"revoked_tokens":  tokens,
		"released_leases": leases,
	}}, nil
}

const pathRevokeHelpSyn = `Break glass: end, now, every Salesforce session a lease of the role holds.`

const pathRevokeHelpDesc = `
Writing revoke/<role> revokes at Salesforce every token that a live lease read
through the role holds, whatever other leases hold it too, and drops those
leases from the token ledger. If the engine is mounted at salesforce/:

    vault write -f salesforce/revoke/app

It works after the role was deleted or its connection changed, as long as
leases read through it live. Leases of other roles that share the token lose
it too, since Salesforce shares one token per app and user. The leases stay in
Vault until they expire or are revoked; the next read of creds starts a new
session. A revocation Salesforce does not confirm is answered with a 502; the
token is never handed out again and the engine keeps retrying it (see
sessions/).
`
