package salesforce

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// minKeyBits: Salesforce and NIST both treat RSA below 2048 bits as weak.
	minKeyBits = 2048
	// maxKeyBits bounds what an admin may supply: every grant signs with
	// the key, and RSA signing cost grows with the cube of its size.
	maxKeyBits = 8192

	defaultKeyBits             = 2048
	defaultCertificateValidity = 2 * 365 * 24 * time.Hour // 17520h
	minCertificateValidity     = 24 * time.Hour
	maxCertificateValidity     = 10 * 365 * 24 * time.Hour

	// maxCommonNameLen is RFC 5280's ub-common-name; longer names make
	// certificates that strict parsers refuse.
	maxCommonNameLen = 64

	// certificateBackdate absorbs clock skew between Vault and Salesforce, so
	// a certificate uploaded right away is already valid there.
	certificateBackdate = 5 * time.Minute

	// maxCertificatePEMLen is what Salesforce accepts for a Connected App
	// certificate upload.
	maxCertificatePEMLen = 4096
)

// generatableKeyBits are the sizes generate_key and rotate-key offer.
var generatableKeyBits = []int{2048, 3072, 4096}

const privateKeyExpectation = "'private_key' must be an unencrypted RSA private key in PEM " +
	"(PKCS#1 'RSA PRIVATE KEY' or PKCS#8 'PRIVATE KEY')"

// parseRSAPrivateKey decodes the one PEM block of an RSA private key. Its
// errors describe the input's shape (block type, key type, size), never its
// bytes: they end up in responses and logs.
func parseRSAPrivateKey(pemText string) (*rsa.PrivateKey, error) {
	block, err := decodeSinglePEMBlock(pemText)
	if err != nil {
		return nil, err
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || isProcTypeEncrypted(block) {
		return nil, fmt.Errorf("%s; got an encrypted key: decrypt it first, "+
			"e.g. 'openssl pkey -in encrypted.pem -out key.pem'", privateKeyExpectation)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s; the 'RSA PRIVATE KEY' block could not be decoded as PKCS#1", privateKeyExpectation)
		}
	case "PRIVATE KEY":
		key, err = parsePKCS8RSA(block.Bytes)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s; got %s", privateKeyExpectation, describeBlockType(block.Type))
	}
	if bits := key.N.BitLen(); bits < minKeyBits || bits > maxKeyBits {
		return nil, fmt.Errorf("'private_key' is a %d-bit RSA key; between %d and %d bits are required", bits, minKeyBits, maxKeyBits)
	}
	return key, nil
}

func parsePKCS8RSA(der []byte) (*rsa.PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s; the 'PRIVATE KEY' block could not be decoded as PKCS#8 "+
			"(or holds a key type or size Go does not accept)", privateKeyExpectation)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s; got a PKCS#8 %s key: Salesforce signs JWT bearer assertions with RS256 only",
			privateKeyExpectation, describeKeyType(parsed))
	}
	return key, nil
}

// decodeSinglePEMBlock accepts text before the block (openssl's "Bag
// Attributes") but refuses a second block: a key pasted together with its
// certificate is ambiguous, and storing it would keep junk beside the key.
func decodeSinglePEMBlock(pemText string) (*pem.Block, error) {
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("%s; got no PEM block (expected a '-----BEGIN ...-----' line)", privateKeyExpectation)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%s; got a second PEM block (%s) after the first: supply the key alone",
			privateKeyExpectation, describeBlockType(next.Type))
	}
	return block, nil
}

func describeKeyType(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return "ECDH"
	default:
		return "non-RSA"
	}
}

func isProcTypeEncrypted(block *pem.Block) bool {
	return strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED")
}

// describeBlockType names a PEM block type for an error message. The type
// comes from the caller's input, so it is bounded and quoted.
func describeBlockType(t string) string {
	if len(t) > 40 || !utf8.ValidString(t) {
		return "an unrecognised PEM block"
	}
	article := "a"
	if t != "" && strings.ContainsRune("AEIOU", rune(t[0])) {
		article = "an"
	}
	return fmt.Sprintf("%s %s", article, t)
}

// encodePrivateKey stores keys as PKCS#8 PEM, whatever form they came in:
// one canonical form, without the caller's surrounding text or headers.
func encodePrivateKey(key *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("error encoding private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// keyFingerprint is "SHA256:" and the unpadded standard base64 of the
// SHA-256 of the public key's PKIX (SubjectPublicKeyInfo) DER: OpenSSH's
// notation over the form openssl prints. The same value comes from
//
//	openssl pkey -in key.pem -pubout -outform DER | openssl dgst -sha256 -binary | base64 | tr -d =
func keyFingerprint(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("error encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// pemKeyFingerprint is keyFingerprint of a stored key; "" if there is none.
func pemKeyFingerprint(pemText string) (string, error) {
	if pemText == "" {
		return "", nil
	}
	key, err := parseRSAPrivateKey(pemText)
	if err != nil {
		return "", fmt.Errorf("stored key cannot be parsed: %w", err)
	}
	return keyFingerprint(&key.PublicKey)
}

// keyOptions is how to generate a key pair and its certificate.
type keyOptions struct {
	Bits       int
	CommonName string
	Validity   time.Duration
}

func (o keyOptions) validate() error {
	if !validKeyBits(o.Bits) {
		return fmt.Errorf("'key_bits' (%d) must be one of 2048, 3072 or 4096", o.Bits)
	}
	if err := validateCommonName(o.CommonName); err != nil {
		return err
	}
	if o.Validity < minCertificateValidity || o.Validity > maxCertificateValidity {
		return fmt.Errorf("'certificate_validity' (%s) must be between 24h (1 day) and 87600h (10 years)", o.Validity)
	}
	return nil
}

func validKeyBits(bits int) bool {
	for _, b := range generatableKeyBits {
		if bits == b {
			return true
		}
	}
	return false
}

func validateCommonName(cn string) error {
	if cn == "" {
		return errors.New("'certificate_common_name' must not be empty")
	}
	if len(cn) > maxCommonNameLen {
		return fmt.Errorf("'certificate_common_name' is %d bytes long; X.509 allows at most %d", len(cn), maxCommonNameLen)
	}
	if !utf8.ValidString(cn) {
		return errors.New("'certificate_common_name' must be valid UTF-8")
	}
	for _, r := range cn {
		if unicode.IsControl(r) {
			return errors.New("'certificate_common_name' must not contain control characters")
		}
	}
	return nil
}

// defaultCommonName is the connection name, cut to what X.509 allows.
func defaultCommonName(name string) string {
	if len(name) > maxCommonNameLen {
		return name[:maxCommonNameLen] // names are ASCII (namePattern)
	}
	return name
}

// generatedKey is a key pair made inside Vault and its self-signed
// certificate, both PEM.
type generatedKey struct {
	PrivateKey  string
	Certificate string
	Fingerprint string
	ExpiresAt   time.Time
}

// generateKey makes an RSA key pair with crypto/rand and a self-signed
// certificate for the Connected App. Salesforce only uses the certificate's
// public key, so it needs no CA and no extensions beyond digitalSignature.
func generateKey(o keyOptions) (*generatedKey, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, o.Bits)
	if err != nil {
		return nil, fmt.Errorf("error generating a %d-bit RSA key: %w", o.Bits, err)
	}
	certPEM, expires, err := selfSignedCertificate(key, o)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	fp, err := keyFingerprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &generatedKey{PrivateKey: keyPEM, Certificate: certPEM, Fingerprint: fp, ExpiresAt: expires}, nil
}

func selfSignedCertificate(key *rsa.PrivateKey, o keyOptions) (string, time.Time, error) {
	// 128 random bits: RFC 5280 allows 20 octets, and randomness keeps two
	// certificates for one name distinct.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("error generating a certificate serial number: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             now.Add(-certificateBackdate),
		NotAfter:              now.Add(o.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("error creating the self-signed certificate: %w", err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if len(certPEM) > maxCertificatePEMLen {
		return "", time.Time{}, fmt.Errorf("generated certificate is %d bytes; Salesforce accepts at most %d", len(certPEM), maxCertificatePEMLen)
	}
	return certPEM, tmpl.NotAfter, nil
}

// certificateExpiry reads NotAfter from a stored certificate PEM.
func certificateExpiry(certPEM string) (time.Time, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return time.Time{}, errors.New("stored certificate is not a PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored certificate cannot be parsed: %w", err)
	}
	return cert.NotAfter, nil
}

// parseCABundle checks that ca_cert is one or more PEM certificates and
// returns them re-encoded without surrounding text.
func parseCABundle(pemText string) (string, error) {
	rest := []byte(pemText)
	var out strings.Builder
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n == 1 {
				return "", errors.New("'ca_cert' must be one or more PEM certificates ('-----BEGIN CERTIFICATE-----'); found no PEM block")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return "", fmt.Errorf("'ca_cert' must hold only PEM certificates; block %d is %s", n, describeBlockType(block.Type))
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "", fmt.Errorf("'ca_cert' block %d is not a valid X.509 certificate", n)
		}
		out.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}))
	}
	if strings.TrimSpace(string(rest)) != "" && strings.Contains(string(rest), "-----BEGIN") {
		return "", errors.New("'ca_cert' has a malformed PEM block after the certificates")
	}
	return out.String(), nil
}
