package sfemu

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// The login-and-consent page and the error page: self-contained HTML, no
// script and no external resource, so that an HTTP client with a cookie
// jar completes them as well as a real browser does. Element ids (username,
// allow, deny, error, error-code, error-description) are stable for tests.

const pageStyle = `body{font-family:system-ui,sans-serif;background:#f3f3f3;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;border:1px solid #d8dde6;border-radius:.25rem;padding:1.5rem}
h1{font-size:1.25rem;margin-top:0}label{display:block;margin:.75rem 0 .25rem}
input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin:1rem .5rem 0 0;padding:.5rem 1.25rem;font-size:1rem;border-radius:.25rem;border:1px solid #0176d3}
#allow{background:#0176d3;color:#fff}#deny{background:#fff;color:#0176d3}
[role=alert]{color:#ba0517}.note{color:#555;font-size:.85rem}code{word-break:break-all}`

var consentTemplate = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Login | Salesforce (sfemu)</title><style>` + pageStyle + `</style></head>
<body><main>
<h1>Log in to {{.OrgName}}</h1>
<p>The app <code id="client-id">{{.ClientID}}</code> asks to access your data with these scopes:</p>
<ul id="scopes">{{range .Scopes}}<li>{{.}}</li>{{else}}<li>(none)</li>{{end}}</ul>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/services/oauth2/authorize">
<input type="hidden" name="pending" value="{{.Pending}}">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="{{.Username}}" autocomplete="username" required autofocus>
<button id="allow" type="submit" name="action" value="allow">Allow</button>
<button id="deny" type="submit" name="action" value="deny" formnovalidate>Deny</button>
</form>
<p class="note">This is sfemu, a Salesforce emulator: a user listed on the app logs in with the username alone.</p>
</main></body></html>
`))

var errorTemplate = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Error | Salesforce (sfemu)</title><style>` + pageStyle + `</style></head>
<body><main>
<h1>OAuth Error</h1>
<p role="alert">We can't authorize you because of an OAuth error.</p>
<p>error=<code id="error-code">{{.Code}}</code></p>
<p>error_description=<code id="error-description">{{.Description}}</code></p>
</main></body></html>
`))

type consentPage struct {
	OrgName, ClientID, Pending, Username, Error string
	Scopes                                      []string
}

func (e *Emulator) consentPageLocked(app *appState, p *pendingConsent, username, errMsg string) consentPage {
	return consentPage{
		OrgName:  e.orgName,
		ClientID: app.ClientID,
		Pending:  p.id,
		Username: username,
		Error:    errMsg,
		Scopes:   strings.Fields(app.grantedScope(p.req.scope)),
	}
}

func (e *Emulator) renderConsent(w http.ResponseWriter, status int, page consentPage) {
	writeHTML(w, status, consentTemplate, page)
}

// errorPage is Salesforce's OAuth error page: the user sees the error,
// and the app's callback is never called.
func (e *Emulator) errorPage(w http.ResponseWriter, status int, code, desc string) {
	e.count(code)
	writeHTML(w, status, errorTemplate, struct{ Code, Description string }{code, desc})
}

func writeHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		// Our own templates and data: this cannot happen.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeHTML)
	h.Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	// No script, no frame, nothing fetched: the page stands alone. No
	// form-action either, which browsers would apply to the redirect to
	// the app's callback.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
