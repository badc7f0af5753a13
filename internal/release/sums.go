package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SumsFile is the checksum list in a release directory, in the format of
// sha256sum (and of `sha256sum -c`): "<64 hex digits>  <file name>".
const SumsFile = "SHA256SUMS"

// CheckSums reads dir's SumsFile and fails unless it lists every other file
// in dir exactly once, each with its SHA-256, and nothing else. It answers
// the listed names in the file's order.
func CheckSums(dir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, err
	}
	listed := map[string]string{}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != sha256.Size*2 || strings.Trim(sum, "0123456789abcdef") != "" || name == "" || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("%s line %d: %q is not \"<sha256 in lower-case hex>  <file name>\"", SumsFile, n, sc.Text())
		}
		if _, dup := listed[name]; dup {
			return nil, fmt.Errorf("%s lists %s twice", SumsFile, name)
		}
		listed[name] = sum
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no file", SumsFile)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var present []string
	for _, e := range entries {
		if e.Name() == SumsFile {
			continue
		}
		if _, ok := listed[e.Name()]; !ok {
			return nil, fmt.Errorf("%s is in %s but not in %s", e.Name(), dir, SumsFile)
		}
		present = append(present, e.Name())
	}
	for _, name := range names {
		if !slices.Contains(present, name) {
			return nil, fmt.Errorf("%s lists %s, which is not in %s", SumsFile, name, dir)
		}
		got, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if got != listed[name] {
			return nil, fmt.Errorf("%s: sha256 is %s, %s says %s", name, got, SumsFile, listed[name])
		}
	}
	return names, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // read only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
