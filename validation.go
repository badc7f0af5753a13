package salesforce

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Bounds on input. They are far above anything a real org needs and far
// below what would let a caller bloat storage or a Salesforce request.
const (
	maxNameLen     = 128
	maxURLLen      = 2048
	maxClientIDLen = 256
	maxSecretLen   = 1024
	maxPEMLen      = 64 * 1024
	maxUsernameLen = 255 // Salesforce usernames are email-shaped, at most 80 chars today
	maxScopesLen   = 4096
	maxScopeCount  = 64
)

// namePattern is what config and role names may be: they become storage
// keys and URL path segments, so no slashes, dots-only or control characters.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// nameFieldRegex is the framework pattern for a name segment in a path.
const nameFieldRegex = `(?P<name>[^/]+)`

func validateName(field, name string) error {
	if name == "" {
		return fmt.Errorf("%q is required", field)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%q is %d characters long; at most %d are allowed", field, len(name), maxNameLen)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q %q may only contain letters, digits, '_', '-' and '.', and must start with a letter or digit", field, name)
	}
	return nil
}

// unknownFieldsError refuses a request that carries fields the path does not
// define: the framework would otherwise drop them silently, and a typo such as
// "max-ttl" would leave the operator believing a limit is set.
func unknownFieldsError(req *logical.Request, d *framework.FieldData) *logical.Response {
	var unknown []string
	for k := range req.Data {
		if _, ok := d.Schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(d.Schema))
	for k := range d.Schema {
		if k != "name" {
			known = append(known, k)
		}
	}
	sort.Strings(known)
	return logical.ErrorResponse("unknown field(s) %s; this path accepts: %s",
		quoteAll(unknown), strings.Join(known, ", "))
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func checkLen(field, value string, max int) error {
	if len(value) > max {
		return fmt.Errorf("%q is %d bytes long; at most %d are allowed", field, len(value), max)
	}
	return nil
}
