package salesforce

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzValidateLoginURL: an accepted URL is scheme and host only, on a
// Salesforce domain over https unless the flag is set, and normalising is
// idempotent; a refusal never echoes userinfo.
func FuzzValidateLoginURL(f *testing.F) {
	for _, seed := range []string{
		"https://login.salesforce.com", "https://acme.my.salesforce.com/", "https://test.salesforce.com:443",
		"http://127.0.0.1:8080", "https://evil.com", "https://u:p@login.salesforce.com", "https://[::1]:8443",
		"https://login.salesforce.com?x#y", "https://login.salesforce.com/path", "https://a%2fb.salesforce.com",
		"https://login.salesforce.com.", "HTTPS://LOGIN.SALESFORCE.COM", "https://xn--80ak6aa92e.salesforce.com",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allow bool) {
		got, err := validateEndpointURL("login_url", raw, allow)
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(err.Error(), p) {
					t.Fatalf("error echoes the password: %q", err)
				}
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil {
			t.Fatalf("accepted %q as unparsable %q", raw, got)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" || u.Opaque != "" {
			t.Fatalf("accepted %q as %q with more than scheme and host", raw, got)
		}
		host := strings.ToLower(u.Hostname())
		switch {
		case u.Scheme == "http" && (!allow || !isLoopbackHost(host)):
			t.Fatalf("accepted plain http %q (allow=%v)", got, allow)
		case u.Scheme != "http" && u.Scheme != "https":
			t.Fatalf("accepted scheme of %q", got)
		case !allow && (!isSalesforceHost(host) || u.Port() != ""):
			t.Fatalf("accepted %q without the flag", got)
		}
		again, err := validateEndpointURL("login_url", got, allow)
		if err != nil || again != got {
			t.Fatalf("normal form %q of %q is not stable: %q, %v", got, raw, again, err)
		}
	})
}

func isLoopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}
