package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// vaultClient speaks Vault's HTTP API with kept-alive connections, as an
// application would: the load is Vault's and the plugin's, not TCP setup.
type vaultClient struct {
	addr  string
	token string
	http  *http.Client
}

func newVaultClient(addr, token string, conns int) *vaultClient {
	tr := &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &vaultClient{
		addr:  strings.TrimRight(addr, "/"),
		token: token,
		// Vault caps a request at 90s; a hung one must not hang the run.
		http: &http.Client{Transport: tr, Timeout: 100 * time.Second},
	}
}

// statusError is a non-2xx answer. Its text carries Vault's "errors" list,
// which never holds a secret, and not the body.
type statusError struct {
	method, path string
	status       int
	errs         []string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, strings.Join(e.errs, "; "))
}

// raw sends one request and returns the body of a 2xx answer.
func (c *vaultClient) raw(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(out, &e) // a non-JSON error body leaves errs empty
		return nil, &statusError{method: method, path: path, status: resp.StatusCode, errs: e.Errors}
	}
	return out, nil
}

// call sends a JSON body (nil for none) and decodes the answer into out
// (nil to discard it).
func (c *vaultClient) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	raw, err := c.raw(ctx, method, path, body)
	if err != nil {
		return err
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

// countLeases lists the leases under a prefix, as Vault's expiration
// manager holds them; a prefix with none answers 404.
func (c *vaultClient) countLeases(ctx context.Context, prefix string) (int, error) {
	var out struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	err := c.call(ctx, "LIST", "sys/leases/lookup/"+strings.TrimSuffix(prefix, "/")+"/", nil, &out)
	if isStatus(err, http.StatusNotFound) {
		return 0, nil
	}
	return len(out.Data.Keys), err
}

// emuClient reads the emulator's admin counters and calls its REST API.
type emuClient struct {
	url  string
	http *http.Client
}

func newEmuClient(url, caFile string) (*emuClient, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("error reading the emulator's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &emuClient{
		url: strings.TrimRight(url, "/"),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

// emuStats is the part of GET /__sfemu/stats the benchmark reads.
type emuStats struct {
	TokenCalls  int            `json:"token_calls"`
	RevokeCalls int            `json:"revoke_calls"`
	Grants      map[string]int `json:"grants"`
	Sessions    []struct {
		TokenSHA256 string `json:"token_sha256"`
		Username    string `json:"username"`
		Grants      int    `json:"grants"`
		Active      bool   `json:"active"`
	} `json:"sessions"`
}

func (e *emuClient) stats(ctx context.Context) (*emuStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/__sfemu/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error reading the emulator's stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("emulator stats: HTTP %d", resp.StatusCode)
	}
	var st emuStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("error decoding the emulator's stats: %w", err)
	}
	return &st, nil
}

// grantsFor is the number of grants the emulator answered for one user,
// over all of its sessions.
func (s *emuStats) grantsFor(username string) int {
	n := 0
	for _, ss := range s.Sessions {
		if ss.Username == username {
			n += ss.Grants
		}
	}
	return n
}

// limitsStatus calls the REST API with a token, as an application would,
// and returns the HTTP status: 200 for a live token, 401 for a dead one.
func (e *emuClient) limitsStatus(ctx context.Context, instanceURL, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(instanceURL, "/")+"/services/data/v65.0/limits", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("error calling the REST API: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// fingerprint names a token in output without revealing it.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:12]
}
