package salesforce

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRotateAndPromoteKey(t *testing.T) {
	b, s := newConfigTestBackend(t)
	created := cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
		"client_id": cfgClientID, "generate_key": true,
	})
	first := storedConnection(t, s, "main")

	cfgRefused(t, b, s, logical.UpdateOperation, "config/main/promote-key", nil, "no pending key", "rotate-key")

	rotated := cfgOK(t, b, s, logical.UpdateOperation, "config/main/rotate-key", map[string]interface{}{
		"key_bits": 3072, "certificate_common_name": "rotated",
	})
	pending := storedConnection(t, s, "main")
	if pending.PrivateKey != first.PrivateKey || pending.PendingKey == "" {
		t.Fatal("rotate-key must keep the current key and add a pending one")
	}
	pendingCert, _ := rotated.Data["pending_certificate"].(string)
	pendingKey, err := parseRSAPrivateKey(pending.PendingKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustParseCert(t, pendingCert)
	assertCertMatchesKey(t, cert, pendingKey)
	if pendingKey.N.BitLen() != 3072 || cert.Subject.CommonName != "rotated" {
		t.Errorf("pending key: %d bits, CN %q", pendingKey.N.BitLen(), cert.Subject.CommonName)
	}
	if strings.Contains(respJSON(t, rotated), pemBody(t, pending.PendingKey)) {
		t.Fatal("rotate-key answered the private key")
	}

	certs := cfgOK(t, b, s, logical.ReadOperation, "config/main/certificate", nil)
	if certs.Data["certificate"] != created.Data["certificate"] || certs.Data["pending_certificate"] != pendingCert ||
		certs.Data["pending_key_fingerprint"] != rotated.Data["pending_key_fingerprint"] {
		t.Fatalf("certificate read: %v", certs.Data)
	}
	read := cfgOK(t, b, s, logical.ReadOperation, "config/main", nil)
	if read.Data["pending_key_set"] != true || read.Data["pending_key_fingerprint"] != rotated.Data["pending_key_fingerprint"] {
		t.Fatalf("read: %v", read.Data)
	}

	promoted := cfgOK(t, b, s, logical.UpdateOperation, "config/main/promote-key", nil)
	after := storedConnection(t, s, "main")
	if after.PrivateKey != pending.PendingKey || after.Certificate != pendingCert || after.PendingKey != "" || !after.KeyGenerated {
		t.Fatalf("after promote: %+v", after)
	}
	if promoted.Data["private_key_fingerprint"] != rotated.Data["pending_key_fingerprint"] {
		t.Fatalf("promote answered %v", promoted.Data)
	}
}

func TestPromotePendingKey(t *testing.T) {
	ctx := context.Background()
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": true})
	cfgOK(t, b, s, logical.UpdateOperation, "config/main/rotate-key", nil)
	seen := storedConnection(t, s, "main") // what a grant read

	// An admin rotates again meanwhile: the key the grant saw is stale.
	cfgOK(t, b, s, logical.UpdateOperation, "config/main/rotate-key", nil)
	if err := b.promotePendingKey(ctx, s, "main", seen.PendingKey); err != nil {
		t.Fatal(err)
	}
	if c := storedConnection(t, s, "main"); c.PrivateKey != seen.PrivateKey || c.PendingKey == seen.PendingKey {
		t.Fatal("a stale pending key was promoted")
	}

	current := storedConnection(t, s, "main")
	if err := b.promotePendingKey(ctx, s, "main", current.PendingKey); err != nil {
		t.Fatal(err)
	}
	if c := storedConnection(t, s, "main"); c.PrivateKey != current.PendingKey || c.PendingKey != "" {
		t.Fatal("the pending key was not promoted")
	}
	// Again, and for a connection that is gone: nothing to do.
	if err := b.promotePendingKey(ctx, s, "main", current.PendingKey); err != nil {
		t.Fatal(err)
	}
	if err := b.promotePendingKey(ctx, s, "gone", current.PendingKey); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPathRefusals(t *testing.T) {
	k := testKeyForms(t)
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/own", map[string]interface{}{"client_id": cfgClientID, "private_key": k.pkcs8})
	cfgOK(t, b, s, logical.CreateOperation, "config/secret", map[string]interface{}{"client_id": cfgClientID, "client_secret": cfgSecret})

	resp, err := cfgDo(t, b, s, logical.ReadOperation, "config/own/certificate", nil)
	if code, ok := err.(logical.HTTPCodedError); resp != nil || !ok || code.Code() != 404 ||
		!strings.Contains(err.Error(), "generate_key=true") {
		t.Fatalf("certificate of a supplied key: %v %v", resp, err)
	}
	if resp, err := cfgDo(t, b, s, logical.ReadOperation, "config/missing/certificate", nil); resp != nil || err != nil {
		t.Fatalf("certificate of a missing connection: %v %v", resp, err)
	}
	cfgRefused(t, b, s, logical.UpdateOperation, "config/secret/rotate-key", nil, "no private key", "generate_key=true")
	cfgRefused(t, b, s, logical.UpdateOperation, "config/missing/rotate-key", nil, "does not exist")
	cfgRefused(t, b, s, logical.UpdateOperation, "config/own/rotate-key", map[string]interface{}{"key_bits": 512}, "'key_bits'")
	cfgRefused(t, b, s, logical.UpdateOperation, "config/own/rotate-key", map[string]interface{}{"bits": 4096}, `"bits"`)
	if c := storedConnection(t, s, "own"); c.PendingKey != "" {
		t.Fatal("a refused rotate-key stored a pending key")
	}

	// A supplied key's rotation still answers a certificate: the pending
	// key is Vault's own.
	cfgOK(t, b, s, logical.UpdateOperation, "config/own/rotate-key", nil)
	certs := cfgOK(t, b, s, logical.ReadOperation, "config/own/certificate", nil)
	if _, ok := certs.Data["certificate"]; ok || certs.Data["pending_certificate"] == nil {
		t.Fatalf("certificate read: %v", certs.Data)
	}

	// Replacing the current key discards the pending one, with a warning.
	resp = cfgOK(t, b, s, logical.UpdateOperation, "config/own", map[string]interface{}{"private_key": k.pkcs1})
	if resp == nil || len(resp.Warnings) == 0 || storedConnection(t, s, "own").PendingKey != "" {
		t.Fatalf("replacing the key: %v", resp)
	}
}
