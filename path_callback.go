package salesforce

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathCallback is Vault's own redirect URI for user authorizations. It is
// unauthenticated, as Vault's OIDC callback is: the browser arrives with no
// Vault token; the single-use state, bound to the flow its start made,
// stands for it. It answers a small page, never a token or a lease.
func pathCallback(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern:      "callback$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationVerb: "callback", OperationSuffix: "authorization"},
		Fields: map[string]*framework.FieldSchema{
			"code":              {Type: framework.TypeString, Description: "Authorization code from Salesforce. Set by Salesforce's redirect. Default: none.", Query: true},
			"state":             {Type: framework.TypeString, Description: "State of the flow start answered. Set by Salesforce's redirect. Default: none.", Query: true},
			"error":             {Type: framework.TypeString, Description: "Salesforce's error, e.g. access_denied. Set by Salesforce's redirect. Default: none.", Query: true},
			"error_description": {Type: framework.TypeString, Description: "Salesforce's description of the error. Set by Salesforce's redirect. Default: none.", Query: true},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathCallbackRead,
				Summary:  "Where Salesforce sends the person's browser after consent; answers an HTML page.",
				// It writes the authorization: only the active node may.
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				Responses:                   map[int][]framework.Response{http.StatusOK: {{Description: "An HTML page saying what happened (text/html)."}}},
			},
		},
		HelpSynopsis:    pathCallbackHelpSyn,
		HelpDescription: pathCallbackHelpDesc,
	}}
}

func (b *backend) pathCallbackRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ans := flowAnswer{
		code: d.Get("code").(string), state: d.Get("state").(string),
		errCode: d.Get("error").(string), errDescription: d.Get("error_description").(string),
	}
	a, err := b.finishFlow(ctx, req.Storage, "", ans, nil)
	if err != nil {
		return callbackPage(statusOf(err), "Authorization failed", err.Error()), nil
	}
	return callbackPage(http.StatusOK, "Authorization complete",
		fmt.Sprintf("Vault now holds the authorization %q for Salesforce user %s. You can close this window.", a.Name, a.Username)), nil
}

// statusOf is the HTTP status responseFor would give err.
func statusOf(err error) int {
	var unavail *unavailableError
	var forbidden forbiddenError
	var bad requestError
	var sfErr *salesforceError
	switch {
	case errors.As(err, &unavail):
		return http.StatusBadGateway
	case errors.As(err, &forbidden):
		return http.StatusForbidden
	case errors.As(err, &bad), errors.As(err, &sfErr):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

var callbackTemplate = template.Must(template.New("callback").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// callbackPage is a self-contained page: no script, no external resource,
// never stored by a cache.
func callbackPage(status int, title, message string) *logical.Response {
	var b strings.Builder
	_ = callbackTemplate.Execute(&b, struct{ Title, Message string }{title, message}) // a fixed template over strings cannot fail
	return &logical.Response{Data: map[string]interface{}{
		logical.HTTPContentType:        "text/html; charset=utf-8",
		logical.HTTPRawBody:            []byte(b.String()),
		logical.HTTPStatusCode:         status,
		logical.HTTPCacheControlHeader: "no-store",
	}}
}

const pathCallbackHelpSyn = `Vault's redirect URI for user authorizations (unauthenticated).`

const pathCallbackHelpDesc = `
Register https://<vault>/v1/<mount>/callback as the callback URL of the
External Client App or Connected App, and set it as the connection's
redirect_uri. Salesforce sends the person's browser here after consent; the
engine redeems the code with the flow's PKCE verifier, stores the
authorization and answers a short page saying what happened. It never returns
a token.
`
