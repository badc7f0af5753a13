package salesforce

// STUB: replaced by the engine files (path_roles.go, path_creds.go,
// path_revoke.go, ledger.go, ...). Delete when they land.

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	ledgerPrefix      = "ledger/"
	ledgerTokenPrefix = "ledger/tokens/"
)

type ledger struct{}

func newLedger(b *backend) *ledger          { return &ledger{} }
func (l *ledger) markStale()                {}
func (l *ledger) forgetConnection(n string) {}

func pathRoles(b *backend) []*framework.Path  { return nil }
func pathCreds(b *backend) []*framework.Path  { return nil }
func pathRevoke(b *backend) []*framework.Path { return nil }
func secretAccessToken(b *backend) *framework.Secret {
	return &framework.Secret{Type: "salesforce_access_token"}
}
func (b *backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	return nil
}
func (b *backend) periodic(ctx context.Context, req *logical.Request) error { return nil }
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data interface{}) error {
	return nil
}

// rolesUsingConnection lists the roles whose connection is name.
func (b *backend) rolesUsingConnection(ctx context.Context, s logical.Storage, name string) ([]string, error) {
	return nil, nil
}
