package salesforce

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	cfgClientID = "3MVG9configTestConsumerKey"
	cfgSecret   = "config-test-consumer-secret-5f2a9c"
)

// newConfigTestBackend is a backend on in-memory storage, for config tests
// that need no Salesforce.
func newConfigTestBackend(t testing.TB) (*backend, logical.Storage) {
	t.Helper()
	storage := &logical.InmemStorage{}
	b, err := Factory(context.Background(), &logical.BackendConfig{
		System:      logical.TestSystemView(),
		StorageView: storage,
		Logger:      hclog.NewNullLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*backend), storage
}

func cfgDo(t testing.TB, b *backend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	t.Helper()
	return b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: s})
}

// cfgOK fails unless the request succeeded.
func cfgOK(t testing.TB, b *backend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	t.Helper()
	resp, err := cfgDo(t, b, s, op, path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		t.Fatalf("%s %s: err=%v resp=%v", op, path, err, respError(resp))
	}
	return resp
}

// cfgRefused fails unless the request got a 400 whose message has every want.
func cfgRefused(t testing.TB, b *backend, s logical.Storage, op logical.Operation, path string, data map[string]interface{}, wants ...string) string {
	t.Helper()
	resp, err := cfgDo(t, b, s, op, path, data)
	if err != nil {
		t.Fatalf("%s %s: Go error (a 500) instead of a 400: %v", op, path, err)
	}
	if resp == nil || !resp.IsError() {
		t.Fatalf("%s %s: accepted, want a 400 saying %q", op, path, wants)
	}
	msg := respError(resp)
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("%s %s: error %q does not say %q", op, path, msg, w)
		}
	}
	return msg
}

func respError(resp *logical.Response) string {
	if resp == nil || resp.Data == nil {
		return ""
	}
	s, _ := resp.Data["error"].(string)
	return s
}

func storedConnection(t testing.TB, s logical.Storage, name string) *connection {
	t.Helper()
	c, err := getConnection(context.Background(), s, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func respJSON(t testing.TB, resp *logical.Response) string {
	t.Helper()
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestConfigWriteAcceptsRSAKeyForms(t *testing.T) {
	k := testKeyForms(t)
	for name, keyPEM := range map[string]string{"pkcs1": k.pkcs1, "pkcs8": k.pkcs8} {
		t.Run(name, func(t *testing.T) {
			b, s := newConfigTestBackend(t)
			cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
				"client_id": cfgClientID, "private_key": keyPEM,
			})
			c := storedConnection(t, s, "main")
			key, err := parseRSAPrivateKey(c.PrivateKey)
			if err != nil || !key.Equal(k.key) {
				t.Fatalf("stored key: %v", err)
			}
			if c.LoginURL != defaultLoginURL || c.Certificate != "" || c.KeyGenerated {
				t.Errorf("stored %+v", c)
			}
		})
	}
}

func TestConfigWriteRefusesBadKeysAndWritesNothing(t *testing.T) {
	for _, tc := range badKeyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b, s := newConfigTestBackend(t)
			msg := cfgRefused(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
				"client_id": cfgClientID, "private_key": tc.pem,
			}, tc.want, "'private_key'")
			if strings.Contains(msg, "MII") {
				t.Errorf("error may echo key material: %q", msg)
			}
			if c := storedConnection(t, s, "main"); c != nil {
				t.Fatalf("a refused write stored %+v", c)
			}
		})
	}
}

func TestConfigReadNeverShowsSecrets(t *testing.T) {
	k := testKeyForms(t)
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
		"client_id": cfgClientID, "private_key": k.pkcs1, "client_secret": cfgSecret + "\n",
	})
	resp := cfgOK(t, b, s, logical.ReadOperation, "config/main", nil)
	body := respJSON(t, resp)
	stored := storedConnection(t, s, "main")
	for _, secret := range []string{pemBody(t, k.pkcs1), pemBody(t, k.pkcs8), pemBody(t, stored.PrivateKey), cfgSecret} {
		if strings.Contains(body, secret) {
			t.Fatalf("read shows a secret: %s", body)
		}
	}
	if stored.ClientSecret != cfgSecret {
		t.Errorf("secret stored as %q, want it trimmed", stored.ClientSecret)
	}
	want := map[string]interface{}{
		"login_url": defaultLoginURL, "audience": defaultLoginURL, "client_id": cfgClientID,
		"private_key_set": true, "client_secret_set": true, "key_generated": false,
		"pending_key_set": false, "allow_non_salesforce_host": false, "key_bits": 2048,
		"certificate_common_name": "main", "reuse_interval": int64(60), "certificate_validity": int64(17520 * 3600),
	}
	for k, v := range want {
		if resp.Data[k] != v {
			t.Errorf("%s = %#v, want %#v", k, resp.Data[k], v)
		}
	}
	fp, _ := pemKeyFingerprint(k.pkcs8)
	if resp.Data["private_key_fingerprint"] != fp || !strings.HasPrefix(fp, "SHA256:") {
		t.Errorf("fingerprint %v, want %s", resp.Data["private_key_fingerprint"], fp)
	}
	for _, field := range []string{"private_key", "client_secret", "pending_key"} {
		if _, ok := resp.Data[field]; ok {
			t.Errorf("read has %q", field)
		}
	}
}

func TestConfigGenerateKey(t *testing.T) {
	b, s := newConfigTestBackend(t)
	resp := cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
		"client_id": cfgClientID, "generate_key": true, "certificate_common_name": "Vault prod",
		"certificate_validity": "720h",
	})
	certPEM, _ := resp.Data["certificate"].(string)
	if certPEM == "" || len(certPEM) >= maxCertificatePEMLen {
		t.Fatalf("certificate of %d bytes", len(certPEM))
	}
	stored := storedConnection(t, s, "main")
	if strings.Contains(respJSON(t, resp), pemBody(t, stored.PrivateKey)) {
		t.Fatal("write answered the private key")
	}
	key, err := parseRSAPrivateKey(stored.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustParseCert(t, certPEM)
	assertCertMatchesKey(t, cert, key)
	if cert.Subject.CommonName != "Vault prod" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	fp, _ := keyFingerprint(&key.PublicKey)
	if resp.Data["private_key_fingerprint"] != fp {
		t.Errorf("fingerprint %v, want %s", resp.Data["private_key_fingerprint"], fp)
	}
	read := cfgOK(t, b, s, logical.ReadOperation, "config/main", nil)
	if read.Data["certificate"] != certPEM || read.Data["key_generated"] != true || read.Data["certificate_expires_at"] == nil {
		t.Errorf("read: %v", read.Data)
	}
	if strings.Contains(respJSON(t, read), pemBody(t, stored.PrivateKey)) {
		t.Fatal("read shows the private key")
	}
}

func TestConfigWriteValidation(t *testing.T) {
	k := testKeyForms(t)
	cases := []struct {
		name  string
		path  string
		data  map[string]interface{}
		wants []string
	}{
		{"client_id missing", "config/main", map[string]interface{}{"private_key": k.pkcs8}, []string{"'client_id' is required"}},
		{"client_id blank", "config/main", map[string]interface{}{"client_id": "  "}, []string{"'client_id'"}},
		{"client_id too long", "config/main", map[string]interface{}{"client_id": strings.Repeat("a", maxClientIDLen+1)}, []string{"client_id", "at most"}},
		{"client_id inner space", "config/main", map[string]interface{}{"client_id": "a b"}, []string{"'client_id'", "spaces"}},
		{"key and generate", "config/main", map[string]interface{}{"client_id": cfgClientID, "private_key": k.pkcs8, "generate_key": true}, []string{"'private_key' and 'generate_key=true'"}},
		{"unknown field", "config/main", map[string]interface{}{"client_id": cfgClientID, "max-ttl": "1h"}, []string{`"max-ttl"`}},
		{"bad name", "config/.hidden", map[string]interface{}{"client_id": cfgClientID}, []string{"name"}},
		{"key_bits", "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": true, "key_bits": 1024}, []string{"'key_bits'"}},
		{"validity short", "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": true, "certificate_validity": "1h"}, []string{"'certificate_validity'"}},
		{"validity long", "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": true, "certificate_validity": "90000h"}, []string{"'certificate_validity'"}},
		{"cn too long", "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": true, "certificate_common_name": strings.Repeat("c", 65)}, []string{"'certificate_common_name'"}},
		{"key options without generate", "config/main", map[string]interface{}{"client_id": cfgClientID, "key_bits": 4096}, []string{"generate_key=true", "rotate-key"}},
		{"reuse too long", "config/main", map[string]interface{}{"client_id": cfgClientID, "reuse_interval": "2h"}, []string{"'reuse_interval'"}},
		{"reuse negative", "config/main", map[string]interface{}{"client_id": cfgClientID, "reuse_interval": -5}, []string{"reuse_interval"}},
		{"reuse huge", "config/main", map[string]interface{}{"client_id": cfgClientID, "reuse_interval": "9223372036854775807"}, []string{"reuse_interval"}},
		{"ca_cert garbage", "config/main", map[string]interface{}{"client_id": cfgClientID, "ca_cert": "nope"}, []string{"'ca_cert'"}},
		{"ca_cert key", "config/main", map[string]interface{}{"client_id": cfgClientID, "ca_cert": k.pkcs8}, []string{"'ca_cert'", "PRIVATE KEY"}},
		{"secret too long", "config/main", map[string]interface{}{"client_id": cfgClientID, "client_secret": strings.Repeat("s", maxSecretLen+1)}, []string{"client_secret"}},
		{"secret inner newline", "config/main", map[string]interface{}{"client_id": cfgClientID, "client_secret": "ab\ncd"}, []string{"'client_secret'"}},
		{"login_url evil", "config/main", map[string]interface{}{"client_id": cfgClientID, "login_url": "https://evil.com"}, []string{"login_url", "not a Salesforce domain"}},
		{"audience evil", "config/main", map[string]interface{}{"client_id": cfgClientID, "audience": "https://evil.com"}, []string{"audience", "not a Salesforce domain"}},
		{"bool type", "config/main", map[string]interface{}{"client_id": cfgClientID, "generate_key": "maybe"}, []string{"generate_key"}},
		{"pem too long", "config/main", map[string]interface{}{"client_id": cfgClientID, "private_key": strings.Repeat("A", maxPEMLen+1)}, []string{"private_key", "at most"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, s := newConfigTestBackend(t)
			cfgRefused(t, b, s, logical.CreateOperation, tc.path, tc.data, tc.wants...)
			keys, err := s.List(context.Background(), "")
			if err != nil || len(keys) != 0 {
				t.Fatalf("a refused write left %v (%v)", keys, err)
			}
		})
	}
}

func TestConfigUpdateChangesOnlyWhatItNames(t *testing.T) {
	k := testKeyForms(t)
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
		"client_id": cfgClientID, "private_key": k.pkcs8,
		"login_url": "https://acme.my.salesforce.com/", "reuse_interval": "5m",
	})
	before := storedConnection(t, s, "main")
	if before.LoginURL != "https://acme.my.salesforce.com" {
		t.Fatalf("login_url stored as %q, want the trailing slash gone", before.LoginURL)
	}
	cfgOK(t, b, s, logical.UpdateOperation, "config/main", map[string]interface{}{"client_secret": cfgSecret})
	after := storedConnection(t, s, "main")
	if after.PrivateKey != before.PrivateKey || after.LoginURL != before.LoginURL ||
		after.ClientID != cfgClientID || after.ReuseInterval.Minutes() != 5 || after.ClientSecret != cfgSecret {
		t.Fatalf("update changed more than client_secret: %+v", after)
	}
	cfgOK(t, b, s, logical.UpdateOperation, "config/main", map[string]interface{}{"reuse_interval": 0})
	if c := storedConnection(t, s, "main"); c.reuseInterval() != 0 {
		t.Fatalf("reuse_interval=0 gives %s", c.reuseInterval())
	}
	// An empty secret removes it; removing needs no proof of holding it.
	cfgOK(t, b, s, logical.UpdateOperation, "config/main", map[string]interface{}{"client_secret": ""})
	if c := storedConnection(t, s, "main"); c.ClientSecret != "" || c.PrivateKey == "" {
		t.Fatalf("after removing the secret: %+v", c)
	}
}

// TestConfigRedirectNeedsCredentials is the anti-exfiltration rule: only a
// caller who supplies the stored credentials may point them somewhere else.
func TestConfigRedirectNeedsCredentials(t *testing.T) {
	k := testKeyForms(t)
	other := testKeyForms(t).pkcs1
	cases := []struct {
		name   string
		stored map[string]interface{}
		update map[string]interface{}
		wants  []string // empty: accepted
	}{
		{"login_url without key", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"login_url": "https://test.salesforce.com"}, []string{"'login_url'", "'private_key' (or 'generate_key=true')"}},
		{"audience without secret", map[string]interface{}{"client_secret": cfgSecret},
			map[string]interface{}{"audience": "https://acme.my.salesforce.com"}, []string{"'audience'", "'client_secret'"}},
		{"ca_cert without key", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"ca_cert": k.certificate}, []string{"'ca_cert'"}},
		{"flag on without key", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"allow_non_salesforce_host": true}, []string{"'allow_non_salesforce_host'"}},
		{"both held, key only", map[string]interface{}{"private_key": k.pkcs8, "client_secret": cfgSecret},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "private_key": other}, []string{"'client_secret'"}},
		{"both held, generate only", map[string]interface{}{"private_key": k.pkcs8, "client_secret": cfgSecret},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "generate_key": true}, []string{"'client_secret'"}},
		{"login_url with key", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "private_key": other}, nil},
		{"login_url with generate", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "generate_key": true}, nil},
		{"login_url with both", map[string]interface{}{"private_key": k.pkcs8, "client_secret": cfgSecret},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "private_key": other, "client_secret": "new-secret"}, nil},
		{"login_url removing the secret", map[string]interface{}{"client_secret": cfgSecret},
			map[string]interface{}{"login_url": "https://test.salesforce.com", "client_secret": ""}, nil},
		{"same login_url", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"login_url": defaultLoginURL + "/"}, nil},
		{"no credentials held", map[string]interface{}{},
			map[string]interface{}{"login_url": "https://test.salesforce.com"}, nil},
		{"client_id change is free", map[string]interface{}{"private_key": k.pkcs8},
			map[string]interface{}{"client_id": "3MVG9other"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, s := newConfigTestBackend(t)
			create := map[string]interface{}{"client_id": cfgClientID}
			for k, v := range tc.stored {
				create[k] = v
			}
			cfgOK(t, b, s, logical.CreateOperation, "config/main", create)
			before := storedConnection(t, s, "main")
			if len(tc.wants) == 0 {
				cfgOK(t, b, s, logical.UpdateOperation, "config/main", tc.update)
				return
			}
			cfgRefused(t, b, s, logical.UpdateOperation, "config/main", tc.update, append(tc.wants, "same request")...)
			if after := storedConnection(t, s, "main"); *after != *before {
				t.Fatalf("a refused update changed the connection: %+v", after)
			}
		})
	}
}

func TestConfigFlagOffRechecksStoredURL(t *testing.T) {
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{
		"client_id": cfgClientID, "login_url": "https://127.0.0.1:8443", "allow_non_salesforce_host": true,
	})
	cfgRefused(t, b, s, logical.UpdateOperation, "config/main", map[string]interface{}{"allow_non_salesforce_host": false},
		"stored value", "'login_url'")
}

func TestConfigListAndDelete(t *testing.T) {
	b, s := newConfigTestBackend(t)
	for _, name := range []string{"main", "sandbox"} {
		cfgOK(t, b, s, logical.CreateOperation, "config/"+name, map[string]interface{}{"client_id": cfgClientID})
	}
	list := cfgOK(t, b, s, logical.ListOperation, "config/", nil)
	if keys, _ := list.Data["keys"].([]string); strings.Join(keys, ",") != "main,sandbox" {
		t.Fatalf("list: %v", list.Data)
	}
	cfgOK(t, b, s, logical.DeleteOperation, "config/sandbox", nil)
	if resp, err := cfgDo(t, b, s, logical.ReadOperation, "config/sandbox", nil); resp != nil || err != nil {
		t.Fatalf("read after delete: %v %v", resp, err)
	}
}

func TestConfigDeleteRefusedWhileRolesUseIt(t *testing.T) {
	b, s := newConfigTestBackend(t)
	cfgOK(t, b, s, logical.CreateOperation, "config/main", map[string]interface{}{"client_id": cfgClientID})
	// How the engine stores a role.
	for _, name := range []string{"app", "batch"} {
		if err := s.Put(context.Background(), &logical.StorageEntry{Key: "roles/" + name, Value: []byte(`{"connection":"main"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	cfgRefused(t, b, s, logical.DeleteOperation, "config/main", nil, `"app"`, `"batch"`, "delete those roles")
	if storedConnection(t, s, "main") == nil {
		t.Fatal("refused delete removed the connection")
	}
}
