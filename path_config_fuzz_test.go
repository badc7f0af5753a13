package salesforce

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// fuzzConfigFields are the fields FuzzConfigWrite may send, in the order of
// the bits of its presence mask.
var fuzzConfigFields = []string{
	"login_url", "client_id", "private_key", "client_secret", "audience", "ca_cert",
	"allow_non_salesforce_host", "generate_key", "key_bits", "certificate_common_name",
	"certificate_validity", "reuse_interval", "unknown_field",
}

// FuzzConfigWrite drives config writes over a connection that holds a key
// and a secret. Whatever the input: no Go error (a 500), no panic, no
// response that shows a stored or supplied secret, and a refused write
// leaves storage as it was.
func FuzzConfigWrite(f *testing.F) {
	k := testKeyForms(f)
	f.Add("main", uint16(0xffff), "https://test.salesforce.com", "id", k.pkcs8, "s", "", "", true, false, 2048, "cn", "48h", "60s")
	f.Add("main", uint16(0b1000_1000_0001), "https://evil.com", "", "", "", "", "", true, false, 0, "", "", "")
	f.Add("main", uint16(0b0000_1000_1001), "http://127.0.0.1:1", "", "", "", "", "", true, true, 2048, "", "", "")
	f.Add("new", uint16(0b0000_0000_0110), "", "3MVG9", k.pkcs1, "", "", "", false, false, 0, "", "", "")
	f.Add("new", uint16(0b0110_1000_0010), "", "3MVG9", "", "", "", "", false, true, 2048, "x", "24h", "")
	f.Add("main", uint16(0b0000_0010_0000), "", "", "", "", "", k.certificate, false, false, 0, "", "", "")
	f.Add("main", uint16(0b0000_0001_1000), "", "", "", "", "https://acme.my.salesforce.com", "", false, false, 0, "", "", "")
	f.Add("main/rotate-key", uint16(0b1_0000_0000), "", "", "", "", "", "", false, false, 2048, "", "", "")
	f.Add("main", uint16(0b1000_0000_0000), "", "", "", "", "", "", false, false, 0, "", "", "-1")
	f.Fuzz(func(t *testing.T, name string, mask uint16, loginURL, clientID, privateKey, secret, audience, caCert string,
		allow, generate bool, keyBits int, cn, validity, reuse string) {
		if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			name = "main" // not a config path at all: the router's business
		}
		if keyBits != 2048 && generate {
			keyBits = 1024 // keep generation to the fast size; sizes are unit-tested
		}
		// Marked, so that finding it in a response means it was echoed.
		secret = "S3cr3t-" + secret + "-x9Q"
		values := []interface{}{loginURL, clientID, privateKey, secret, audience, caCert,
			allow, generate, keyBits, cn, validity, reuse, "x"}
		data := map[string]interface{}{}
		for i, field := range fuzzConfigFields {
			if mask&(1<<i) != 0 {
				data[field] = values[i]
			}
		}

		b, s := newConfigTestBackend(t)
		cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
			"client_id": cfgClientID, "private_key": k.pkcs8, "client_secret": cfgSecret,
		})
		before := storageSnapshot(t, s)
		resp, err := b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "config/" + name, Data: data, Storage: s,
		})
		if err != nil {
			if err == logical.ErrUnsupportedPath || err == logical.ErrUnsupportedOperation {
				return // a path that is not ours
			}
			t.Fatalf("Go error (a 500): %v", err)
		}
		shown := fmt.Sprint(resp)
		if resp != nil {
			shown = fmt.Sprint(resp.Data, resp.Warnings)
		}
		for _, hidden := range []string{cfgSecret, pemBody(t, k.pkcs8), strings.TrimSpace(secret)} {
			if strings.Contains(shown, hidden) {
				t.Fatalf("response shows a secret: %s", shown)
			}
		}
		if c := storedConnection(t, s, "main"); c != nil {
			for _, key := range []string{c.PrivateKey, c.PendingKey} {
				if key != "" && strings.Contains(shown, pemBody(t, key)) {
					t.Fatalf("response shows a stored key: %s", shown)
				}
			}
		}
		if resp != nil && resp.IsError() && storageSnapshot(t, s) != before {
			t.Fatalf("refused write changed storage: %s", shown)
		}
	})
}

func storageSnapshot(t *testing.T, s logical.Storage) string {
	t.Helper()
	ctx := context.Background()
	keys, err := logical.CollectKeys(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, k := range keys {
		e, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(k + "=")
		out.Write(e.Value)
		out.WriteString("\n")
	}
	return out.String()
}
