package salesforce

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathAuthorizations(b *backend) []*framework.Path {
	name := map[string]*framework.FieldSchema{
		"name": nameField("authorization"),
	}
	return []*framework.Path{
		{
			Pattern:      "authorizations/" + nameFieldRegex + "/start$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationVerb: "start", OperationSuffix: "authorization"},
			Fields:       startFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback: b.pathAuthorizationStart,
					Summary:  "Start a person's authorization: answers the Salesforce URL to open in a browser.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"authorize_url": {Type: framework.TypeString, Description: "Open in a browser, signed in to Salesforce as the person who consents."},
						"state":         {Type: framework.TypeString, Description: "The flow's state; with the code it completes the authorization once."},
						"expires_at":    {Type: framework.TypeTime, Description: "When the flow expires (10 minutes)."},
					}}}},
				},
			},
			HelpSynopsis:    pathAuthorizationStartHelpSyn,
			HelpDescription: pathAuthorizationStartHelpDesc,
		},
		{
			Pattern:      "authorizations/" + nameFieldRegex + "/complete$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationVerb: "complete", OperationSuffix: "authorization"},
			Fields: map[string]*framework.FieldSchema{
				"name":  name["name"],
				"url":   {Type: framework.TypeString, Description: "The whole URL the browser landed on after consent (with ?code=...&state=...). Default: none; give url, or code and state."},
				"code":  {Type: framework.TypeString, Description: "The authorization code, when not giving 'url'. Default: none."},
				"state": {Type: framework.TypeString, Description: "The state, when not giving 'url'. Default: none."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:  b.pathAuthorizationComplete,
					Summary:   "Complete an authorization with the URL the browser landed on (same Vault identity as start).",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: authorizationFields}}},
				},
			},
			HelpSynopsis:    pathAuthorizationCompleteHelpSyn,
			HelpDescription: pathAuthorizationCompleteHelpDesc,
		},
		{
			Pattern:      "authorizations/" + nameFieldRegex + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationSuffix: "authorization"},
			Fields:       name,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:  b.pathAuthorizationRead,
					Summary:   "Read an authorization: who consented, its state; never the refresh token.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: authorizationFields}}},
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback: b.pathAuthorizationDelete,
					Summary:  "Revoke the refresh token at Salesforce (ending every access token from it) and forget the authorization.",
					Responses: map[int][]framework.Response{
						http.StatusNoContent: {{Description: "Revoked and forgotten."}},
						http.StatusOK:        {{Description: "Salesforce did not confirm: the authorization stays revoking, with a warning."}},
					},
				},
			},
			HelpSynopsis:    pathAuthorizationHelpSyn,
			HelpDescription: pathAuthorizationHelpDesc,
		},
		{
			Pattern:      "authorizations/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationSuffix: "authorizations"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathAuthorizationList,
					Summary:  "List authorizations.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"keys": {Type: framework.TypeStringSlice, Description: "Authorization names."},
					}}}},
				},
			},
			HelpSynopsis:    pathAuthorizationHelpSyn,
			HelpDescription: pathAuthorizationHelpDesc,
		},
	}
}

func startFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name":       nameField("authorization"),
		"connection": {Type: framework.TypeString, Description: "The connection (config/<name>) whose app the person consents to; it needs redirect_uri. Required."},
		"scopes": {Type: framework.TypeCommaStringSlice,
			Description: "Scopes to ask for (the app grants at most its own); refresh_token is added. Default: api,refresh_token."},
		"login_hint":     {Type: framework.TypeString, Description: "Username to prefill on Salesforce's login page. Default: none."},
		"bound_username": {Type: framework.TypeString, Description: "If set, only this Salesforce user may consent; another user's consent is refused and its token revoked. Default: any user."},
		"prompt":         {Type: framework.TypeString, Description: "Salesforce's prompt: login, consent and/or select_account, space-separated. Default: none."},
	}
}

var authorizationFields = map[string]*framework.FieldSchema{
	"name":            {Type: framework.TypeString, Description: "Name of the authorization."},
	"status":          {Type: framework.TypeString, Description: "pending, active, reauth_required or revoking."},
	"connection":      {Type: framework.TypeString, Description: "Connection of the app consented to."},
	"username":        {Type: framework.TypeString, Description: "Salesforce user who consented."},
	"user_id":         {Type: framework.TypeString, Description: "That user's ID."},
	"organization_id": {Type: framework.TypeString, Description: "The org's ID."},
	"instance_url":    {Type: framework.TypeString, Description: "The org's My Domain URL."},
	"scope":           {Type: framework.TypeString, Description: "Scopes granted."},
	"created":         {Type: framework.TypeTime, Description: "When the authorization was first started."},
	"authorized":      {Type: framework.TypeTime, Description: "When the person last consented."},
	"last_refresh":    {Type: framework.TypeTime, Description: "When a role last got a token from it."},
	"last_error":      {Type: framework.TypeString, Description: "The last failure, if any."},
}

func (b *backend) pathAuthorizationStart(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	in := startInput{
		name: d.Get("name").(string), connection: strings.TrimSpace(d.Get("connection").(string)),
		loginHint: d.Get("login_hint").(string), boundUsername: strings.TrimSpace(d.Get("bound_username").(string)),
		prompt: d.Get("prompt").(string), scopes: normaliseScopes(d.Get("scopes").([]string)),
		entityID: req.EntityID, accessor: req.ClientTokenAccessor,
	}
	for field, v := range map[string]string{"name": in.name, "connection": in.connection} {
		if err := validateName(field, v); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	if err := validateScopes(in.scopes); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	ans, err := b.startAuthorization(ctx, req.Storage, in)
	if err != nil {
		return responseFor(err)
	}
	return &logical.Response{Data: map[string]interface{}{
		"authorize_url": ans.authorizeURL,
		"state":         ans.state,
		"expires_at":    ans.expiresAt.UTC().Format(time.RFC3339),
	}}, nil
}

func (b *backend) pathAuthorizationComplete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	ans := flowAnswer{code: d.Get("code").(string), state: d.Get("state").(string)}
	if raw := d.Get("url").(string); raw != "" {
		var err error
		if ans, err = answerFromURL(raw); err != nil {
			return responseFor(err)
		}
	}
	a, err := b.finishFlow(ctx, req.Storage, d.Get("name").(string), ans, &caller{entityID: req.EntityID, accessor: req.ClientTokenAccessor})
	if err != nil {
		return responseFor(err)
	}
	return &logical.Response{Data: authorizationData(a)}, nil
}

func (b *backend) pathAuthorizationRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, err := getAuthorization(ctx, req.Storage, d.Get("name").(string))
	if err != nil || a == nil {
		return nil, err
	}
	return &logical.Response{Data: authorizationData(a)}, nil
}

func (b *backend) pathAuthorizationDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.deleteAuthorization(ctx, req.Storage, d.Get("name").(string))
}

func (b *backend) pathAuthorizationList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, authorizationStoragePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

// authorizationData is what a read shows: never the refresh token.
func authorizationData(a *authorization) map[string]interface{} {
	return map[string]interface{}{
		"name": a.Name, "status": a.Status, "connection": a.Connection,
		"username": a.Username, "user_id": a.UserID, "organization_id": a.OrgID,
		"instance_url": a.InstanceURL, "scope": a.Scope,
		"created": timeField(a.Created), "authorized": timeField(a.Authorized),
		"last_refresh": timeField(a.LastRefresh), "last_error": a.LastError,
	}
}

const pathAuthorizationStartHelpSyn = `Start a person's authorization (the OAuth web server flow with PKCE).`

const pathAuthorizationStartHelpDesc = `
Answers authorize_url: the person opens it, signs in to Salesforce and
consents; Salesforce sends the browser to the connection's redirect_uri with a
code that Vault redeems with a PKCE verifier only Vault holds. The refresh
token never leaves Vault. If the engine is mounted at salesforce/:

    vault write salesforce/authorizations/alice/start connection=prod scopes=api,refresh_token

When redirect_uri is Vault's own salesforce/callback, the browser lands there
and the authorization completes. Otherwise the person pastes the URL the
browser landed on:

    vault write salesforce/authorizations/alice/complete url='http://localhost:1717/OauthRedirect?code=...&state=...'

The URL is good for 10 minutes, once, and only the Vault identity that started
it may complete it. Let each person start only their own authorizations with a
policy on salesforce/authorizations/{{identity.entity.id}}/*. Starting again
for an existing name re-authorizes: the previous refresh token is revoked once
the new one is stored. Roles read tokens from it with
grant_type=authorization_code authorization=<name>.
`

const pathAuthorizationCompleteHelpSyn = `Complete an authorization with the URL the browser landed on.`

const pathAuthorizationCompleteHelpDesc = `
For a redirect_uri other than Vault's own callback: give the whole URL the
browser landed on (url=...), or its code and state. Only the Vault identity that
started the authorization may complete it.
`

const pathAuthorizationHelpSyn = `Read, list or delete a person's authorization.`

const pathAuthorizationHelpDesc = `
A read shows the status (pending, active, reauth_required, revoking), who
consented, the org, the scopes and the last refresh and error; never the
refresh token. A delete revokes the refresh token at Salesforce, which ends
every access token issued from it, then forgets the authorization; if
Salesforce does not confirm, the authorization stays revoking, its roles refuse
at once, and the engine retries until Salesforce confirms.
`
