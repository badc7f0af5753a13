package salesforce

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// The config-write pipeline: what a write asks for, validated against the
// stored connection into what to store. Nothing here writes.

// configInput is a config write's fields; nil means "not in the request",
// so that an update changes only what it names.
type configInput struct {
	LoginURL, ClientID, PrivateKey, ClientSecret, Audience, CACert, CommonName, RedirectURI *string
	AllowNonSalesforceHost, GenerateKey                                                     *bool
	CertificateValidity, ReuseInterval                                                      *time.Duration
	KeyBits                                                                                 *int

	fields []string // names present, for the log
}

// configPlan is a validated write: the connection to store and whether a
// key pair must be generated for it first.
type configPlan struct {
	conn     *connection
	generate *keyOptions
	warnings []string
}

func (in *configInput) present() []string { return in.fields }

func (in *configInput) generating() bool {
	return in.GenerateKey != nil && *in.GenerateKey
}

// apply validates the input against the stored connection (nil: create) and
// returns what to store. Nothing is written here; every error is the
// caller's to fix.
func (in *configInput) apply(old *connection, name string) (*configPlan, error) {
	c := &connection{Name: name, LoginURL: defaultLoginURL,
		ReuseInterval: defaultReuseInterval, ReuseIntervalSet: true}
	if old != nil {
		cp := *old
		c = &cp
	}
	plan := &configPlan{conn: c}
	steps := []func(*configPlan) error{
		func(*configPlan) error { return in.applyClientID(c, old == nil) },
		func(*configPlan) error { return in.applyEndpoints(c) },
		in.applyCredentials,
		in.applyKeyOptions,
		func(*configPlan) error { return in.applyReuseInterval(c) },
		func(*configPlan) error { return in.applyRedirectURI(c) },
	}
	for _, step := range steps {
		if err := step(plan); err != nil {
			return nil, err
		}
	}
	if old != nil {
		if err := in.checkRedirect(old, c); err != nil {
			return nil, err
		}
	}
	if !c.holdsCredentials() && plan.generate == nil {
		plan.warnings = append(plan.warnings, fmt.Sprintf("connection %q holds neither a private key nor "+
			"a client secret: creds will fail until 'private_key', 'generate_key=true' or 'client_secret' is set", name))
	}
	return plan, nil
}

func (in *configInput) applyClientID(c *connection, creating bool) error {
	if in.ClientID == nil {
		if creating {
			return errors.New("'client_id' is required: the Connected App's consumer key")
		}
		return nil
	}
	if err := checkLen("client_id", *in.ClientID, maxClientIDLen); err != nil {
		return err
	}
	v := strings.TrimSpace(*in.ClientID)
	if v == "" {
		return errors.New("'client_id' must not be empty: it is the Connected App's consumer key")
	}
	if hasSpaceOrControl(v) {
		return errors.New("'client_id' must not contain spaces or control characters")
	}
	c.ClientID = v
	return nil
}

// applyEndpoints sets and checks login_url, audience, ca_cert and the host
// flag together: the flag decides what the URLs may be, so a stored URL is
// checked again when only the flag changes.
func (in *configInput) applyEndpoints(c *connection) error {
	if in.AllowNonSalesforceHost != nil {
		c.AllowNonSalesforceHost = *in.AllowNonSalesforceHost
	}
	if in.LoginURL != nil {
		c.LoginURL = *in.LoginURL
		if c.LoginURL == "" {
			c.LoginURL = defaultLoginURL
		}
	}
	u, err := validateEndpointURL("login_url", c.LoginURL, c.AllowNonSalesforceHost)
	if err != nil {
		if in.LoginURL == nil {
			return fmt.Errorf("the stored value fails: %w; supply a new 'login_url' as well", err)
		}
		return err
	}
	c.LoginURL = u
	if in.Audience != nil {
		c.Audience = *in.Audience
	}
	if c.Audience != "" {
		if c.Audience, err = validateEndpointURL("audience", c.Audience, c.AllowNonSalesforceHost); err != nil {
			return err
		}
	}
	return in.applyCACert(c)
}

func (in *configInput) applyCACert(c *connection) error {
	if in.CACert == nil {
		return nil
	}
	if strings.TrimSpace(*in.CACert) == "" {
		c.CACert = ""
		return nil
	}
	if err := checkLen("ca_cert", *in.CACert, maxPEMLen); err != nil {
		return err
	}
	bundle, err := parseCABundle(*in.CACert)
	if err != nil {
		return err
	}
	c.CACert = bundle
	return nil
}

func (in *configInput) applyCredentials(plan *configPlan) error {
	c := plan.conn
	if in.generating() && in.PrivateKey != nil {
		return errors.New("'private_key' and 'generate_key=true' cannot be used together: " +
			"either supply your own key or let Vault generate one")
	}
	if in.PrivateKey != nil {
		if err := in.applyPrivateKey(plan); err != nil {
			return err
		}
	}
	if in.ClientSecret != nil {
		if err := checkLen("client_secret", *in.ClientSecret, maxSecretLen); err != nil {
			return err
		}
		// Trimmed because `client_secret=@file` keeps the file's newline;
		// a consumer secret never starts or ends with white space.
		v := strings.TrimSpace(*in.ClientSecret)
		if hasSpaceOrControl(v) {
			return errors.New("'client_secret' must not contain spaces or control characters; paste the consumer secret exactly")
		}
		c.ClientSecret = v
	}
	return nil
}

func (in *configInput) applyPrivateKey(plan *configPlan) error {
	c := plan.conn
	if err := checkLen("private_key", *in.PrivateKey, maxPEMLen); err != nil {
		return err
	}
	keyPEM := ""
	if strings.TrimSpace(*in.PrivateKey) != "" {
		key, err := parseRSAPrivateKey(*in.PrivateKey)
		if err != nil {
			return err
		}
		if keyPEM, err = encodePrivateKey(key); err != nil {
			return err
		}
	}
	plan.warnPendingDiscarded()
	c.PrivateKey = keyPEM
	// The admin holds the certificate of a key they supply; a stored one
	// would describe the replaced key.
	c.Certificate = ""
	c.KeyGenerated = false
	c.clearPendingKey()
	return nil
}

func (plan *configPlan) warnPendingDiscarded() {
	if plan.conn.PendingKey != "" {
		plan.warnings = append(plan.warnings, "the pending key from rotate-key was discarded: it was "+
			"the successor of the key now replaced; run rotate-key again if needed")
	}
}

func (in *configInput) applyKeyOptions(plan *configPlan) error {
	c := plan.conn
	optionGiven := in.KeyBits != nil || in.CommonName != nil || in.CertificateValidity != nil
	if !in.generating() {
		if optionGiven {
			return errors.New("'key_bits', 'certificate_common_name' and 'certificate_validity' apply only " +
				"with 'generate_key=true' here; to prepare a new key use config/<name>/rotate-key")
		}
		return nil
	}
	opts := keyOptions{Bits: c.keyBits(), CommonName: c.commonName(), Validity: c.certificateValidity()}
	if in.KeyBits != nil {
		opts.Bits = *in.KeyBits
	}
	if in.CommonName != nil {
		opts.CommonName = *in.CommonName
		if opts.CommonName == "" {
			opts.CommonName = defaultCommonName(c.Name)
		}
	}
	if in.CertificateValidity != nil {
		opts.Validity = *in.CertificateValidity
	}
	if err := opts.validate(); err != nil {
		return err
	}
	if in.KeyBits != nil {
		c.KeyBits = opts.Bits
	}
	if in.CommonName != nil {
		c.CertificateCommonName = *in.CommonName
	}
	if in.CertificateValidity != nil {
		c.CertificateValidity = opts.Validity
	}
	plan.warnPendingDiscarded()
	plan.generate = &opts
	return nil
}

// applyRedirectURI takes the web server flow's callback: https anywhere, or
// plain http on loopback (as the Salesforce CLI's http://localhost:1717/OauthRedirect).
// It is where the person's browser carries the code, which is useless
// without the PKCE verifier that never leaves Vault.
func (in *configInput) applyRedirectURI(c *connection) error {
	if in.RedirectURI == nil {
		return nil
	}
	v := strings.TrimSpace(*in.RedirectURI)
	if v == "" {
		c.RedirectURI = ""
		return nil
	}
	if err := checkLen("redirect_uri", v, maxURLLen); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("'redirect_uri' %q must be an absolute URL without a fragment or user information, e.g. https://vault.example.com/v1/salesforce/callback", v)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("'redirect_uri' %q must be https, or http on localhost: the authorization code travels in it", v)
	}
	c.RedirectURI = v
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (in *configInput) applyReuseInterval(c *connection) error {
	if in.ReuseInterval == nil {
		return nil
	}
	v := *in.ReuseInterval
	if v < 0 || v > maxReuseInterval {
		return fmt.Errorf("'reuse_interval' (%s) must be between 0s and %s", v, maxReuseInterval)
	}
	c.ReuseInterval = v
	c.ReuseIntervalSet = true
	return nil
}

// checkRedirect is the anti-exfiltration rule: whoever points a connection
// that holds credentials at another endpoint (or another trust anchor) must
// supply those credentials in the same request. Otherwise a principal with
// update but no knowledge of the key or secret could have Vault send signed
// assertions or the consumer secret to a host of their choosing.
func (in *configInput) checkRedirect(old, c *connection) error {
	if !old.holdsCredentials() {
		return nil
	}
	changed := endpointChanges(old, c)
	if len(changed) == 0 {
		return nil
	}
	var need []string
	if old.PrivateKey != "" && in.PrivateKey == nil && !in.generating() {
		need = append(need, "'private_key' (or 'generate_key=true')")
	}
	if old.ClientSecret != "" && in.ClientSecret == nil {
		need = append(need, "'client_secret'")
	}
	if len(need) == 0 {
		return nil
	}
	return fmt.Errorf("changing %s on connection %q, which holds stored credentials, requires %s "+
		"in the same request: stored credentials are never sent to a new endpoint on behalf of a caller "+
		"who does not supply them (an empty value removes a credential instead)",
		strings.Join(changed, ", "), old.Name, strings.Join(need, " and "))
}

// endpointChanges names the fields that decide where credentials go.
// Turning allow_non_salesforce_host off only narrows that, so it is free.
func endpointChanges(old, c *connection) []string {
	var changed []string
	if old.LoginURL != c.LoginURL {
		changed = append(changed, "'login_url'")
	}
	if old.Audience != c.Audience {
		changed = append(changed, "'audience'")
	}
	if old.CACert != c.CACert {
		changed = append(changed, "'ca_cert'")
	}
	if !old.AllowNonSalesforceHost && c.AllowNonSalesforceHost {
		changed = append(changed, "'allow_non_salesforce_host'")
	}
	return changed
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}
