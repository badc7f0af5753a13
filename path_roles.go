package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	fieldConnection = "connection"
	fieldGrantType  = "grant_type"
	fieldUsername   = "username"
	fieldAuthz      = "authorization"
	fieldScopes     = "scopes"
	fieldTTL        = "ttl"
	fieldMaxTTL     = "max_ttl"
)

func pathRoles(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "roles/" + nameFieldRegex,
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "role",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": nameField("role"),
				fieldConnection: {
					Type: framework.TypeString,
					Description: "Name of the connection (config/<name>) the role uses. Required when creating; " +
						"cannot be changed after.",
				},
				fieldGrantType: {
					Type: framework.TypeString,
					Description: "OAuth flow: jwt_bearer, client_credentials (the connection needs client_secret, and " +
						"Salesforce uses the app's Run As user), or authorization_code (tokens of a person who consented, " +
						"see authorization). Default: jwt_bearer.",
					Default:       grantJWTBearer,
					AllowedValues: []interface{}{grantJWTBearer, grantClientCredentials, grantAuthorizationCode},
				},
				fieldAuthz: {
					Type: framework.TypeString,
					Description: "For authorization_code: the authorization (authorizations/<name>) whose refresh token the " +
						"role's tokens come from; required for it, empty otherwise. Cannot be changed after creation. Default: none.",
				},
				fieldUsername: {
					Type: framework.TypeString,
					Description: "Salesforce username the token is issued for, at most 255 characters: required for " +
						"jwt_bearer, empty for client_credentials and authorization_code. Cannot be changed after creation. Default: none.",
				},
				fieldScopes: {
					Type: framework.TypeCommaStringSlice,
					Description: "Ceiling of scopes a token may carry, comma-separated or a list, at most 64 scopes and " +
						"4096 characters. Salesforce grants the app's scopes; a token with a scope outside this list is " +
						"refused, never handed out. 'full' allows all. Default: none, no ceiling (the write warns).",
				},
				fieldTTL: {
					Type: framework.TypeDurationSecond,
					Description: "Lease TTL of tokens read through this role, at most max_ttl. Default: 0, the mount's " +
						"default lease TTL.",
				},
				fieldMaxTTL: {
					Type: framework.TypeDurationSecond,
					Description: "Maximum lease TTL, renewals included; capped by the mount's. Default: 0, the mount's " +
						"maximum lease TTL.",
				},
			},
			ExistenceCheck: b.pathRoleExistenceCheck,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathRoleWrite, Summary: "Create a role.",
					Responses: roleWriteResponses},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathRoleWrite, Summary: "Update a role; only the fields given change.",
					Responses: roleWriteResponses},
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathRoleRead,
					Summary:  "Read a role.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "OK", Fields: roleResponseFields}},
					},
				},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathRoleDelete, Summary: "Delete a role. Leases issued through it still revoke.",
					Responses: map[int][]framework.Response{http.StatusNoContent: {{Description: "Deleted."}}}},
			},
			HelpSynopsis:    pathRoleHelpSyn,
			HelpDescription: pathRoleHelpDesc,
		},
		{
			Pattern: "roles/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "roles",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathRoleList, Summary: "List roles.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"keys": {Type: framework.TypeStringSlice, Description: "Role names."},
					}}}}},
			},
			HelpSynopsis:    pathRoleListHelpSyn,
			HelpDescription: pathRoleListHelpDesc,
		},
	}
}

var roleResponseFields = map[string]*framework.FieldSchema{
	fieldConnection: {Type: framework.TypeString, Description: "The connection the role uses."},
	fieldGrantType:  {Type: framework.TypeString, Description: "jwt_bearer, client_credentials or authorization_code."},
	fieldUsername:   {Type: framework.TypeString, Description: "Salesforce username (jwt_bearer)."},
	fieldAuthz:      {Type: framework.TypeString, Description: "The authorization the role's tokens come from (authorization_code)."},
	fieldScopes:     {Type: framework.TypeCommaStringSlice, Description: "The scope ceiling; empty for none."},
	fieldTTL:        {Type: framework.TypeDurationSecond, Description: "Lease TTL in seconds; 0 for the mount's default."},
	fieldMaxTTL:     {Type: framework.TypeDurationSecond, Description: "Maximum lease TTL in seconds; 0 for the mount's maximum."},
}

// roleWriteResponses: a write answers nothing, or only warnings (an empty
// scope ceiling, a max_ttl above the mount's).
var roleWriteResponses = map[int][]framework.Response{
	http.StatusOK:        {{Description: "Written, with warnings."}},
	http.StatusNoContent: {{Description: "Written."}},
}

func (b *backend) pathRoleExistenceCheck(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := getRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := getRole(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	scopes := r.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return &logical.Response{Data: map[string]interface{}{
		fieldConnection: r.Connection,
		fieldGrantType:  r.GrantType,
		fieldUsername:   r.Username,
		fieldAuthz:      r.Authorization,
		fieldScopes:     scopes,
		fieldTTL:        int64(r.TTL.Seconds()),
		fieldMaxTTL:     int64(r.MaxTTL.Seconds()),
	}}, nil
}

func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, roleStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("error listing roles: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := req.Storage.Delete(ctx, roleStoragePrefix+name); err != nil {
		return nil, fmt.Errorf("error deleting role %q: %w", name, err)
	}
	b.cache.drop()
	return nil, nil
}

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
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
	isNew := r == nil
	if isNew {
		r = &role{Name: name, GrantType: grantJWTBearer}
	}
	if msg := applyRoleFields(r, d, isNew); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	conn, err := getConnection(ctx, req.Storage, r.Connection)
	if err != nil {
		return nil, err
	}
	if msg := validateRole(r, conn); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	if err := putRole(ctx, req.Storage, r); err != nil {
		return nil, err
	}
	b.cache.drop()
	return b.roleWarnings(r), nil
}

// applyRoleFields copies the request's fields onto r and reports the first
// input error. connection and username are fixed once the role exists: every
// lease of the role must stay a holder of the same Salesforce user's session,
// and a rename would let an update-only principal re-point existing grants.
func applyRoleFields(r *role, d *framework.FieldData, isNew bool) string {
	fixed := map[string]*string{fieldConnection: &r.Connection, fieldUsername: &r.Username, fieldAuthz: &r.Authorization}
	for _, f := range []string{fieldConnection, fieldUsername, fieldAuthz} {
		raw, ok := d.GetOk(f)
		if !ok {
			continue
		}
		v := strings.TrimSpace(raw.(string))
		if cur := *fixed[f]; !isNew && v != cur {
			return fmt.Sprintf("%q cannot be changed after the role is created (it is %q); create a new role instead", f, cur)
		}
		*fixed[f] = v
	}
	if raw, ok := d.GetOk(fieldGrantType); ok {
		r.GrantType = raw.(string)
	}
	if raw, ok := d.GetOk(fieldScopes); ok {
		r.Scopes = normaliseScopes(raw.([]string))
	}
	if raw, ok := d.GetOk(fieldTTL); ok {
		r.TTL = time.Duration(raw.(int)) * time.Second
	}
	if raw, ok := d.GetOk(fieldMaxTTL); ok {
		r.MaxTTL = time.Duration(raw.(int)) * time.Second
	}
	return ""
}

func normaliseScopes(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func validateRole(r *role, conn *connection) string {
	if r.Connection == "" {
		return "\"connection\" is required: name a connection written at config/<name>"
	}
	if err := validateName(fieldConnection, r.Connection); err != nil {
		return err.Error()
	}
	if conn == nil {
		return fmt.Sprintf("connection %q does not exist; write config/%s first", r.Connection, r.Connection)
	}
	if msg := validateGrant(r, conn); msg != "" {
		return msg
	}
	if err := validateScopes(r.Scopes); err != nil {
		return err.Error()
	}
	switch {
	case r.TTL < 0:
		return "\"ttl\" cannot be negative"
	case r.MaxTTL < 0:
		return "\"max_ttl\" cannot be negative"
	case r.MaxTTL > 0 && r.TTL > r.MaxTTL:
		return fmt.Sprintf("\"ttl\" (%s) cannot be greater than \"max_ttl\" (%s)", r.TTL, r.MaxTTL)
	}
	return ""
}

func validateGrant(r *role, conn *connection) string {
	switch r.GrantType {
	case grantJWTBearer:
		if r.Username == "" {
			return "\"username\" is required when grant_type is jwt_bearer: set the Salesforce username the token is for"
		}
		if err := checkLen(fieldUsername, r.Username, maxUsernameLen); err != nil {
			return err.Error()
		}
		if strings.ContainsAny(r.Username, " \t\r\n/") {
			return fmt.Sprintf("\"username\" %q is not a Salesforce username (they look like user@example.com)", r.Username)
		}
		if conn.PrivateKey == "" {
			return fmt.Sprintf("connection %q has no private key, which jwt_bearer needs; write config/%s with private_key or generate_key=true", conn.Name, conn.Name)
		}
	case grantAuthorizationCode:
		if r.Username != "" {
			return "\"username\" must be empty when grant_type is authorization_code: the user is whoever consented to the authorization"
		}
		if err := validateName(fieldAuthz, r.Authorization); err != nil {
			return err.Error() + ": name the authorization (authorizations/<name>) the role's tokens come from"
		}
		if conn.RedirectURI == "" {
			return fmt.Sprintf("connection %q has no redirect_uri, which authorization_code needs; write config/%s with redirect_uri", conn.Name, conn.Name)
		}
	case grantClientCredentials:
		if r.Username != "" {
			return "\"username\" must be empty when grant_type is client_credentials: Salesforce uses the Connected App's Run As user"
		}
		if conn.ClientSecret == "" {
			return fmt.Sprintf("connection %q has no client_secret, which client_credentials needs; write config/%s with client_secret", conn.Name, conn.Name)
		}
	default:
		return fmt.Sprintf("\"grant_type\" %q is not supported; use jwt_bearer, client_credentials or authorization_code", r.GrantType)
	}
	if r.GrantType != grantAuthorizationCode && r.Authorization != "" {
		return "\"authorization\" applies only when grant_type is authorization_code"
	}
	return ""
}

func validateScopes(scopes []string) error {
	if len(scopes) > maxScopeCount {
		return fmt.Errorf("\"scopes\" lists %d scopes; at most %d are allowed", len(scopes), maxScopeCount)
	}
	return checkLen(fieldScopes, strings.Join(scopes, " "), maxScopesLen)
}

// roleWarnings tells the operator what is allowed but probably not meant.
func (b *backend) roleWarnings(r *role) *logical.Response {
	resp := &logical.Response{}
	if len(r.Scopes) == 0 {
		resp.AddWarning("\"scopes\" is empty: every scope the Connected App grants will be handed out; set scopes to the ceiling this role may carry, e.g. scopes=api")
	}
	if max := b.System().MaxLeaseTTL(); r.MaxTTL > max {
		resp.AddWarning(fmt.Sprintf("\"max_ttl\" (%s) is greater than the mount's maximum lease TTL (%s); leases will be capped at the latter", r.MaxTTL, max))
	}
	if len(resp.Warnings) == 0 {
		return nil
	}
	return resp
}

const pathRoleHelpSyn = `Manage roles: which Salesforce user a token is for, and what it may carry.`

const pathRoleHelpDesc = `
A role names a connection, the OAuth flow, the Salesforce username (jwt_bearer)
and the ceiling of scopes a token may carry, with the TTLs of its leases.

If the engine is mounted at salesforce/, create a role with

    vault write salesforce/roles/app connection=prod username=integration@acme.com scopes=api ttl=15m max_ttl=1h

and read tokens from salesforce/creds/app. The connection and username of a
role cannot be changed after it is created.

Salesforce returns the Connected App's whole approved scope set; it cannot be
narrowed in the request. A granted scope outside the role's scopes makes the
read fail with the extra scopes named, and no token is handed out.
`

const pathRoleListHelpSyn = `List the roles.`

const pathRoleListHelpDesc = `List the names of the roles of this mount, e.g. vault list salesforce/roles.`
