// Package version says which ktstr made a binary, and so a record: the
// module version and the VCS revision the Go toolchain stamps into every
// binary it builds (runtime/debug.ReadBuildInfo). A build from a git
// checkout is stamped with a pseudo-version naming its commit, +dirty when
// the tree had changes; a build without VCS information (-buildvcs=false,
// a tarball, a git worktree, a test binary) is "(devel)".
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
)

// Devel is the module version of a build Go could not stamp with one.
const Devel = "(devel)"

// Info is what a binary knows of its build.
type Info struct {
	// Version is the main module's version: a release (v1.2.0), a
	// pseudo-version (v0.0.0-20261129120930-7f96ef686a39+dirty) or Devel.
	Version string
	// Revision is the VCS commit (vcs.revision), "" when not stamped.
	Revision string
	// Time is the commit's time (vcs.time), "" when not stamped.
	Time string
	// Modified is vcs.modified: the tree had uncommitted changes.
	Modified bool
	// Go is the toolchain that built the binary.
	Go string
}

// Read returns this binary's Info (read once).
var Read = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Devel}
	}
	return fromBuildInfo(bi)
})

func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if i.Version == "" {
		i.Version = Devel
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the version records carry (ktstr_version): the module version
// when Go stamped one (it names the commit, +dirty for a modified tree),
// else (devel) with the revision if known: (devel)+7f96ef686a39, with
// -dirty when modified.
func (i Info) String() string {
	if i.Version != Devel {
		return i.Version
	}
	s := Devel
	if i.Revision != "" {
		s += "+" + short(i.Revision)
		if i.Modified {
			s += "-dirty"
		}
	}
	return s
}

// Long is the --version line of tool: the version, then the revision (or
// why there is none), its time and whether the tree was modified, and the
// Go toolchain.
func (i Info) Long(tool string) string {
	var about []string
	switch {
	case i.Revision != "":
		rev := "revision " + i.Revision
		if i.Modified {
			rev += " (modified)"
		}
		if i.Time != "" {
			rev += " of " + i.Time
		}
		about = append(about, rev)
	case i.Version == Devel:
		about = append(about, "no VCS revision stamped (built with -buildvcs=false, outside a git checkout, or in a git worktree)")
	}
	if i.Go != "" {
		about = append(about, "built with "+i.Go)
	}
	if len(about) == 0 {
		return fmt.Sprintf("%s %s", tool, i.Version)
	}
	return fmt.Sprintf("%s %s: %s", tool, i.Version, strings.Join(about, "; "))
}

// String is this binary's version, as records carry it.
func String() string { return Read().String() }

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
