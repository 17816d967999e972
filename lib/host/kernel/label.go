package kernel

import (
	"fmt"
	"hash/crc32"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// LabelRE is the form of every kernel label.
var LabelRE = regexp.MustCompile(`^kernel_[a-z0-9_]+$`)

// Label names a kernel in job ids, verdict subjects and store filters, as
// ktstr does (kernel_[a-z0-9_]+):
//
//	a version or tarball      kernel_6_12_117, kernel_6_15_rc3
//	a clean git tree          kernel_local_{HEAD[:6]}
//	a dirty or non-git tree   kernel_path_{basename}_{crc32(path)[:6]}_dirty
//	nothing known             kernel_local_unknown
//
// A kernel built with an extra config fragment (--fragment) gets the
// fragment's name appended unless its release already ends with it (a
// fragment setting CONFIG_LOCALVERSION to its own name), so that two
// configurations of one source are told apart.
func Label(k *record.Kernel) string {
	var base string
	src := k.Source
	switch {
	case src.Type == "tree" && !src.Dirty && len(src.GitHead) >= 6:
		base = "local_" + src.GitHead[:6]
	case src.Type == "tree" && src.Path != "":
		crc := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(src.Path)))
		base = "path_" + filepath.Base(src.Path) + "_" + crc[:6]
		if src.Dirty {
			base += "_dirty"
		}
	case k.Version != "":
		base = k.Version
	default:
		base = "local_unknown"
	}
	l := "kernel_" + sanitize(base)
	if l == "kernel_" {
		l = "kernel_local_unknown"
	}
	if f := sanitize(k.Fragment); f != "" && !strings.HasSuffix(l, "_"+f) {
		l += "_" + f
	}
	return l
}

// sanitize lowercases s and turns every run of characters other than a-z
// and 0-9 into one underscore, trimmed at both ends.
func sanitize(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			continue
		}
		under = true
	}
	return b.String()
}
