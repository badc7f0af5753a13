// Command sfemu serves the Salesforce emulator of internal/sfemu, for the
// demo and for end-to-end tests that need a separate process.
//
//	sfemu -config FILE -addr 127.0.0.1:0 -tls -cert-out DIR -ready-file FILE
//
// With -tls it serves HTTPS on a fresh self-signed certificate for
// 127.0.0.1, ::1 and localhost, written to DIR/ca.pem for clients to trust.
// Once it listens, it prints its base URL on stdout and writes it to the
// ready file (atomically, so a watcher never reads half of it).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/sfemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sfemu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sfemu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "JSON config file (default: one demo app, see docs/emulator.md)")
		addr       = fs.String("addr", "127.0.0.1:0", "listen address; port 0 picks a free port")
		useTLS     = fs.Bool("tls", false, "serve HTTPS on a fresh self-signed certificate")
		certOut    = fs.String("cert-out", "", "directory for ca.pem with -tls (default: a new temporary directory)")
		readyFile  = fs.String("ready-file", "", "file to write the base URL to once listening")
		baseURL    = fs.String("base-url", "", "URL to answer as, when clients reach the emulator through a proxy")
		quiet      = fs.Bool("quiet", false, "do not log requests")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := sfemu.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = sfemu.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	emu, err := sfemu.New(cfg)
	if err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	defer emu.Close()
	logger := log.New(stderr, "sfemu ", log.LstdFlags|log.Lmicroseconds)
	if !*quiet {
		emu.SetLogger(logger)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	scheme := "http"
	if *useTLS {
		dir := *certOut
		if dir == "" {
			if dir, err = os.MkdirTemp("", "sfemu-ca-"); err != nil {
				_ = ln.Close() // nothing was served on it
				return fmt.Errorf("creating certificate directory: %w", err)
			}
		}
		cert, err := selfSigned(filepath.Join(dir, "ca.pem"))
		if err != nil {
			_ = ln.Close() // nothing was served on it
			return err
		}
		logger.Printf("TLS certificate written to %s", filepath.Join(dir, "ca.pem"))
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	base := *baseURL
	if base == "" {
		base = scheme + "://" + reachable(ln.Addr().(*net.TCPAddr))
	}
	emu.SetBaseURL(base)

	srv := &http.Server{
		Handler:           emu,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if *readyFile != "" {
		if err := writeAtomic(*readyFile, base+"\n"); err != nil {
			_ = srv.Close() // the write's error is the one to report
			return err
		}
	}
	_, _ = fmt.Fprintln(stdout, base) // a closed stdout is no reason to stop serving

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	emu.Close() // release hung requests so that shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// reachable turns a listen address into one a client can dial: a wildcard
// address becomes loopback.
func reachable(a *net.TCPAddr) string {
	ip := a.IP
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// selfSigned makes a certificate that is its own CA, so that clients trust
// exactly this one file and nothing else.
func selfSigned(caPath string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sfemu", Organization: []string{"sfemu Salesforce emulator"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating TLS certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The certificate is public: clients read it to trust the emulator.
	if err := os.MkdirAll(filepath.Dir(caPath), 0o755); err != nil { //nolint:gosec // G301: a public certificate's directory
		return tls.Certificate{}, fmt.Errorf("creating certificate directory: %w", err)
	}
	if err := writeAtomic(caPath, string(certPEM)); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// writeAtomic writes through a temporary file and a rename, so that a
// reader polling for the file sees all of it or nothing.
func writeAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.WriteString(content)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp) // best effort: the write's error is the one to report
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { //nolint:gosec // G302: the certificate and the URL are public
		_ = os.Remove(tmp) // best effort
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // best effort
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
