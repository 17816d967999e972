// Package golist runs `go list` for the tests that pin the module's import
// graph (the host/guest line in lib/proto, the roles of the one binary in
// cmd/ktstr-boot).
package golist

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// List runs go list with args, via the go tool the test runs under, and
// returns the fields it printed (with "-deps", pkg: the packages pkg
// reaches, itself included).
func List(t testing.TB, args ...string) []string {
	t.Helper()
	// go test puts its own GOROOT/bin first in the tests' PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// StatSources stats every Go file and go.mod below root (the module's
// root): go test caches a passing result keyed on the files the test
// touched, and go list reads them in another process, so without this an
// import added later would not rerun the test.
func StatSources(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
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
