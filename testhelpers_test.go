package salesforce

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

const (
	emuClientID = "3MVG9testConsumerKey"
	emuSecret   = "test-consumer-secret-0123456789"
	emuUser     = "integration@acme.com"
	emuRunAs    = "runas@acme.com"
)

// testEnv is a configured backend on in-memory storage, talking over TLS to
// the project's Salesforce emulator.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage logical.Storage
	emu     *sfemu.Emulator
	srv     *httptest.Server
	caPEM   string
	keyPEM  string
	clock   *testClock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var emuKeys struct {
	once    sync.Once
	keyPEM  string
	certPEM string
	err     error
}

func sharedTestKeys(t testing.TB) (string, string) {
	emuKeys.once.Do(func() {
		emuKeys.keyPEM, emuKeys.certPEM, emuKeys.err = sfemu.TestKeyPair()
	})
	if emuKeys.err != nil {
		t.Fatal(emuKeys.err)
	}
	return emuKeys.keyPEM, emuKeys.certPEM
}

func newTestEnv(t testing.TB, mutate func(*sfemu.Config)) *testEnv {
	t.Helper()
	keyPEM, certPEM := sharedTestKeys(t)
	cfg := sfemu.Config{
		OrgID: "00D5g000004XyZaEAK",
		Apps: []sfemu.App{{
			ClientID:       emuClientID,
			CertificatePEM: certPEM,
			ClientSecret:   emuSecret,
			RunAs:          emuRunAs,
			Scopes:         "api web refresh_token",
			Users: []sfemu.User{
				{Username: emuUser, UserID: "005000000000001AAA", Approved: true, Active: true},
				{Username: emuRunAs, UserID: "005000000000002AAA", Approved: true, Active: true},
				{Username: "other@acme.com", UserID: "005000000000003AAA", Approved: true, Active: true},
			},
		}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	emu, err := sfemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(emu)
	t.Cleanup(srv.Close)
	t.Cleanup(emu.Close)
	emu.SetBaseURL(srv.URL)

	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.Logger = hclog.NewNullLogger()
	conf.System = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(*backend)
	clock := &testClock{now: time.Now()}
	b.ledger.SetClock(clock.Now)
	t.Cleanup(func() { b.Cleanup(context.Background()) })

	return &testEnv{
		t: t, b: b, storage: conf.StorageView, emu: emu, srv: srv, clock: clock,
		caPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})),
		keyPEM: keyPEM,
	}
}

func (e *testEnv) do(op logical.Operation, path string, data map[string]interface{}) (*logical.Response, error) {
	e.t.Helper()
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: e.storage,
	})
}

// mustOK fails the test unless the request succeeded without an error response.
func (e *testEnv) mustOK(op logical.Operation, path string, data map[string]interface{}) *logical.Response {
	e.t.Helper()
	resp, err := e.do(op, path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		e.t.Fatalf("%s %s: err=%v resp=%#v", op, path, err, resp)
	}
	return resp
}

// connection writes config/main pointing at the emulator with the shared key.
func (e *testEnv) connection(extra map[string]interface{}) {
	e.t.Helper()
	data := map[string]interface{}{
		"login_url":                 e.srv.URL,
		"client_id":                 emuClientID,
		"private_key":               e.keyPEM,
		"client_secret":             emuSecret,
		"ca_cert":                   e.caPEM,
		"allow_non_salesforce_host": true,
	}
	for k, v := range extra {
		data[k] = v
	}
	e.mustOK(logical.UpdateOperation, "config/main", data)
}

func (e *testEnv) role(name string, extra map[string]interface{}) {
	e.t.Helper()
	data := map[string]interface{}{
		"connection": "main",
		"username":   emuUser,
		"scopes":     "api,web,refresh_token",
	}
	for k, v := range extra {
		data[k] = v
	}
	e.mustOK(logical.UpdateOperation, "roles/"+name, data)
}

func (e *testEnv) creds(role string) *logical.Response {
	e.t.Helper()
	resp := e.mustOK(logical.ReadOperation, "creds/"+role, nil)
	if resp.Secret == nil {
		e.t.Fatalf("creds/%s returned no lease", role)
	}
	return resp
}

// roundTrip stores and reloads a secret as Vault does: internal data comes
// back as float64 and []interface{}, not as it was written.
func roundTrip(t testing.TB, s *logical.Secret) *logical.Secret {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out logical.Secret
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	out.IssueTime = time.Now()
	return &out
}

func (e *testEnv) lease(op logical.Operation, resp *logical.Response) (*logical.Response, error) {
	e.t.Helper()
	return e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Storage: e.storage, Secret: roundTrip(e.t, resp.Secret),
	})
}

func (e *testEnv) revokeLease(resp *logical.Response) error {
	e.t.Helper()
	_, err := e.lease(logical.RevokeOperation, resp)
	return err
}

func token(resp *logical.Response) string {
	return resp.Data["access_token"].(string)
}

func (e *testEnv) active(tok string) bool { return e.emu.TokenActive(tok) }

func (e *testEnv) periodic() error {
	return e.b.periodic(context.Background(), &logical.Request{Storage: e.storage})
}

// errText is what a caller would read of a response or error.
func errText(resp *logical.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	if resp != nil && resp.Data != nil {
		if s, ok := resp.Data["error"].(string); ok {
			return s
		}
	}
	return ""
}

func assertContains(t testing.TB, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%q does not contain %q", got, w)
		}
	}
}
