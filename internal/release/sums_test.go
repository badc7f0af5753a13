package release

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRelease writes files and a SHA256SUMS listing them into a new
// directory; edit then spoils it the way the case names.
func writeRelease(t *testing.T, files map[string]string, edit func(dir string, sums *strings.Builder)) string {
	t.Helper()
	dir := t.TempDir()
	var sums strings.Builder
	for _, name := range []string{"p_v1.0.0_linux_amd64", "p_v1.0.0_darwin_arm64"} {
		body := files[name]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(body))
		sums.WriteString(hex.EncodeToString(h[:]) + "  " + name + "\n")
	}
	if edit != nil {
		edit(dir, &sums)
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckSums(t *testing.T) {
	files := map[string]string{"p_v1.0.0_linux_amd64": "linux", "p_v1.0.0_darwin_arm64": "darwin"}
	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		edit    func(dir string, sums *strings.Builder)
		wantErr string
	}{
		{"whole", nil, ""},
		{"a binary changed after its sum was taken", func(dir string, _ *strings.Builder) {
			write(dir, "p_v1.0.0_linux_amd64", "tampered")
		}, "sha256 is"},
		{"a file in the directory is not listed", func(dir string, _ *strings.Builder) {
			write(dir, "p_v1.0.0_linux_arm64", "unlisted")
		}, "not in SHA256SUMS"},
		{"a listed file is missing", func(dir string, _ *strings.Builder) {
			if err := os.Remove(filepath.Join(dir, "p_v1.0.0_darwin_arm64")); err != nil {
				t.Fatal(err)
			}
		}, "which is not in"},
		{"a file listed twice", func(_ string, sums *strings.Builder) {
			first, _, _ := strings.Cut(sums.String(), "\n")
			sums.WriteString(first + "\n")
		}, "twice"},
		{"binary-mode marker", func(_ string, sums *strings.Builder) {
			s := strings.Replace(sums.String(), "  p_v1.0.0_linux", " *p_v1.0.0_linux", 1)
			sums.Reset()
			sums.WriteString(s)
		}, "is not"},
		{"an empty list", func(dir string, sums *strings.Builder) {
			for name := range files {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			sums.Reset()
		}, "lists no file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeRelease(t, files, tc.edit)
			names, err := CheckSums(dir)
			if tc.wantErr == "" {
				if err != nil || len(names) != 2 {
					t.Fatalf("CheckSums = %v, %v; want both files and no error", names, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckSums error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseArtifact(t *testing.T) {
	a, err := ParseArtifact(PluginName + "_v0.2.0-rc.1_darwin_arm64")
	if err != nil || a.Version != "v0.2.0-rc.1" || a.OS != "darwin" || a.Arch != "arm64" {
		t.Fatalf("ParseArtifact = %+v, %v", a, err)
	}
	for _, bad := range []string{PluginName, PluginName + "_v0.1.0_linux", "other_v0.1.0_linux_amd64", PluginName + "_v0.1.0_linux_amd64_x"} {
		if _, err := ParseArtifact(bad); err == nil {
			t.Errorf("ParseArtifact(%q) accepted it", bad)
		}
	}
}
