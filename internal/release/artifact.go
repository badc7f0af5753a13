package release

import (
	"debug/elf"
	"debug/macho"
	"fmt"
	"strings"
)

// PluginName is the plugin's binary name, the prefix of every artifact.
const PluginName = "vault-plugin-secrets-salesforce"

// Artifact is a release binary as its file name describes it:
// <PluginName>_<version>_<os>_<arch>.
type Artifact struct {
	Name, Version, OS, Arch string
}

// ParseArtifact reads an artifact's file name.
func ParseArtifact(name string) (Artifact, error) {
	rest, ok := strings.CutPrefix(name, PluginName+"_")
	parts := strings.Split(rest, "_")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Artifact{}, fmt.Errorf("%q is not named %s_<version>_<os>_<arch>", name, PluginName)
	}
	return Artifact{Name: name, Version: parts[0], OS: parts[1], Arch: parts[2]}, nil
}

var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
var machoCPUs = map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}

// CheckPlatform fails unless the binary at path is an executable for the
// platform a names: a GOOS or GOARCH lost on the way to go build would
// otherwise ship a host binary under another platform's name.
func CheckPlatform(path string, a Artifact) error {
	switch a.OS {
	case "linux":
		want, ok := elfMachines[a.Arch]
		if !ok {
			return fmt.Errorf("%s: no known ELF machine for arch %q", a.Name, a.Arch)
		}
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("%s: not an ELF file: %w", a.Name, err)
		}
		defer func() { _ = f.Close() }() // read only
		if f.Machine != want || f.Type != elf.ET_EXEC {
			return fmt.Errorf("%s: ELF %s %s, want %s %s", a.Name, f.Type, f.Machine, elf.ET_EXEC, want)
		}
	case "darwin":
		want, ok := machoCPUs[a.Arch]
		if !ok {
			return fmt.Errorf("%s: no known Mach-O CPU for arch %q", a.Name, a.Arch)
		}
		f, err := macho.Open(path)
		if err != nil {
			return fmt.Errorf("%s: not a Mach-O file: %w", a.Name, err)
		}
		defer func() { _ = f.Close() }() // read only
		if f.Cpu != want || f.Type != macho.TypeExec {
			return fmt.Errorf("%s: Mach-O %s %s, want %s %s", a.Name, f.Type, f.Cpu, macho.TypeExec, want)
		}
	default:
		return fmt.Errorf("%s: no check for OS %q; add one to CheckPlatform", a.Name, a.OS)
	}
	return nil
}
