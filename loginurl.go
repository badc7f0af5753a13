package salesforce

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// salesforceDomains are the registrable domains under which Salesforce
// serves its login hosts, My Domains, sandboxes, Sites and Experience Cloud
// sites, and Government Cloud Plus (salesforce.mil). A host equal to one of
// them or under one of them is Salesforce's; anything else (a private
// gateway, a custom Experience Cloud domain, a test server) needs
// allow_non_salesforce_host. The list stays short on purpose: every entry is
// a place the plugin will send a signed assertion or a consumer secret.
var salesforceDomains = []string{
	"salesforce.com",
	"force.com",
	"site.com",
	"salesforce.mil",
	"cloudforce.com",
	"database.com",
}

const maxHostnameLen = 253 // DNS

// validateEndpointURL checks a login_url or audience and returns it in
// normal form: scheme and host only, no trailing "/", no default port.
//
// Everything here guards where the plugin sends credentials: JWT assertions
// and consumer secrets go to login_url, so a URL that could send them
// elsewhere than it appears to (userinfo, odd hosts) is refused outright.
// Error messages never echo the whole URL: userinfo could hold a password.
func validateEndpointURL(field, raw string, allowNonSalesforce bool) (string, error) {
	if err := checkLen(field, raw, maxURLLen); err != nil {
		return "", err
	}
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("'%s' must not contain spaces or control characters", field)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("'%s' must be an absolute URL such as %s", field, defaultLoginURL)
	}
	if err := checkURLParts(field, raw, u); err != nil {
		return "", err
	}
	host := strings.ToLower(u.Hostname())
	loopback, err := checkHostSyntax(field, host)
	if err != nil {
		return "", err
	}
	defaultPort, err := checkScheme(field, u.Scheme, loopback, allowNonSalesforce)
	if err != nil {
		return "", err
	}
	if err := checkPort(field, u.Port(), defaultPort, allowNonSalesforce); err != nil {
		return "", err
	}
	if !allowNonSalesforce && !isSalesforceHost(host) {
		return "", fmt.Errorf("'%s' host %q is not a Salesforce domain (%s); "+
			"for a private gateway or a test server set allow_non_salesforce_host=true",
			field, host, strings.Join(salesforceDomains, ", "))
	}
	hostPort := u.Host
	if u.Port() == defaultPort {
		hostPort = strings.TrimSuffix(hostPort, ":"+defaultPort)
	}
	return u.Scheme + "://" + hostPort, nil
}

// checkURLParts refuses everything but scheme, host and port.
func checkURLParts(field, raw string, u *url.URL) error {
	switch {
	case u.User != nil:
		return fmt.Errorf("'%s' must not contain user information ('user@' before the host); "+
			"credentials never belong in the URL", field)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("'%s' must not have a query ('?...'); give only scheme and host, e.g. %s", field, defaultLoginURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("'%s' must not have a fragment ('#...'); give only scheme and host, e.g. %s", field, defaultLoginURL)
	case (u.Path != "" && u.Path != "/") || u.RawPath != "":
		return fmt.Errorf("'%s' must not have a path; give only scheme and host, e.g. %s "+
			"(the plugin appends /services/oauth2/...)", field, defaultLoginURL)
	}
	return nil
}

// checkHostSyntax accepts a DNS name made of letters, digits and hyphens,
// or an IP address without zone, and reports whether it is loopback.
func checkHostSyntax(field, host string) (loopback bool, err error) {
	if ip, perr := netip.ParseAddr(host); perr == nil {
		if ip.Zone() != "" {
			return false, fmt.Errorf("'%s' must not use an IPv6 zone", field)
		}
		return ip.IsLoopback(), nil
	}
	if !isDNSName(host) {
		return false, fmt.Errorf("'%s' host must be a DNS name of letters, digits, '-' and '.' (no trailing dot) or an IP address", field)
	}
	return host == "localhost", nil
}

func isDNSName(host string) bool {
	if host == "" || len(host) > maxHostnameLen {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// checkScheme allows https, and plain http only to this machine for tests
// and the emulator: nothing secret crosses a network in clear.
func checkScheme(field, scheme string, loopback, allowNonSalesforce bool) (defaultPort string, err error) {
	switch scheme {
	case "https":
		return "443", nil
	case "http":
		if allowNonSalesforce && loopback {
			return "80", nil
		}
		return "", fmt.Errorf("'%s' must use https; plain http is accepted only for a loopback host "+
			"(127.0.0.1, ::1, localhost) with allow_non_salesforce_host=true", field)
	default:
		return "", fmt.Errorf("'%s' must use https (got scheme %q)", field, scheme)
	}
}

func checkPort(field, port, defaultPort string, allowNonSalesforce bool) error {
	if port == "" || port == defaultPort {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("'%s' has an invalid port; use 1-65535", field)
	}
	if !allowNonSalesforce {
		return fmt.Errorf("'%s' must use the default port; Salesforce serves on %s only "+
			"(set allow_non_salesforce_host=true for a gateway or test server on another port)", field, defaultPort)
	}
	return nil
}

func isSalesforceHost(host string) bool {
	for _, d := range salesforceDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}
