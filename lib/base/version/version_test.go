package version

import (
	"runtime/debug"
	"testing"
)

func buildInfo(version string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ktstr-go/ktstr", Version: version}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

const rev = "7f96ef686a39a3e5aa01f61bf9267c8a5870ccbb"

// TestInfo: what records carry and what --version prints, for a release,
// a stamped checkout (clean and modified) and a build without VCS
// information.
func TestInfo(t *testing.T) {
	cases := []struct {
		bi          *debug.BuildInfo
		short, long string
	}{
		{buildInfo("v1.2.0"), "v1.2.0", "ktstr-x v1.2.0: built with go1.26.8"},
		{buildInfo("v0.0.0-20261129120930-7f96ef686a39+dirty", "vcs.revision", rev, "vcs.time", "2026-11-29T12:09:30Z", "vcs.modified", "true"),
			"v0.0.0-20261129120930-7f96ef686a39+dirty",
			"ktstr-x v0.0.0-20261129120930-7f96ef686a39+dirty: revision " + rev + " (modified) of 2026-11-29T12:09:30Z; built with go1.26.8"},
		{buildInfo("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "(devel)+7f96ef686a39",
			"ktstr-x (devel): revision " + rev + "; built with go1.26.8"},
		{buildInfo("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "(devel)+7f96ef686a39-dirty",
			"ktstr-x (devel): revision " + rev + " (modified); built with go1.26.8"},
		{buildInfo(""), "(devel)", "ktstr-x (devel): no VCS revision stamped (built with -buildvcs=false, outside a git checkout, or in a git worktree); built with go1.26.8"},
	}
	for _, c := range cases {
		i := fromBuildInfo(c.bi)
		if got := i.String(); got != c.short {
			t.Errorf("%+v: String %q, want %q", i, got, c.short)
		}
		if got := i.Long("ktstr-x"); got != c.long {
			t.Errorf("%+v: Long\n%q, want\n%q", i, got, c.long)
		}
	}
}

// TestThisBinary: a binary always has a version to give (a test binary is
// not stamped: (devel)).
func TestThisBinary(t *testing.T) {
	if String() == "" || Read().Go == "" {
		t.Errorf("version %q, %+v", String(), Read())
	}
}
