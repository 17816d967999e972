// Package kernel turns a kernel SPEC — a source tree, a tarball, a version
// or a prebuilt image — into a bootable sched_ext kernel: it configures from
// an embedded fragment, builds with the kernel tree's own sched_ext example
// schedulers, and keeps the result in a content-keyed cache with atomic
// installs and per-key locks.
package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ktstr-go/ktstr/internal/cli"
)

// SpecType classifies a kernel SPEC.
type SpecType string

// The kinds of SPEC ktstr-kernel understands.
const (
	SpecTree    SpecType = "tree"
	SpecTarball SpecType = "tarball"
	SpecVersion SpecType = "version"
	SpecImage   SpecType = "image"
)

// Spec is a parsed kernel SPEC.
type Spec struct {
	Type SpecType
	// Path is the absolute path of a tree, tarball or image.
	Path string
	// Version is "6.12" or "6.12.117" for SpecVersion.
	Version string
}

// SpecError is a SPEC that cannot name a kernel: a missing path, a directory
// that is no kernel tree, an unknown version, a file of the wrong kind.
type SpecError struct {
	Spec   string
	Reason string
}

func (e *SpecError) Error() string { return fmt.Sprintf("kernel %q: %s", e.Spec, e.Reason) }

// Is makes a SpecError a usage error (cli.ErrUsage): the spec is the
// user's.
func (e *SpecError) Is(target error) bool { return target == cli.ErrUsage }

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?(-rc\d+)?$`)

var tarballSuffixes = []string{".tar.xz", ".tar.gz", ".tgz", ".tar.zst", ".tar.bz2", ".tar"}

// ParseSpec classifies text. Paths must exist; a version is only checked
// for form here (Resolve finds it).
func ParseSpec(text string) (Spec, error) {
	if text == "" {
		return Spec{}, &SpecError{text, "empty kernel spec"}
	}
	if m := versionRE.FindStringSubmatch(text); m != nil {
		if _, err := os.Stat(text); err != nil { // a file called "6.12" wins
			return Spec{Type: SpecVersion, Version: strings.TrimPrefix(text, "v")}, nil
		}
	}
	abs, err := filepath.Abs(text)
	if err != nil {
		return Spec{}, &SpecError{text, err.Error()}
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if looksLikePath(text) {
				return Spec{}, &SpecError{text, "no such file or directory"}
			}
			return Spec{}, &SpecError{text, "not a path, a tarball or a version like 6.12 or 6.12.117"}
		}
		return Spec{}, &SpecError{text, err.Error()}
	}
	if st.IsDir() {
		if err := checkTree(abs); err != nil {
			return Spec{}, &SpecError{text, err.Error()}
		}
		return Spec{Type: SpecTree, Path: abs}, nil
	}
	for _, suf := range tarballSuffixes {
		if strings.HasSuffix(abs, suf) {
			return Spec{Type: SpecTarball, Path: abs}, nil
		}
	}
	if _, err := ImageVersion(abs); err == nil {
		return Spec{Type: SpecImage, Path: abs}, nil
	}
	return Spec{}, &SpecError{text, "not a kernel source tree, a tarball (.tar.xz/.tar.gz/.tar.zst) or a bzImage"}
}

func looksLikePath(s string) bool {
	return strings.ContainsAny(s, "/.~") || strings.HasSuffix(s, ".xz")
}

// checkTree verifies that dir is the top of a Linux source tree.
func checkTree(dir string) error {
	for _, want := range []string{"Makefile", "Kconfig", "arch/x86", "kernel/sched"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			return fmt.Errorf("not a Linux source tree: no %s", want)
		}
	}
	return nil
}

// TreeVersion reads VERSION.PATCHLEVEL.SUBLEVEL from a tree's Makefile.
func TreeVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return "", err
	}
	vals := map[string]string{}
	for _, line := range strings.SplitN(string(b), "\n", 20) {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if vals["VERSION"] == "" || vals["PATCHLEVEL"] == "" {
		return "", errors.New("no VERSION/PATCHLEVEL in Makefile")
	}
	v := vals["VERSION"] + "." + vals["PATCHLEVEL"]
	if s := vals["SUBLEVEL"]; s != "" {
		v += "." + s
	}
	return v + vals["EXTRAVERSION"], nil
}

// ImageVersion reads the kernel version string of a bzImage from its setup
// header (boot protocol ≥ 2.00: "HdrS" at 0x202, version pointer at 0x20E).
func ImageVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", errors.New("not a bzImage: too short")
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", errors.New("not a bzImage: no HdrS boot header")
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20E:])) + 0x200
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off)
	s := buf[:n]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	fields := strings.Fields(string(s))
	if len(fields) == 0 {
		return "", errors.New("bzImage has an empty version string")
	}
	return fields[0], nil
}
