package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGKILLLeftoversSweptByNextRun: a ktstr-boot killed with SIGKILL
// cannot clean up; QEMU dies with it, and the next ktstr-boot removes the
// /dev/shm guest-RAM files and the $TMPDIR/ktstr-boot-PID-* directory that
// the dead process left.
func TestSIGKILLLeftoversSweptByNextRun(t *testing.T) {
	e2e(t)
	tmp := os.Getenv("TMPDIR") // e2e gave this test its own
	cmd, _, errb := startSh(t, "exec ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,1,1 --exec 'sleep 1000'")
	pid := cmd.Process.Pid
	// Wait until the run's temporary directory exists and QEMU has created
	// a guest-RAM file: a VM runs (the job's own, or the one that makes
	// its machine's snapshot). No timing assertion: the deadline only
	// bounds a hang.
	var left, shm []string
	for deadline := time.Now().Add(2 * time.Minute); len(left) == 0 || len(shm) == 0; {
		left, _ = filepath.Glob(filepath.Join(tmp, "ktstr-boot-*"))
		shm, _ = filepath.Glob(fmt.Sprintf("/dev/shm/ktstr-%d-*", pid))
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no temporary directory appeared; stderr: %s", errb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	dirs, _ := filepath.Glob(filepath.Join(tmp, "ktstr-boot-*"))
	if len(dirs) != 1 {
		t.Fatalf("after SIGKILL: temporary directories %v, want the one the killed run left", dirs)
	}
	if !strings.HasPrefix(filepath.Base(dirs[0]), "ktstr-boot-"+strconv.Itoa(pid)+"-") {
		t.Errorf("temporary directory %s does not name its owner %d", dirs[0], pid)
	}
	// The next run (here one with nothing to boot) sweeps what the dead one left.
	if r := sh(t, "ktstr-boot < /dev/null", ""); r.code != 0 {
		t.Fatalf("next run: exit %d: %s", r.code, r.stderr)
	}
	assertNoLeaks(t)
}
