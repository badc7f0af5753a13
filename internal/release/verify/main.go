// Command verify checks a release directory written by scripts/release.sh
// (which runs it last): SHA256SUMS lists every file with its hash, each
// binary is for the platform its name says, and the linux ones are static.
//
//	go run ./internal/release/verify dist
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce/internal/release"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: verify DIR")
		os.Exit(2)
	}
	if err := verify(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "verify: FAIL:", err)
		os.Exit(1)
	}
}

func verify(dir string) error {
	names, err := release.CheckSums(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		a, err := release.ParseArtifact(name)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		if err := release.CheckPlatform(path, a); err != nil {
			return err
		}
		if a.OS == "linux" {
			if err := release.CheckStatic(path); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "verify: %s: %d binaries match %s; the linux ones are static\n", dir, len(names), release.SumsFile)
	return nil
}
