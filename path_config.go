package salesforce

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathConfig is every config/ path: the connection itself, its listing,
// and the key paths of path_config_keys.go.
func pathConfig(b *backend) []*framework.Path {
	return []*framework.Path{
		pathConfigConnection(b),
		pathConfigListPath(b),
		pathConfigCertificate(b),
		pathConfigRotateKey(b),
		pathConfigPromoteKey(b),
	}
}

func pathConfigConnection(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/" + nameFieldRegex + "$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "connection",
		},
		Fields:         configFields(),
		ExistenceCheck: b.pathConfigExistenceCheck,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{
				Callback:  b.pathConfigWrite,
				Summary:   "Create a connection to a Salesforce Connected App.",
				Responses: configWriteResponses(),
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:  b.pathConfigWrite,
				Summary:   "Update a connection; only the fields given change.",
				Responses: configWriteResponses(),
			},
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathConfigRead,
				Summary:  "Read a connection's settings; never its private key or secret.",
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: configReadResponseFields()}},
				},
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback: b.pathConfigDelete,
				Summary:  "Delete a connection that no role uses.",
				Responses: map[int][]framework.Response{
					http.StatusNoContent: {{Description: "No Content"}},
				},
			},
		},
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: pathConfigHelpDesc,
	}
}

func pathConfigListPath(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/?$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "connections",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{
				Callback: b.pathConfigList,
				Summary:  "List connection names.",
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"keys": {Type: framework.TypeStringSlice, Description: "Connection names."},
					}}},
				},
			},
		},
		HelpSynopsis:    pathConfigListHelpSyn,
		HelpDescription: pathConfigListHelpDesc,
	}
}

func (b *backend) pathConfigExistenceCheck(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name := d.Get("name").(string)
	if validateName("name", name) != nil {
		return false, nil // the write answers the 400
	}
	c, err := getConnection(ctx, req.Storage, name)
	if err != nil {
		return false, err
	}
	return c != nil, nil
}

// pathConfigWrite validates the whole request against the stored connection
// before it writes once: a refused request leaves nothing behind.
func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	in := readConfigInput(d)

	unlock := b.connLocks.Lock(name)
	defer unlock()

	old, err := getConnection(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	plan, err := in.apply(old, name)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	var gen *generatedKey
	if plan.generate != nil {
		if gen, err = generateKey(*plan.generate); err != nil {
			return nil, err
		}
		plan.conn.setGeneratedKey(gen)
	}
	if err := putConnection(ctx, req.Storage, plan.conn); err != nil {
		return nil, err
	}
	b.connectionChanged()
	b.logConfigWrite(old == nil, plan.conn, in.present())
	return configWriteResponse(plan, gen), nil
}

func (b *backend) logConfigWrite(created bool, c *connection, fields []string) {
	fp, _ := pemKeyFingerprint(c.PrivateKey) // a parse failure only loses the log field
	b.Logger().Info("connection written", "connection", c.Name, "created", created,
		"fields", fields, "login_url", c.LoginURL, "private_key_fingerprint", fp,
		"client_secret_set", c.ClientSecret != "")
}

func configWriteResponse(plan *configPlan, gen *generatedKey) *logical.Response {
	if gen == nil && len(plan.warnings) == 0 {
		return nil
	}
	resp := &logical.Response{}
	if gen != nil {
		resp.Data = map[string]interface{}{
			"certificate":             gen.Certificate,
			"private_key_fingerprint": gen.Fingerprint,
			"certificate_expires_at":  gen.ExpiresAt.Format(time.RFC3339),
		}
	}
	for _, w := range plan.warnings {
		resp.AddWarning(w)
	}
	return resp
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	c, err := getConnection(ctx, req.Storage, name)
	if err != nil || c == nil {
		return nil, err
	}
	data, err := connectionReadData(c)
	if err != nil {
		return nil, err
	}
	if data["accepted_audience"], err = acceptedAudienceFor(ctx, req.Storage, c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathConfigDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	unlock := b.connLocks.Lock(name)
	defer unlock()

	roles, err := b.rolesUsingConnection(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if len(roles) > 0 {
		return logical.ErrorResponse("connection %q is used by role(s) %s; delete those roles "+
			"or point them at another connection first", name, quoteAll(roles)), nil
	}
	if err := req.Storage.Delete(ctx, configStoragePrefix+name); err != nil {
		return nil, err
	}
	// A connection created later under this name starts afresh; were this
	// left behind, it would only be used for the same login_url and app.
	if err := req.Storage.Delete(ctx, audienceStoragePrefix+name); err != nil {
		b.Logger().Warn("connection deleted, but not the audience salesforce accepted for it", "connection", name, "error", err)
	}
	b.connectionChanged()
	b.Logger().Info("connection deleted", "connection", name)
	return nil, nil
}

func (b *backend) pathConfigList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, configStoragePrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

const pathConfigHelpSyn = `Configure a connection to one Salesforce org's Connected App.`

const pathConfigHelpDesc = `
A connection holds what the engine needs to obtain access tokens from one
Salesforce Connected App (or External Client App): the login URL, the consumer
key (client_id), and either an RSA private key (JWT bearer flow) or the
consumer secret (client credentials flow). The key and the secret are
write-only: reads show only whether they are set and the key's fingerprint.

If the engine is mounted at salesforce/, let Vault generate the key pair and
upload the answered certificate to the Connected App:

    vault write salesforce/config/prod client_id=3MVG9... generate_key=true

or supply a key of your own:

    vault write salesforce/config/prod client_id=3MVG9... private_key=@key.pem

Then create roles at salesforce/roles/<name> with connection=prod. The
certificate can be fetched again from salesforce/config/prod/certificate; a
new key is prepared with salesforce/config/prod/rotate-key.

login_url and audience must be https URLs on a Salesforce domain unless
allow_non_salesforce_host=true. Changing login_url, audience, ca_cert or
allow_non_salesforce_host on a connection that holds a key or a secret
requires that key or secret (or generate_key=true) in the same request, so
that stored credentials are never redirected by someone who does not hold them.

One Connected App and Salesforce user belong to one mount (and one cluster).
Salesforce hands every grant for an app and user the same token, so two
mounts, or two Vault clusters, that grant for the same app and user share a
session without knowing of each other's leases: when one revokes its last
lease it ends the token the other's leases still hold. Give each mount its
own Connected App, or its own integration users.
`

const pathConfigListHelpSyn = `List the configured connections.`

const pathConfigListHelpDesc = `
Lists connection names. If the engine is mounted at salesforce/:

    vault list salesforce/config
`

// connectionReadData is what a read shows: settings, flags and public
// material, never the private key or the secret.
func connectionReadData(c *connection) (map[string]interface{}, error) {
	data := map[string]interface{}{
		"login_url":                 c.LoginURL,
		"client_id":                 c.ClientID,
		"audience":                  c.audience(),
		"ca_cert":                   c.CACert,
		"allow_non_salesforce_host": c.AllowNonSalesforceHost,
		"private_key_set":           c.PrivateKey != "",
		"key_generated":             c.KeyGenerated,
		"certificate":               c.Certificate,
		"certificate_common_name":   c.commonName(),
		"certificate_validity":      int64(c.certificateValidity().Seconds()),
		"pending_key_set":           c.PendingKey != "",
		"pending_certificate":       c.PendingCertificate,
		"client_secret_set":         c.ClientSecret != "",
		"reuse_interval":            int64(c.reuseInterval().Seconds()),
		"redirect_uri":              c.RedirectURI,
	}
	if c.PrivateKey != "" {
		key, err := parseRSAPrivateKey(c.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("stored private key of connection %q cannot be parsed: %w", c.Name, err)
		}
		if data["private_key_fingerprint"], err = keyFingerprint(&key.PublicKey); err != nil {
			return nil, err
		}
		data["key_bits"] = key.N.BitLen()
	}
	if c.Certificate != "" {
		expires, err := certificateExpiry(c.Certificate)
		if err != nil {
			return nil, err
		}
		data["certificate_expires_at"] = expires.Format(time.RFC3339)
	}
	fp, err := pemKeyFingerprint(c.PendingKey)
	if err != nil {
		return nil, err
	}
	if fp != "" {
		data["pending_key_fingerprint"] = fp
	}
	return data, nil
}

// readConfigInput takes the fields present in the request. The framework
// has already checked that each converts to its type.
func readConfigInput(d *framework.FieldData) *configInput {
	in := &configInput{}
	has := func(k string) bool {
		if _, ok := d.Raw[k]; ok {
			in.fields = append(in.fields, k)
			return true
		}
		return false
	}
	str := func(k string) *string {
		if !has(k) {
			return nil
		}
		v := d.Get(k).(string)
		return &v
	}
	boolean := func(k string) *bool {
		if !has(k) {
			return nil
		}
		v := d.Get(k).(bool)
		return &v
	}
	seconds := func(k string) *time.Duration {
		if !has(k) {
			return nil
		}
		v := secondsToDuration(d.Get(k).(int))
		return &v
	}
	in.LoginURL, in.ClientID, in.PrivateKey = str("login_url"), str("client_id"), str("private_key")
	in.ClientSecret, in.Audience, in.CACert = str("client_secret"), str("audience"), str("ca_cert")
	in.RedirectURI = str("redirect_uri")
	in.CommonName = str("certificate_common_name")
	in.AllowNonSalesforceHost, in.GenerateKey = boolean("allow_non_salesforce_host"), boolean("generate_key")
	in.CertificateValidity, in.ReuseInterval = seconds("certificate_validity"), seconds("reuse_interval")
	if has("key_bits") {
		v := d.Get("key_bits").(int)
		in.KeyBits = &v
	}
	return in
}

// secondsToDuration saturates instead of overflowing, so that a huge value
// cannot wrap around into an accepted range.
func secondsToDuration(s int) time.Duration {
	const maxSeconds = int(math.MaxInt64 / int64(time.Second))
	switch {
	case s > maxSeconds:
		return time.Duration(math.MaxInt64)
	case s < -maxSeconds:
		return time.Duration(math.MinInt64)
	}
	return time.Duration(s) * time.Second
}
