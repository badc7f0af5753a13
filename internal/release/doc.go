// Package release checks the artifacts scripts/release.sh writes (make
// release): that SHA256SUMS lists every binary with its hash, that each
// binary is for the platform its name says, and that the linux ones are
// static, so that they start in Vault's Alpine (musl) image, which has no
// glibc to load.
//
// Its tests build one release target twice through the real script and
// compare the bytes. They need Go and bash, not Vault, so `make unit` runs
// them too. The command in verify/ runs the same checks at the end of every
// make release.
package release
