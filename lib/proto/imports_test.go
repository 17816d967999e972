package proto

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/ktstr-go/ktstr/"

// guestSide are the packages that only make sense inside the VM (the agent
// and what it runs) plus the BPF library they pull in. The host-side tools
// reach the guest through lib/proto only.
var guestSide = []string{
	module + "lib/guest",
	module + "lib/scenario",
	module + "lib/workload",
	module + "lib/sched",
	module + "lib/fixture",
	module + "lib/cgroup",
	"github.com/cilium/ebpf",
}

// deps lists the packages pkg reaches (itself included), via the go tool the
// test runs under.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// statSources stats every Go file of the module: go test caches a passing
// result keyed on the files the test touched, and go list reads them in
// another process, so without this an import added later would not rerun
// the test.
func statSources(t *testing.T) {
	t.Helper()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") || d.Name() == "go.mod" {
			_, err = os.Stat(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostGuestLine pins the import facts that keep the host and the guest
// apart: the protocol is a leaf, the VM layer does not link the agent, and
// ktstr-topo links nothing of the guest (and no cilium/ebpf).
func TestHostGuestLine(t *testing.T) {
	statSources(t)
	for _, d := range deps(t, module+"lib/proto") {
		if strings.HasPrefix(d, module) && d != module+"lib/proto" && d != module+"lib/record" {
			t.Errorf("lib/proto imports %s: it must stay a leaf (stdlib and lib/record only)", d)
		}
	}
	for _, pkg := range []string{"lib/vm", "lib/rootfs", "cmd/ktstr-topo"} {
		for _, d := range deps(t, module+pkg) {
			for _, g := range guestSide {
				if d == g || strings.HasPrefix(d, g+"/") {
					t.Errorf("%s reaches guest-side package %s", pkg, d)
				}
			}
		}
	}
}
