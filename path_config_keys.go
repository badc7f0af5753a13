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

// Key rotation without downtime: rotate-key prepares a pending key pair and
// answers its certificate; the admin uploads it to the Connected App (which
// then accepts only the new one). Grants keep signing with the current key
// until Salesforce refuses it as an "invalid assertion"; the creds path then
// tries the pending key and, once accepted, promotes it with
// promotePendingKey. promote-key does the same by hand.

func pathConfigCertificate(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/" + nameFieldRegex + "/certificate$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "certificate",
		},
		Fields: map[string]*framework.FieldSchema{"name": nameField("connection")},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathConfigCertificateRead,
				Summary:  "Read the certificates of the keys Vault generated, to upload to the Connected App.",
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: certificateResponseFields()}},
				},
			},
		},
		HelpSynopsis:    pathConfigCertificateHelpSyn,
		HelpDescription: pathConfigCertificateHelpDesc,
	}
}

func pathConfigRotateKey(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/" + nameFieldRegex + "/rotate-key$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "rotate",
			OperationSuffix: "key",
		},
		Fields: keyPathFields(true),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathConfigRotateKey,
				Summary:  "Generate a pending key pair and answer its certificate.",
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: generatedKeyResponseFields("pending_")}},
				},
			},
		},
		HelpSynopsis:    pathConfigRotateKeyHelpSyn,
		HelpDescription: pathConfigRotateKeyHelpDesc,
	}
}

func pathConfigPromoteKey(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config/" + nameFieldRegex + "/promote-key$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationVerb:   "promote",
			OperationSuffix: "key",
		},
		Fields: keyPathFields(false),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathConfigPromoteKey,
				Summary:  "Make the pending key the current one now.",
				Responses: map[int][]framework.Response{
					http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"private_key_fingerprint": {Type: framework.TypeString, Description: "Fingerprint of the new current key."},
					}}},
				},
			},
		},
		HelpSynopsis:    pathConfigPromoteKeyHelpSyn,
		HelpDescription: pathConfigPromoteKeyHelpDesc,
	}
}

func keyPathFields(withOptions bool) map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{"name": nameField("connection")}
	if withOptions {
		for k, v := range keyOptionFields() {
			// The connection's own settings are the defaults, and they
			// fall back to the generate_key ones.
			v.Default = nil
			v.Description = strings.Replace(v.Description, "Default: ", "Default: the connection's setting, else ", 1)
			fields[k] = v
		}
	}
	return fields
}

func certificateResponseFields() map[string]*framework.FieldSchema {
	fields := generatedKeyResponseFields("")
	for k, v := range generatedKeyResponseFields("pending_") {
		fields[k] = v
	}
	return fields
}

func (b *backend) pathConfigCertificateRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	c, err := getConnection(ctx, req.Storage, name)
	if err != nil || c == nil {
		return nil, err
	}
	if c.Certificate == "" && c.PendingCertificate == "" {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("connection %q has no certificate: "+
			"its key was supplied with 'private_key' (use the certificate you made with it) or it has no key; "+
			"to have Vault generate one, write config/%s with generate_key=true, or use config/%s/rotate-key",
			name, name, name))
	}
	data := map[string]interface{}{}
	if err := addCertificateData(data, "", c.Certificate, c.PrivateKey); err != nil {
		return nil, err
	}
	if err := addCertificateData(data, "pending_", c.PendingCertificate, c.PendingKey); err != nil {
		return nil, err
	}
	return &logical.Response{Data: data}, nil
}

func addCertificateData(data map[string]interface{}, prefix, certPEM, keyPEM string) error {
	if certPEM == "" {
		return nil
	}
	expires, err := certificateExpiry(certPEM)
	if err != nil {
		return err
	}
	fp, err := pemKeyFingerprint(keyPEM)
	if err != nil {
		return err
	}
	data[prefix+"certificate"] = certPEM
	data[prefix+keyFingerprintField(prefix)] = fp
	data[prefix+"certificate_expires_at"] = expires.Format(time.RFC3339)
	return nil
}

func (b *backend) pathConfigRotateKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	unlock := b.connLocks.Lock(name)
	defer unlock()

	c, err := getConnection(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return logical.ErrorResponse("connection %q does not exist; create it at config/%s", name, name), nil
	}
	if c.PrivateKey == "" {
		return logical.ErrorResponse("connection %q has no private key to rotate; "+
			"write config/%s with generate_key=true (or private_key) instead", name, name), nil
	}
	opts, err := rotateKeyOptions(c, d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	gen, err := generateKey(opts)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]interface{}{
		"pending_certificate":            gen.Certificate,
		"pending_key_fingerprint":        gen.Fingerprint,
		"pending_certificate_expires_at": gen.ExpiresAt.Format(time.RFC3339),
	}}
	if c.PendingKey != "" {
		resp.AddWarning("an earlier pending key was replaced; upload this certificate instead of the earlier one")
	}
	c.PendingKey, c.PendingCertificate = gen.PrivateKey, gen.Certificate
	if err := putConnection(ctx, req.Storage, c); err != nil {
		return nil, err
	}
	b.connectionChanged()
	b.Logger().Info("prepared a pending key", "connection", name, "pending_key_fingerprint", gen.Fingerprint)
	return resp, nil
}

// rotateKeyOptions are the request's key options over the connection's
// settings. They apply to this rotation only.
func rotateKeyOptions(c *connection, d *framework.FieldData) (keyOptions, error) {
	opts := keyOptions{Bits: c.keyBits(), CommonName: c.commonName(), Validity: c.certificateValidity()}
	if v, ok := d.GetOk("key_bits"); ok {
		opts.Bits = v.(int)
	}
	if v, ok := d.GetOk("certificate_common_name"); ok && v.(string) != "" {
		opts.CommonName = v.(string)
	}
	if v, ok := d.GetOk("certificate_validity"); ok {
		opts.Validity = secondsToDuration(v.(int))
	}
	return opts, opts.validate()
}

func (b *backend) pathConfigPromoteKey(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := unknownFieldsError(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	if err := validateName("name", name); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	unlock := b.connLocks.Lock(name)
	defer unlock()

	c, err := getConnection(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return logical.ErrorResponse("connection %q does not exist", name), nil
	}
	if c.PendingKey == "" {
		return logical.ErrorResponse("connection %q has no pending key; prepare one with config/%s/rotate-key", name, name), nil
	}
	fp, err := b.promoteLocked(ctx, req.Storage, c)
	if err != nil {
		return nil, err
	}
	b.connectionChanged()
	return &logical.Response{Data: map[string]interface{}{"private_key_fingerprint": fp}}, nil
}

// promotePendingKey is called by the creds path when Salesforce refused the
// current key but accepted pendingKeyPEM. It promotes only if that key is
// still the pending one: an admin may have rotated or replaced keys since
// the grant read the connection, and their write wins.
//
// It does not reset the cached client: the client holds no key (each grant
// is handed one), and the caller is in the middle of using that client.
func (b *backend) promotePendingKey(ctx context.Context, s logical.Storage, name, pendingKeyPEM string) error {
	if pendingKeyPEM == "" {
		return nil
	}
	unlock := b.connLocks.Lock(name)
	defer unlock()

	c, err := getConnection(ctx, s, name)
	if err != nil {
		return err
	}
	if c == nil || c.PendingKey != pendingKeyPEM {
		return nil
	}
	_, err = b.promoteLocked(ctx, s, c)
	return err
}

// promoteLocked writes c with its pending key made current; the caller holds
// the connection's lock.
func (b *backend) promoteLocked(ctx context.Context, s logical.Storage, c *connection) (string, error) {
	fp, err := pemKeyFingerprint(c.PendingKey)
	if err != nil {
		return "", fmt.Errorf("pending key of connection %q: %w", c.Name, err)
	}
	c.promotePending()
	if err := putConnection(ctx, s, c); err != nil {
		return "", err
	}
	// Reads must see the promoted key; the client itself holds no key.
	b.cache.drop()
	b.Logger().Info("promoted the pending key", "connection", c.Name, "private_key_fingerprint", fp)
	return fp, nil
}

const pathConfigCertificateHelpSyn = `Read the certificates of the keys Vault generated for a connection.`

const pathConfigCertificateHelpDesc = `
Answers the certificate of the current key (when Vault generated it) and of the
pending key prepared by rotate-key, each with its key fingerprint and expiry,
to upload to the Connected App ("Use digital signatures"). If the engine is
mounted at salesforce/:

    vault read -field=certificate salesforce/config/prod/certificate > prod.crt

A key supplied with private_key has no certificate here: use the one made with it.
`

const pathConfigRotateKeyHelpSyn = `Prepare a new key pair for a connection without interrupting grants.`

const pathConfigRotateKeyHelpDesc = `
Generates a pending RSA key pair and answers its certificate. Upload the
certificate to the Connected App. Grants keep signing with the current key;
when Salesforce refuses it, the engine tries the pending key and, once
Salesforce accepts it, makes it current. To switch at once instead, write to
promote-key. If the engine is mounted at salesforce/:

    vault write -field=pending_certificate salesforce/config/prod/rotate-key key_bits=4096 > new.crt
    vault write -f salesforce/config/prod/promote-key

key_bits, certificate_common_name and certificate_validity default to the
connection's settings and apply to this rotation only. A second rotate-key
replaces the pending key.
`

const pathConfigPromoteKeyHelpSyn = `Make a connection's pending key its current key now.`

const pathConfigPromoteKeyHelpDesc = `
Promotes the key prepared by rotate-key: grants sign with it from now on. Use it
once the new certificate is on the Connected App. If the engine is mounted at
salesforce/:

    vault write -f salesforce/config/prod/promote-key
`
