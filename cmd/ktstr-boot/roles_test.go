package main

import (
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/golist"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

const module = "github.com/ktstr-go/ktstr/"

// hostOnly are packages no role's code may link: the run store, its
// queries, comparisons and reports, and the host's planning and VM
// machinery. /init is this binary, so they are in its file; what the
// guest runs must not reach them (issue 24).
var hostOnly = []string{
	"lib/results/store", "lib/results/query", "lib/results/report", "lib/results/compare",
	"lib/results/metrics", "lib/results/stats",
	"lib/host/plan", "lib/host/runner", "lib/host/vm", "lib/host/snapshot", "lib/host/monitor",
	"lib/host/kernel",
}

// entryPackage is the import path of the package that defines m.
func entryPackage(t *testing.T, m role.Main) string {
	t.Helper()
	name := runtime.FuncForPC(reflect.ValueOf(m).Pointer()).Name() // path/to/pkg.Func
	slash := strings.LastIndex(name, "/")
	dot := strings.Index(name[slash+1:], ".")
	if slash < 0 || dot < 0 {
		t.Fatalf("entry %q is not a package's function", name)
	}
	return name[:slash+1+dot]
}

// TestRolesLinkNoHostTools (issue 24): every role of the binary is in the
// table main dispatches through, each entry point is its package's, and
// none of those packages reaches the run store, queries, reports or the
// host's machinery; lib/proto/role itself is a leaf.
func TestRolesLinkNoHostTools(t *testing.T) {
	golist.StatSources(t, filepath.Join("..", ".."))
	// Every hostOnly package exists (go list fails on one that does not):
	// a package moved away would otherwise fall out of the rule unseen.
	var pkgs []string
	for _, h := range hostOnly {
		pkgs = append(pkgs, module+h)
	}
	golist.List(t, pkgs...)
	for _, name := range []string{role.Init, role.Worker, role.Fixture, role.Probe} {
		if roles[name] == nil {
			t.Errorf("role %s has no entry point", name)
		}
	}
	for name, m := range roles {
		pkg := entryPackage(t, m)
		if !strings.HasPrefix(pkg, module+"lib/") {
			t.Errorf("role %s runs %s, not a lib package's Main", name, pkg)
			continue
		}
		for _, d := range golist.List(t, "-deps", pkg) {
			for _, h := range hostOnly {
				if d == module+h {
					t.Errorf("role %s (%s) links %s", name, pkg, h)
				}
			}
		}
	}
	for _, d := range golist.List(t, "-deps", module+"lib/proto/role") {
		if strings.HasPrefix(d, module) && d != module+"lib/proto/role" {
			t.Errorf("lib/proto/role imports %s: it must stay a leaf", d)
		}
	}
}
