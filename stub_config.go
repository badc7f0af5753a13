package salesforce

// STUB: replaced by path_config.go and keys.go (helper D). Delete when they land.

import (
	"context"
	"crypto/rsa"
	"errors"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathConfig(b *backend) []*framework.Path { return nil }

func parseRSAPrivateKey(pemText string) (*rsa.PrivateKey, error) { return nil, errors.New("stub") }

func (b *backend) promotePendingKey(ctx context.Context, s logical.Storage, name, pendingKeyPEM string) error {
	return errors.New("stub")
}
