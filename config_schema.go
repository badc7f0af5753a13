package salesforce

import (
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
)

// The schema of the config/ paths: their fields, with defaults and limits,
// and what their answers hold.

func configFields() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{
		"name": nameField("connection"),
		"login_url": {
			Type: framework.TypeString,
			Description: "Authorization server base URL: https://login.salesforce.com (production), https://test.salesforce.com " +
				"(sandbox) or the org's My Domain URL (which client_credentials requires). Scheme and host only, at most 2048 " +
				"characters; https on a Salesforce domain unless allow_non_salesforce_host is set. An empty value restores the " +
				"default. Default: " + defaultLoginURL + ".",
			Default: defaultLoginURL,
		},
		"client_id": {
			Type: framework.TypeString,
			Description: "Consumer key of the External Client App or Connected App, at most 256 characters, no spaces. " +
				"Required when creating.",
		},
		"private_key": {
			Type: framework.TypeString,
			Description: "RSA private key for the JWT bearer flow: PEM, PKCS#1 or PKCS#8, unencrypted, 2048 to 8192 bits. " +
				"Write-only; an empty value removes it. Default: none (or generate_key=true).",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true, EditType: "file"},
		},
		"client_secret": {
			Type: framework.TypeString,
			Description: "Consumer secret for the client credentials flow, at most 1024 characters. Write-only; an empty " +
				"value removes it. Default: none.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"audience": {
			Type: framework.TypeString,
			Description: "JWT 'aud' claim, sent alone when set; same rules as login_url. Default: unset, and then grants send " +
				"login_url first and, only if Salesforce answers 'audience is invalid', https://test.salesforce.com for a " +
				"sandbox host (test.salesforce.com, *.sandbox.my.salesforce.com) or https://login.salesforce.com for any " +
				"other; the audience Salesforce accepted is kept (read it as accepted_audience) and sent first from then on. " +
				"An empty value restores the default.",
		},
		"ca_cert": {
			Type: framework.TypeString,
			Description: "PEM bundle of CA certificates trusted for TLS to login_url instead of the system roots, at most " +
				"64 KiB. An empty value removes it. Default: none (the system roots).",
			DisplayAttrs: &framework.DisplayAttributes{EditType: "file"},
		},
		"allow_non_salesforce_host": {
			Type: framework.TypeBool,
			Description: "Allow login_url and audience outside Salesforce's domains, on any port, and plain http to " +
				"loopback: for private gateways and the emulator. Default: false.",
			Default: false,
		},
		"generate_key": {
			Type: framework.TypeBool,
			Description: "Generate the RSA key pair inside Vault (see key_bits, certificate_common_name, " +
				"certificate_validity) and answer with the certificate to upload to the app; the private key never leaves " +
				"Vault. Cannot be combined with private_key. Default: false.",
			Default: false,
		},
		"redirect_uri": {
			Type: framework.TypeString,
			Description: "Callback URL registered on the app for user authorizations (the web server flow): " +
				"Vault's own https://<vault>/v1/<mount>/callback, or another registered URL (https, or http on localhost) " +
				"whose landing URL the person pastes into authorizations/<name>/complete. Default: none. An empty value removes it.",
		},
		"reuse_interval": {
			Type: framework.TypeDurationSecond,
			Description: "How long a granted token is handed to new leases without asking Salesforce again, 0 to 1h " +
				"(0 asks every time). Default: 60s.",
			Default: int(defaultReuseInterval.Seconds()),
		},
	}
	for k, v := range keyOptionFields() {
		fields[k] = v
	}
	return fields
}

// nameField is the name segment of a path; what names may be is in
// validateName.
func nameField(of string) *framework.FieldSchema {
	return &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "Name of the " + of + ": 1 to 128 letters, digits, '_', '-' and '.', starting with a letter or " +
			"digit. Required (part of the path).",
		Required: true,
	}
}

// keyOptionFields are shared by config/<name> (with generate_key) and
// config/<name>/rotate-key.
func keyOptionFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"key_bits": {
			Type:        framework.TypeInt,
			Description: "Size of a generated RSA key: 2048, 3072 or 4096 bits. Default: 2048.",
			Default:     defaultKeyBits,
		},
		"certificate_common_name": {
			Type: framework.TypeString,
			Description: "Subject common name of a generated certificate, at most 64 characters; an empty value " +
				"restores the default. Default: the connection name.",
		},
		"certificate_validity": {
			Type:        framework.TypeDurationSecond,
			Description: "Validity of a generated certificate, 24h to 87600h (10 years). Default: 17520h (2 years).",
			Default:     int(defaultCertificateValidity.Seconds()),
		},
	}
}

func configWriteResponses() map[int][]framework.Response {
	return map[int][]framework.Response{
		http.StatusOK: {{
			Description: "With generate_key=true: the certificate to upload to the Connected App.",
			Fields:      generatedKeyResponseFields(""),
		}},
		http.StatusNoContent: {{Description: "Written."}},
	}
}

// generatedKeyResponseFields describes a certificate answer; prefix is ""
// for the current key and "pending_" for a rotation.
func generatedKeyResponseFields(prefix string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		prefix + "certificate": {Type: framework.TypeString,
			Description: "Self-signed X.509 certificate (PEM) to upload to the Connected App."},
		prefix + keyFingerprintField(prefix): {Type: framework.TypeString,
			Description: "SHA256:<unpadded base64 of SHA-256 over the public key's PKIX DER>."},
		prefix + "certificate_expires_at": {Type: framework.TypeTime,
			Description: "When the certificate expires (RFC 3339)."},
	}
}

func keyFingerprintField(prefix string) string {
	if prefix == "" {
		return "private_key_fingerprint"
	}
	return "key_fingerprint"
}

func configReadResponseFields() map[string]*framework.FieldSchema {
	s := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
	}
	bl := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeBool, Description: desc}
	}
	n := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeInt64, Description: desc}
	}
	return map[string]*framework.FieldSchema{
		"login_url":                 s("Authorization server base URL."),
		"client_id":                 s("Consumer key."),
		"audience":                  s("The explicit JWT audience, or else the login URL, which grants send first."),
		"accepted_audience":         s("The audience Salesforce accepted for this login_url and client_id, sent first by later grants; empty until a JWT grant succeeds, and when 'audience' is set."),
		"ca_cert":                   s("Trusted CA bundle, if set."),
		"allow_non_salesforce_host": bl("Whether non-Salesforce hosts are allowed."),
		"private_key_set":           bl("Whether a private key is stored."),
		"private_key_fingerprint":   s("SHA256:<unpadded base64 of SHA-256 over the public key's PKIX DER>."),
		"key_generated":             bl("Whether Vault generated the current key."),
		"key_bits":                  n("Size of the current key, when one is set."),
		"certificate":               s("Certificate of a generated key (PEM)."),
		"certificate_expires_at":    s("Expiry of that certificate (RFC 3339)."),
		"certificate_common_name":   s("Common name for generated certificates."),
		"certificate_validity":      n("Validity of generated certificates, in seconds."),
		"pending_key_set":           bl("Whether rotate-key prepared a pending key."),
		"pending_key_fingerprint":   s("Fingerprint of the pending key."),
		"pending_certificate":       s("Certificate of the pending key (PEM)."),
		"client_secret_set":         bl("Whether a consumer secret is stored."),
		"reuse_interval":            n("Seconds a granted token is reused for new leases."),
		"redirect_uri":              s("Callback URL of the web server flow (user authorizations)."),
	}
}
