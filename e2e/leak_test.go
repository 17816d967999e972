package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests prove that the leak check can fail: each leaves one thing
// behind on purpose, the way a broken run would, and asserts that findLeaks
// names it, and that it names nothing once the thing is gone. They boot no
// kernel and need no KTSTR_E2E.

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// reports asserts that leaks has exactly one line containing what.
func reports(t *testing.T, leaks []string, what string) {
	t.Helper()
	n := 0
	for _, l := range leaks {
		if strings.Contains(l, what) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("leak check: %d reports of %s, want 1; all: %q", n, what, leaks)
	}
}

func leakFree(t *testing.T, leaks []string, what string) {
	t.Helper()
	for _, l := range leaks {
		if strings.Contains(l, what) {
			t.Errorf("leak check reports %s after its removal: %s", what, l)
		}
	}
}

// TestLeakCheckTempDirWithoutTMPDIR: with TMPDIR unset, as in CI, the
// tools put their job directories in /tmp, and the check must look there
// (it once globbed "ktstr-*" relative to the working directory).
func TestLeakCheckTempDirWithoutTMPDIR(t *testing.T) {
	t.Setenv("TMPDIR", "")
	if os.TempDir() != "/tmp" {
		t.Fatalf("os.TempDir() = %s with TMPDIR unset", os.TempDir())
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("ktstr-boot-%d-leakcheck", deadPID(t)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.WriteFile(filepath.Join(dir, "initrd"), []byte("x"), 0o600)
	reports(t, findLeaks(hostLeakPlaces()), dir)
	os.RemoveAll(dir)
	leakFree(t, findLeaks(hostLeakPlaces()), dir)
}

// TestLeakCheckPlaces: a job directory and a guest-RAM file of a dead
// owner, a cgroup and a QEMU process running with the test's TMPDIR are
// each reported; entries of a live owner (a run in progress elsewhere) are
// not; and a clean place reports nothing.
func TestLeakCheckPlaces(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	p := leakPlaces{tmp: os.TempDir(), shm: t.TempDir(), cgroup: t.TempDir()}
	if leaks := findLeaks(p); len(leaks) != 0 {
		t.Fatalf("clean places: %q", leaks)
	}
	dead := deadPID(t)

	jobDir := filepath.Join(tmp, fmt.Sprintf("ktstr-boot-%d-123", dead))
	os.Mkdir(jobDir, 0o700)
	liveDir := filepath.Join(tmp, fmt.Sprintf("ktstr-boot-%d-456", os.Getpid()))
	os.Mkdir(liveDir, 0o700)
	ram := filepath.Join(p.shm, fmt.Sprintf("ktstr-%d-1-node0", dead))
	os.WriteFile(ram, nil, 0o600)
	liveRAM := filepath.Join(p.shm, fmt.Sprintf("ktstr-%d-1-node0", os.Getpid()))
	os.WriteFile(liveRAM, nil, 0o600)
	cg := filepath.Join(p.cgroup, "cpu", "ktstr-leakcheck")
	os.MkdirAll(cg, 0o755)

	leaks := findLeaks(p)
	reports(t, leaks, jobDir)
	reports(t, leaks, ram)
	reports(t, leaks, cg)
	leakFree(t, leaks, liveDir)
	leakFree(t, leaks, liveRAM)
	if len(leaks) != 3 {
		t.Errorf("%d leaks, want 3: %q", len(leaks), leaks)
	}
	for _, f := range []string{jobDir, ram, cg} {
		os.RemoveAll(f)
	}
	leakFree(t, findLeaks(p), "ktstr")
}

// TestLeakCheckQEMU: a real QEMU (no machine, nothing booted) running
// with the test's TMPDIR is reported until it is gone; the same check
// with another TMPDIR does not claim it.
func TestLeakCheckQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("no qemu-system-x86_64")
	}
	tmp := t.TempDir()
	cmd := exec.Command(qemu, "-machine", "none", "-nodefaults", "-display", "none", "-S", "-name", "leakcheck")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); cmd.Wait() })
	p := leakPlaces{tmp: tmp, shm: t.TempDir(), cgroup: t.TempDir()}
	want := fmt.Sprintf("process %d still running", pid)
	var leaks []string
	// exec has returned before the new process image is in /proc.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if leaks = findLeaks(p); len(leaks) > 0 {
			break
		}
	}
	reports(t, leaks, want)
	other := leakPlaces{tmp: t.TempDir(), shm: p.shm, cgroup: p.cgroup}
	leakFree(t, findLeaks(other), want)
	syscall.Kill(pid, syscall.SIGKILL)
	cmd.Wait()
	leakFree(t, findLeaks(p), want)
}
