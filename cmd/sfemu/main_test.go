package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds sfemu and runs it as the demo and e2e tests do: TLS,
// a ready file, a CA file to trust, and a clean stop on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sfemu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ready := filepath.Join(dir, "ready")
	certDir := filepath.Join(dir, "certs")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-tls", "-cert-out", certDir, "-ready-file", ready)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var base string
	select {
	case base = <-line:
	case <-time.After(30 * time.Second):
		t.Fatalf("no base URL on stdout; stderr:\n%s", stderr.String())
	}
	b, err := os.ReadFile(ready)
	if err != nil || strings.TrimSpace(string(b)) != base || !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("ready file %q (%v), stdout %q", b, err, base)
	}

	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	const secret = "sfemu-demo-consumer-secret"
	resp, err := client.PostForm(base+"/services/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"3MVG9sfemuDemoConsumerKey"}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatalf("HTTPS call trusting ca.pem: %v", err)
	}
	var ans map[string]string
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || ans["instance_url"] != base {
		t.Fatalf("grant: %d %v %v", resp.StatusCode, ans, err)
	}
	// localhost is in the certificate too.
	lh := strings.Replace(base, "127.0.0.1", "localhost", 1)
	if resp, err := client.Get(lh + "/services/data/"); err != nil {
		t.Errorf("https via localhost: %v", err)
	} else {
		resp.Body.Close()
	}

	code := webFlowCode(t, client, base)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	logs := stderr.String()
	if !strings.Contains(logs, "POST /services/oauth2/token 200") {
		t.Errorf("request not logged:\n%s", logs)
	}
	if strings.Contains(logs, ans["access_token"]) || strings.Contains(logs, secret) || strings.Contains(logs, code) || strings.Contains(logs, url.QueryEscape(code)) {
		t.Errorf("log leaks a token, code or secret:\n%s", logs)
	}
}

// webFlowCode registers a callback on the demo app through the admin API
// and completes the login-and-consent form with a cookie jar, as the demo
// and the e2e tests do against the binary; it returns the code.
func webFlowCode(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	const cb = "http://localhost:1717/OauthRedirect"
	req, _ := http.NewRequest(http.MethodPut, base+"/__sfemu/apps/3MVG9sfemuDemoConsumerKey",
		strings.NewReader(`{"client_secret":"s","scopes":"api refresh_token","callback_urls":["`+cb+`"],"users":[{"username":"demo@example.com"}]}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT app: %d", resp.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 10 * time.Second, Transport: client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {"3MVG9sfemuDemoConsumerKey"}, "redirect_uri": {cb}, "state": {"s"}, "scope": {"api refresh_token"}}
	resp, err = browser.Get(base + "/services/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize page: %d %s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(base+"/services/oauth2/authorize", url.Values{"pending": {string(m[1])}, "username": {"demo@example.com"}, "action": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != 302 || !strings.HasPrefix(loc.String(), cb+"?code=") || loc.Query().Get("state") != "s" {
		t.Fatalf("consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}
