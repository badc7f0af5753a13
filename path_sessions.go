package salesforce

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/ledger"
)

// pathSessions is the ledger as an operator sees it: one entry per
// Salesforce token the engine holds, named by the token's SHA-256, never by
// the token. Read-only.
func pathSessions(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "sessions/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "sessions",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathSessionsList,
					Summary:  "List the Salesforce sessions the engine holds tokens of.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
							"keys":     {Type: framework.TypeStringSlice, Description: "Session IDs (SHA-256 of the token, hex)."},
							"key_info": {Type: framework.TypeMap, Description: "Per session: connection, username, state, holders."},
						}}},
					},
				},
			},
			HelpSynopsis:    pathSessionsHelpSyn,
			HelpDescription: pathSessionsHelpDesc,
		},
		{
			Pattern: "sessions/" + nameFieldRegex,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "session",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": {Type: framework.TypeString, Required: true,
					Description: "Session ID: the SHA-256 of the token in hex (64 characters), as listed by sessions/. Required (part of the path)."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathSessionRead,
					Summary:  "Read one session: who it is for, which leases hold it, and any revocation owed.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "OK", Fields: sessionResponseFields}},
					},
				},
			},
			HelpSynopsis:    pathSessionsHelpSyn,
			HelpDescription: pathSessionsHelpDesc,
		},
	}
}

var sessionResponseFields = map[string]*framework.FieldSchema{
	"id":                      {Type: framework.TypeString, Description: "SHA-256 of the token, hex."},
	"connection":              {Type: framework.TypeString, Description: "Connection the token was granted through."},
	"username":                {Type: framework.TypeString, Description: "Salesforce username (jwt_bearer)."},
	"client_id":               {Type: framework.TypeString, Description: "Consumer key of the app."},
	"organization_id":         {Type: framework.TypeString, Description: "Org ID (15 characters), from the identity URL."},
	"user_id":                 {Type: framework.TypeString, Description: "User ID (15 characters), from the identity URL."},
	"login_url":               {Type: framework.TypeString, Description: "Where the token was granted, and is revoked."},
	"state":                   {Type: framework.TypeString, Description: "active, unheld, revoking or revocation_owed."},
	"holders":                 {Type: framework.TypeInt, Description: "Live leases holding the token."},
	"holders_by_role":         {Type: framework.TypeMap, Description: "Live leases by role."},
	"provisional_holders":     {Type: framework.TypeInt, Description: "Leases not yet known to be registered by Vault."},
	"next_holder_expiry":      {Type: framework.TypeTime, Description: "Earliest lease expiry among the holders."},
	"created":                 {Type: framework.TypeTime, Description: "When the engine first recorded the token."},
	"last_grant":              {Type: framework.TypeTime, Description: "When Salesforce last answered a grant with it (this node, since start)."},
	"unheld_since":            {Type: framework.TypeTime, Description: "When its last lease ended, while unheld."},
	"revocation_owed":         {Type: framework.TypeBool, Description: "Whether a revocation is owed and failing."},
	"revocation_reason":       {Type: framework.TypeString, Description: "Why it is owed: unheld, expired, abandoned, break_glass, rollback."},
	"revocation_attempts":     {Type: framework.TypeInt, Description: "Failed attempts at the owed revocation."},
	"revocation_next_attempt": {Type: framework.TypeTime, Description: "When the sweep tries again."},
	"last_error":              {Type: framework.TypeString, Description: "The last failed revocation's error."},
	"failed_revocations":      {Type: framework.TypeInt, Description: "Last-lease revocations that failed (Vault retries them)."},
}

func (b *backend) pathSessionsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	views := b.ledger.Sessions()
	keys := make([]string, 0, len(views))
	info := make(map[string]interface{}, len(views))
	for _, v := range views {
		keys = append(keys, v.ID)
		info[v.ID] = map[string]interface{}{
			"connection": v.Connection,
			"username":   v.Username,
			"state":      v.State,
			"holders":    v.Holders,
		}
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

func (b *backend) pathSessionRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := b.ledger.EnsureLoaded(ctx, req.Storage); err != nil {
		return nil, err
	}
	v := b.ledger.Session(d.Get("name").(string))
	if v == nil {
		return nil, nil
	}
	return &logical.Response{Data: sessionData(v)}, nil
}

func sessionData(v *ledger.View) map[string]interface{} {
	byRole := make(map[string]interface{}, len(v.ByRole))
	for r, n := range v.ByRole {
		byRole[r] = n
	}
	data := map[string]interface{}{
		"id":                  v.ID,
		"connection":          v.Connection,
		"username":            v.Username,
		"client_id":           v.Session.ClientID,
		"organization_id":     v.Session.OrgID,
		"user_id":             v.Session.UserID,
		"login_url":           v.LoginURL,
		"state":               v.State,
		"holders":             v.Holders,
		"holders_by_role":     byRole,
		"provisional_holders": v.Provisional,
		"created":             timeField(v.CreatedAt),
		"last_grant":          timeField(v.LastGrant),
		"next_holder_expiry":  timeField(v.NextExpiry),
		"unheld_since":        timeField(v.UnheldSince),
		"revocation_owed":     v.Pending != nil,
		"failed_revocations":  v.FailedRevocations,
		"last_error":          v.LastError,
	}
	if p := v.Pending; p != nil {
		data["revocation_reason"] = p.Reason
		data["revocation_attempts"] = p.Attempts
		data["revocation_next_attempt"] = timeField(p.NextAttempt)
		data["last_error"] = p.LastError
	}
	return data
}

// timeField is RFC 3339, or empty for a time that never happened.
func timeField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

const pathSessionsHelpSyn = `The Salesforce sessions the engine holds tokens of, for operators.`

const pathSessionsHelpDesc = `
Each Salesforce token the engine holds is one session here, named by the
SHA-256 of the token (never the token). A read shows the connection and user it
belongs to, how many live leases hold it and through which roles, and any
revocation that is owed and failing, with its last error and next attempt. If
the engine is mounted at salesforce/:

    vault list -detailed salesforce/sessions
    vault read salesforce/sessions/<id>

A session whose revocation keeps failing is never handed to a new lease; the
engine retries with backoff. To end every session of a role now, write
salesforce/revoke/<role>.
`
