package release

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The platform the release tests build: the one Vault's container image
// runs on most often, and whose binary the ELF checks can read.
const (
	testVersion = "v0.1.0"
	testTarget  = "linux/amd64"
	testBinary  = PluginName + "_" + testVersion + "_linux_amd64"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	// go test runs a package's tests in its directory.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// release runs scripts/release.sh, as make release does, for one target
// into dist; it answers the script's combined output and its error.
func release(t *testing.T, dist, version string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "release.sh"), version)
	cmd.Env = append(os.Environ(), "DIST="+dist, "RELEASE_TARGETS="+testTarget)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRelease(t *testing.T, dist string) {
	t.Helper()
	if out, err := release(t, dist, testVersion); err != nil {
		t.Fatalf("scripts/release.sh %s: %v\n%s", testVersion, err, out)
	}
}

// TestReleaseReproducibleStatic: two release runs give byte-identical
// binaries; the linux binary is static and built with the recipe's flags;
// SHA256SUMS lists exactly what is in dist with the right hashes.
func TestReleaseReproducibleStatic(t *testing.T) {
	distA, distB := t.TempDir(), t.TempDir()
	mustRelease(t, distA)
	mustRelease(t, distB)

	entries, err := os.ReadDir(distA)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if want := []string{SumsFile, testBinary}; !slices.Equal(files, want) {
		t.Fatalf("dist holds %v, want %v", files, want)
	}

	binA := filepath.Join(distA, testBinary)
	a, err := os.ReadFile(binA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(distB, testBinary))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two release builds of %s differ (%d and %d bytes): the build is not reproducible", testBinary, len(a), len(b))
	}

	if err := CheckStatic(binA); err != nil {
		t.Errorf("release binary: %v", err)
	}
	if err := CheckPlatform(binA, Artifact{Name: testBinary, OS: "linux", Arch: "amd64"}); err != nil {
		t.Error(err)
	}
	checkRecipe(t, binA)

	names, err := CheckSums(distA)
	if err != nil {
		t.Errorf("%s: %v", SumsFile, err)
	} else if !slices.Equal(names, []string{testBinary}) {
		t.Errorf("%s lists %v, want [%s]", SumsFile, names, testBinary)
	}
	sums, err := os.ReadFile(filepath.Join(distA, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := mustSHA256(t, binA) + "  " + testBinary + "\n"; string(sums) != want {
		t.Errorf("%s = %q, want %q", SumsFile, sums, want)
	}
}

// checkRecipe reads what the recipe leaves in the binary: the build
// settings Go records (cgo off, paths trimmed; -ldflags is not recorded
// under -trimpath) and the sections the linker flags remove: no Go build
// ID note (-buildid=), no symbol table (-s), no DWARF (-w).
func checkRecipe(t *testing.T, path string) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("reading build info of %s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if info.Main.Path != "github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce" {
		t.Errorf("main module %q", info.Main.Path)
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": "amd64"}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("build setting %s = %q, want %q (all: %v)", k, settings[k], v, settings)
		}
	}
	if _, ok := settings["vcs.revision"]; ok {
		t.Errorf("the binary records vcs.revision: the bytes would differ between a git checkout and a source archive")
	}

	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Name == ".note.go.buildid" || s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary has a %s section; the recipe's -ldflags \"-s -w -buildid=\" remove it", s.Name)
		}
	}
}

// TestReleaseRefuses: a version Vault could not register, or a dist holding
// files no release wrote, is refused before anything is built or removed.
func TestReleaseRefuses(t *testing.T) {
	for _, v := range []string{"0.1.0", "v0.1", "v0.1.0.1", "v01.2.3", "latest", "v1.2.3 -X x=y", ""} {
		dist := filepath.Join(t.TempDir(), "dist")
		out, err := release(t, dist, v)
		if err == nil {
			t.Errorf("release %q: succeeded, want a refusal\n%s", v, out)
			continue
		}
		if !strings.Contains(out, "semantic version") && !strings.Contains(out, "usage") {
			t.Errorf("release %q: the refusal does not say what a version must be:\n%s", v, out)
		}
		if _, err := os.Stat(dist); !os.IsNotExist(err) {
			t.Errorf("release %q: created %s (%v)", v, dist, err)
		}
	}

	dist := t.TempDir()
	keep := filepath.Join(dist, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := release(t, dist, testVersion)
	if err == nil || !strings.Contains(out, "notes.txt") {
		t.Errorf("release into a directory holding notes.txt: err=%v, want a refusal naming it\n%s", err, out)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("notes.txt is gone: %v", err)
	}
}

func mustSHA256(t *testing.T, path string) string {
	t.Helper()
	s, err := fileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
