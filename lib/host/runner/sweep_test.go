package runner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

// TestNewSweepsTempDirsOfKilledRuns: a ktstr-boot killed with SIGKILL
// cannot remove its temporary directory (the initrd, ~13 MB); the next
// runner removes those whose owner is gone and leaves the others.
func TestNewSweepsTempDirsOfKilledRuns(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	t.Setenv("KTSTR_QEMU", "true") // New only looks QEMU up and asks its version
	dead := filepath.Join(tmp, fmt.Sprintf("%s%d-123", tempPrefix, deadPid(t)))
	live := filepath.Join(tmp, fmt.Sprintf("%s%d-456", tempPrefix, os.Getppid()))
	other := filepath.Join(tmp, tempPrefix+"notapid")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "initrd"), []byte("x"), 0o644)
	}
	p, err := plan.New(plan.Flags{DurationS: 1, Workers: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Source: "test"}, p, record.NewWriter(&bytes.Buffer{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s of a dead pid is still there (%v)", dead, err)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s must stay: %v", d, err)
		}
	}
}

func TestTempDirNamesCarryThePid(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := makeTempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	if want := fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()); filepath.Base(d)[:len(want)] != want {
		t.Errorf("temp dir %s does not start with %s", d, want)
	}
}
