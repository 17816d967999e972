package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unifiedMount finds a writable cgroup2 mount on the test host.
func unifiedMount(t *testing.T) string {
	for _, m := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(m, "cgroup.procs")); err == nil {
			if b, err := os.ReadFile("/proc/mounts"); err == nil && strings.Contains(string(b), " "+m+" cgroup2 ") {
				return m
			}
		}
	}
	t.Skip("no cgroup2 mount on this host")
	return ""
}

func TestCreateMoveRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mount := unifiedMount(t)
	m, err := New(mount, fmt.Sprintf("ktstr-test-%d", os.Getpid()), []string{"cpuset", "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Cleanup()
	if _, err := m.Create("a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("d"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := m.Move(cmd.Process.Pid, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	if pids, _ := m.Procs("a/b/c"); !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("pid not in a/b/c: %v", pids)
	}
	if err := m.MoveAll("a/b/c", "d"); err != nil {
		t.Fatal(err)
	}
	if pids, _ := m.Procs("d"); !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("pid not moved to d: %v", pids)
	}
	// A process that has exited moves without error.
	done := exec.Command("true")
	done.Run()
	if err := m.Move(done.Process.Pid, "d"); err != nil {
		t.Errorf("moving an exited process: %v", err)
	}
	// Removing a cgroup with a task drains it first.
	if err := m.Remove("d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir("d")); !os.IsNotExist(err) {
		t.Error("d still exists")
	}
	if err := m.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Root); !os.IsNotExist(err) {
		t.Error("root still exists after Cleanup")
	}
	if _, err := m.Create("../escape"); err == nil {
		t.Error("escaping name accepted")
	}
}
