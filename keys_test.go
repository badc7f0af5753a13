package salesforce

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"
)

// weakRSAKey1024 is a throwaway 1024-bit key: Go no longer generates keys
// this small, and the plugin must refuse them.
const weakRSAKey1024 = `
-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDB3Xf7Mrsc3IfP5MN2ArkmRaalHcHlyP4HuPOnNBP4HCU3/JzW
9tCMv3VripO6SsloG8RY6eTmQGkEOx+9jqQzHOojM3YB+8vhEzT15lRmL/BkQFW+
juhZtI5kxg8Aa1vYiKvw9rCN4JDu6TqkufgLtRUKGSbe3XFhF04oRN1B/wIDAQAB
AoGAEGKKeHWiMN9Gr0BzcK7sPRrX6c6pC6XAKqDsHu6c3XRrhN7Z1qVHnQ21e+Bb
efxGJ4FpR+aEzR0WgyAIH7pFkFJq4ecc70TvMgbS7kAWVJhoohq43NFv4oiy/E6q
S+Twm+SraMI7XvdTxGsBuhyLgebgFQtYCMb3pUW5lfF2h+kCQQD7hp01uzyrH4AX
yBcztafT3AJtqoV7AqTdGPgNU6IdB+VkdkCEomnR0wf1egjhqjaFRbOrCdJGODCn
HNpAACmbAkEAxVBIMr+yybI0PhK97bSqXAXYlghfeIbqSd6pg5mOr1yle5ftp4Xt
lLFvZbf16SUYI3hztmT1V9bffm8oz7zRbQJAFHHRr39jpAkwcT5rXGGknZzheaaF
qQUC/5G6/+JPaAqvQ6Y1AlLtRQfhOrvLowQh4F1VCE8JD3obwkmfF9qrhwJAEb06
AHYDmOaQk9QThz9q4YMVCcgO7UMT5ThDfTVdAp8NsaLjFuCPj4K0RSzYyvEuzmGR
5aAF/rOuvCs6PBL5sQJBAIbyPcwjIgje2XQYToDdRe75sngZeFrZxLyCddOC3LiT
QdEqYBT163GxeX+F48S4dTb1vrjzfsjlMtylVvRXneo=
-----END RSA PRIVATE KEY-----
`

// cfgKeys are test keys in every form the key tests need, made once.
type cfgKeys struct {
	key             *rsa.PrivateKey
	pkcs1, pkcs8    string
	ecSEC1, ecPKCS8 string
	certificate     string
}

var (
	cfgKeysOnce sync.Once
	cfgKeysVal  cfgKeys
)

func testKeyForms(t testing.TB) cfgKeys {
	t.Helper()
	cfgKeysOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		p8, _ := x509.MarshalPKCS8PrivateKey(key)
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sec1, _ := x509.MarshalECPrivateKey(ec)
		ec8, _ := x509.MarshalPKCS8PrivateKey(ec)
		cert, _, err := selfSignedCertificate(key, keyOptions{Bits: 2048, CommonName: "t", Validity: 48 * time.Hour})
		if err != nil {
			panic(err)
		}
		cfgKeysVal = cfgKeys{
			key:         key,
			pkcs1:       pemString("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
			pkcs8:       pemString("PRIVATE KEY", p8),
			ecSEC1:      pemString("EC PRIVATE KEY", sec1),
			ecPKCS8:     pemString("PRIVATE KEY", ec8),
			certificate: cert,
		}
	})
	return cfgKeysVal
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// pemBody is the base64 of a PEM's first block, the part that must never
// appear in a response, error or log.
func pemBody(t testing.TB, pemText string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		t.Fatal("no PEM block")
	}
	return base64.StdEncoding.EncodeToString(block.Bytes)[:64]
}

// badKeyCases are inputs parseRSAPrivateKey must refuse, with what the
// error must say.
func badKeyCases(t testing.TB) []struct{ name, pem, want string } {
	k := testKeyForms(t)
	procType := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n" +
		strings.Join(strings.Split(strings.TrimSpace(k.pkcs1), "\n")[1:], "\n") + "\n"
	return []struct{ name, pem, want string }{
		{"ec sec1", k.ecSEC1, "got an EC PRIVATE KEY"},
		{"ec pkcs8", k.ecPKCS8, "got a PKCS#8 ECDSA key"},
		{"certificate", k.certificate, "got a CERTIFICATE"},
		{"garbage", "hello, this is not a key", "got no PEM block"},
		{"empty block", "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n", "could not be decoded"},
		{"encrypted pkcs8", pemString("ENCRYPTED PRIVATE KEY", []byte("0123456789abcdef")), "encrypted"},
		{"proc-type encrypted", procType, "encrypted"},
		{"1024 bits", strings.TrimSpace(weakRSAKey1024), "1024-bit"},
		{"key then certificate", k.pkcs8 + k.certificate, "second PEM block (a CERTIFICATE)"},
		{"public key", pemString("PUBLIC KEY", []byte{1, 2, 3}), "got a PUBLIC KEY"},
	}
}

func TestParseRSAPrivateKey(t *testing.T) {
	k := testKeyForms(t)
	for name, in := range map[string]string{
		"pkcs1": k.pkcs1, "pkcs8": k.pkcs8,
		"leading text":   "Bag Attributes\n    friendlyName: x\n" + k.pkcs8,
		"trailing space": k.pkcs1 + "\n\n  \n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseRSAPrivateKey(in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(k.key) {
				t.Fatal("parsed a different key")
			}
		})
	}
	for _, tc := range badKeyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRSAPrivateKey(tc.pem)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if !strings.Contains(msg, "RSA") {
				t.Errorf("error %q does not say what was expected", msg)
			}
			if block, _ := pem.Decode([]byte(tc.pem)); block != nil && len(block.Bytes) > 12 {
				if strings.Contains(msg, base64.StdEncoding.EncodeToString(block.Bytes)[:16]) {
					t.Errorf("error echoes key material: %q", msg)
				}
			}
		})
	}
}

func TestKeyFingerprint(t *testing.T) {
	k := testKeyForms(t)
	der, _ := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	sum := sha256.Sum256(der)
	want := "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "=")
	got, err := pemKeyFingerprint(k.pkcs1)
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if got8, _ := pemKeyFingerprint(k.pkcs8); got8 != want {
		t.Fatalf("PKCS#1 and PKCS#8 forms of one key differ: %q vs %q", got, got8)
	}
}

func TestGenerateKey(t *testing.T) {
	sizes := []int{2048, 3072, 4096}
	if testing.Short() {
		sizes = []int{2048}
	}
	for _, bits := range sizes {
		t.Run("", func(t *testing.T) {
			g, err := generateKey(keyOptions{Bits: bits, CommonName: "prod salesforce", Validity: 17520 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Certificate) >= maxCertificatePEMLen {
				t.Errorf("%d-bit certificate is %d bytes; Salesforce takes < 4 KB", bits, len(g.Certificate))
			}
			key, err := parseRSAPrivateKey(g.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			cert := mustParseCert(t, g.Certificate)
			assertCertMatchesKey(t, cert, key)
			if cert.Subject.CommonName != "prod salesforce" || cert.SignatureAlgorithm != x509.SHA256WithRSA ||
				cert.KeyUsage != x509.KeyUsageDigitalSignature || key.N.BitLen() != bits {
				t.Errorf("certificate: cn=%q alg=%v usage=%v bits=%d", cert.Subject.CommonName, cert.SignatureAlgorithm, cert.KeyUsage, key.N.BitLen())
			}
			if d := time.Until(cert.NotAfter); d < 17519*time.Hour || d > 17521*time.Hour {
				t.Errorf("validity ends in %s", d)
			}
		})
	}
}

func TestKeyOptionsValidate(t *testing.T) {
	ok := keyOptions{Bits: 2048, CommonName: "x", Validity: 24 * time.Hour}
	bad := map[string]func(*keyOptions){
		"bits 1024":    func(o *keyOptions) { o.Bits = 1024 },
		"bits 2049":    func(o *keyOptions) { o.Bits = 2049 },
		"validity 23h": func(o *keyOptions) { o.Validity = 23 * time.Hour },
		"validity 11y": func(o *keyOptions) { o.Validity = 11 * 365 * 24 * time.Hour },
		"cn empty":     func(o *keyOptions) { o.CommonName = "" },
		"cn 65 bytes":  func(o *keyOptions) { o.CommonName = strings.Repeat("a", 65) },
		"cn control":   func(o *keyOptions) { o.CommonName = "a\nb" },
		"cn bad utf-8": func(o *keyOptions) { o.CommonName = "a\xffb" },
	}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range bad {
		o := ok
		mutate(&o)
		if o.validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseCABundle(t *testing.T) {
	k := testKeyForms(t)
	if got, err := parseCABundle("comment\n" + k.certificate + k.certificate); err != nil || strings.Count(got, "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("two certificates: %v %q", err, got)
	}
	for name, in := range map[string]string{
		"garbage": "nope", "key": k.pkcs8, "cert then key": k.certificate + k.pkcs8,
		"bad der": pemString("CERTIFICATE", []byte{1, 2, 3}),
	} {
		if _, err := parseCABundle(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustParseCert(t testing.TB, certPEM string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatal("certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// assertCertMatchesKey proves the certificate carries key's public half by
// verifying a signature made with key, as Salesforce does with assertions.
func assertCertMatchesKey(t testing.TB, cert *x509.Certificate, key *rsa.PrivateKey) {
	t.Helper()
	digest := sha256.Sum256([]byte("header.claims"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("certificate key is %T", cert.PublicKey)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("certificate does not match the key: %v", err)
	}
}
