package salesforce

import (
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

// FuzzParseRSAPrivateKey: any input is either an RSA key of an accepted size
// or an error that neither panics nor echoes the input's key material.
func FuzzParseRSAPrivateKey(f *testing.F) {
	k := testKeyForms(f)
	for _, seed := range []string{k.pkcs1, k.pkcs8, k.ecSEC1, k.ecPKCS8, k.certificate, weakRSAKey1024,
		"", "garbage", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", k.pkcs8 + k.certificate} {
		f.Add(seed)
	}
	for _, tc := range badKeyCases(f) {
		f.Add(tc.pem)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := parseRSAPrivateKey(in)
		if err == nil {
			if bits := key.N.BitLen(); bits < minKeyBits || bits > maxKeyBits {
				t.Fatalf("accepted a %d-bit key", bits)
			}
			return
		}
		msg := err.Error()
		if len(msg) > 600 {
			t.Fatalf("error of %d bytes", len(msg))
		}
		if block, _ := pem.Decode([]byte(in)); block != nil && len(block.Bytes) >= 24 {
			body := base64.StdEncoding.EncodeToString(block.Bytes)
			if strings.Contains(msg, body[:24]) {
				t.Fatalf("error echoes the key: %q", msg)
			}
		}
	})
}
