package release

import (
	"debug/elf"
	"fmt"
	"io"
	"strings"
)

// CheckStatic fails unless the ELF executable at path is statically
// linked: no program interpreter (PT_INTERP, the dynamic loader the kernel
// would start first) and no dynamic section (PT_DYNAMIC, .dynamic). A
// binary linked against glibc asks for /lib64/ld-linux-x86-64.so.2, which
// Vault's Alpine image does not have: the plugin would fail to start with
// "no such file or directory".
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF file: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read only
	var problems []string
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			problems = append(problems, fmt.Sprintf("a PT_INTERP program header (interpreter %q)", strings.TrimRight(string(interp), "\x00")))
		case elf.PT_DYNAMIC:
			problems = append(problems, "a PT_DYNAMIC program header")
		}
	}
	for _, name := range []string{".interp", ".dynamic"} {
		if f.Section(name) != nil {
			problems = append(problems, "a "+name+" section")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		problems = append(problems, "needed libraries "+strings.Join(libs, ", "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s is dynamically linked (%s); build it with CGO_ENABLED=0 (scripts/build.sh does)", path, strings.Join(problems, "; "))
	}
	return nil
}
