package initramfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// libraryDirs is where the dynamic loader of an x86_64 Debian-like system
// looks when a binary names no run path.
var libraryDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib", "/usr/local/lib",
}

// Closure returns the shared libraries a dynamically linked ELF needs, at the
// paths the loader will open them by, including the interpreter (PT_INTERP)
// and, recursively, the libraries' own DT_NEEDED. A static binary has none.
// A library that cannot be found is an error naming it and its user.
func Closure(binary string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var visit func(file string) error
	visit = func(file string) error {
		f, err := elf.Open(file)
		if err != nil {
			return fmt.Errorf("read ELF %s: %w", file, err)
		}
		defer f.Close()
		interp, err := interpreter(f, file)
		if err != nil {
			return err
		}
		if interp != "" && !seen[interp] {
			seen[interp] = true
			out = append(out, interp)
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("read DT_NEEDED of %s: %w", file, err)
		}
		runpaths := runPaths(f, file)
		for _, lib := range needed {
			p, err := findLibrary(lib, runpaths)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", file, lib, err)
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
			if err := visit(p); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(binary); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// Interpreter returns the program interpreter (PT_INTERP) of an ELF
// binary: the dynamic loader the kernel starts it with, "" for a static
// binary.
func Interpreter(binary string) (string, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return "", fmt.Errorf("read ELF %s: %w", binary, err)
	}
	defer f.Close()
	return interpreter(f, binary)
}

func interpreter(f *elf.File, file string) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("read interpreter of %s: %w", file, err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}

// runPaths returns DT_RUNPATH, else DT_RPATH, with $ORIGIN expanded.
func runPaths(f *elf.File, file string) []string {
	var raw []string
	if rp, err := f.DynString(elf.DT_RUNPATH); err == nil && len(rp) > 0 {
		raw = rp
	} else if rp, err := f.DynString(elf.DT_RPATH); err == nil {
		raw = rp
	}
	origin := filepath.Dir(file)
	var out []string
	for _, r := range raw {
		for _, p := range strings.Split(r, ":") {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "${ORIGIN}", origin), "$ORIGIN", origin)
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func findLibrary(name string, runpaths []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range append(runpaths, libraryDirs...) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("not found in the run path or " + strings.Join(libraryDirs, ", "))
}

// IsELF reports whether path starts with the ELF magic.
func IsELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	n, _ := f.Read(magic)
	return n == 4 && string(magic) == "\x7fELF"
}
