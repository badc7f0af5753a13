package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (`apt-get install chromium`; .ci/run
// installs it). The test installs nothing itself.
func chromiumPath() string {
	for _, name := range []string{os.Getenv("CHROMIUM_BIN"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// spkiHash is the base64 SHA-256 of a PEM certificate's public key: the
// emulator's self-signed certificate is trusted by pinning it, not by
// turning certificate errors off.
func spkiHash(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestUserAuthorizationInChromium drives the consent in a real headless
// Chromium: the authorize URL, the emulator's login-and-consent page, the
// redirect to Vault's callback and its page; then an application reads a
// lease of the person's authorization.
func TestUserAuthorizationInChromium(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium); .ci/run installs it for this test")
	}
	t.Parallel()
	v, emu := flowSetup(t, nil)
	authorizeURL := startFlow(t, v, "alice", "login_hint=alice@example.com")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, emu.CAPath)),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	err := chromedp.Do(ctx, chromedp.Navigate(authorizeURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	if err != nil {
		t.Fatalf("chromium opening authorize_url: %v", err)
	}
	username, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#username")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#allow"))); err != nil {
		t.Fatalf("chromium clicking Allow: %v", err)
	}
	var landed string
	eventually(t, time.Minute, "chromium lands on Vault's callback", func() error {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return err
		}
		if landed = loc; !strings.HasPrefix(loc, v.Addr+"/v1/salesforce/callback") {
			return fmt.Errorf("at %s", loc)
		}
		return nil
	})
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if username != "alice@example.com" {
		t.Errorf("login_hint did not prefill the username: %q", username)
	}
	if heading != "Authorization complete" || !strings.HasPrefix(landed, v.Addr+"/v1/salesforce/callback") {
		t.Fatalf("chromium landed on %s showing %q", landed, heading)
	}
	l := readCreds(t, v, "rep")
	emu.requireLive(t, l.Data.AccessToken, "token of the authorization consented in chromium")
	v.must(t, "lease", "revoke", l.ID)
	emu.waitDead(t, l.Data.AccessToken, 30*time.Second, "token revoked with its lease")
}
