package salesforce

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

// hookStorage calls hooks around storage operations, to stop or disturb a
// request at a chosen step.
type hookStorage struct {
	logical.Storage
	afterGet func(ctx context.Context, key string)
	afterPut func(ctx context.Context, key string) error
}

func (h *hookStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := h.Storage.Get(ctx, key)
	if h.afterGet != nil {
		h.afterGet(ctx, key)
	}
	return e, err
}

func (h *hookStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if err := h.Storage.Put(ctx, e); err != nil {
		return err
	}
	if h.afterPut != nil {
		return h.afterPut(ctx, e.Key)
	}
	return nil
}

// readWith is a creds read through the given storage and context.
func (e *testEnv) readWith(ctx context.Context, s logical.Storage, role string) (*logical.Response, error) {
	return e.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "creds/" + role, Storage: s})
}

// org is another emulated Salesforce org, with the same Connected App (a
// sandbox copy has the same consumer key) and users, at its own URL.
type org struct {
	emu   *sfemu.Emulator
	srv   *httptest.Server
	caPEM string
}

func (e *testEnv) otherOrg(orgID string) *org {
	e.t.Helper()
	_, certPEM := sharedTestKeys(e.t)
	cfg := sfemu.Config{OrgID: orgID, Apps: []sfemu.App{{
		ClientID: emuClientID, CertificatePEM: certPEM, ClientSecret: emuSecret, RunAs: emuRunAs,
		Scopes: "api web refresh_token",
		Users: []sfemu.User{
			{Username: emuUser, UserID: "005000000000009AAA", Approved: true, Active: true},
			{Username: emuRunAs, UserID: "005000000000008AAA", Approved: true, Active: true},
		},
	}}}
	emu, err := sfemu.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewTLSServer(emu)
	e.t.Cleanup(srv.Close)
	e.t.Cleanup(emu.Close)
	emu.SetBaseURL(srv.URL)
	return &org{emu: emu, srv: srv,
		caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
}

// switchableTLS serves a handler on loopback over TLS with a certificate
// the test can replace, as when an endpoint's CA re-issues it.
type switchableTLS struct {
	URL  string
	cert atomic.Pointer[tls.Certificate]
}

func serveSwitchableTLS(t testing.TB, h http.Handler) *switchableTLS {
	t.Helper()
	st := &switchableTLS{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(ln, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return st.cert.Load(), nil
	}})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(tl) }()
	t.Cleanup(func() { _ = srv.Close() })
	st.URL = "https://" + ln.Addr().String()
	return st
}

// issue makes a new CA, serves a certificate it signed for 127.0.0.1, and
// returns the CA's PEM.
func (st *switchableTLS) issue(t testing.TB, name string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	st.cert.Store(&tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey})
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
}

// answerLost serves the emulator but, while armed, keeps a token answer
// from the client until the client gives up: Salesforce granted, the
// plugin never heard.
type answerLost struct {
	h     http.Handler
	armed atomic.Bool
	once  sync.Once
	seen  chan struct{}
}

func (a *answerLost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.armed.Load() || !strings.HasSuffix(r.URL.Path, "/services/oauth2/token") {
		a.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	a.once.Do(func() { close(a.seen) })
	<-r.Context().Done()
	panic(http.ErrAbortHandler)
}

// stubSystemView answers lease TTLs until told to fail, as the gRPC system
// view does when a call to Vault fails: with zeros.
type stubSystemView struct {
	logical.StaticSystemView
	failing atomic.Bool
}

func (s *stubSystemView) DefaultLeaseTTL() time.Duration {
	if s.failing.Load() {
		return 0
	}
	return s.StaticSystemView.DefaultLeaseTTL()
}

func (s *stubSystemView) MaxLeaseTTL() time.Duration {
	if s.failing.Load() {
		return 0
	}
	return s.StaticSystemView.MaxLeaseTTL()
}
