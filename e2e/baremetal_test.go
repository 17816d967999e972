package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// bareMetalCgroups are the cgroup parents bare-metal runs create by
// default, on a unified or a hybrid cgroup host.
func bareMetalCgroups() []string {
	var out []string
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		m, _ := filepath.Glob(filepath.Join(root, "ktstr-baremetal-*"))
		out = append(out, m...)
	}
	return out
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bare metal needs root")
	}
}

// TestBareMetalCgroupSteady runs cgroup_steady on this host under its own
// scheduler (EEVDF): the run record has the VM runs' shape with accel
// none, this host's topology observed, the steps' idle times, and it
// passes ktstr-verify.
func TestBareMetalCgroupSteady(t *testing.T) {
	e2e(t)
	needRoot(t)
	r, runs := bootVerify(t, "ktstr-boot --bare-metal --scenario cgroup_steady --duration 3", "")
	wantRuns(t, runs, 1)
	run := runs[0]
	if run.Host.Accel != "none" || run.Outcome != record.OutcomeCompleted {
		t.Errorf("accel %q outcome %s (%s), want none and completed", run.Host.Accel, run.Outcome, run.Reason)
	}
	if run.ObservedTopology == nil || run.ObservedTopology.Source != "host" || run.ObservedTopology.CPUs != run.Job.Topology.CPUs {
		t.Errorf("observed topology %+v, want this host's (%d CPUs)", run.ObservedTopology, run.Job.Topology.CPUs)
	}
	if run.Guest == nil || run.Guest.KernelRelease == "" {
		t.Errorf("no host kernel facts: %+v", run.Guest)
	}
	if run.Scenario == nil || len(run.Scenario.Steps) == 0 || len(run.Scenario.Steps[0].IdleS) == 0 {
		t.Fatalf("no per-step idle times: %+v", run.Scenario)
	}
	for _, cg := range run.Scenario.Cgroups {
		if len(cg.Workers) == 0 {
			t.Errorf("cgroup %s: no worker reports", cg.Name)
		}
	}
	if r.code != 0 {
		t.Errorf("ktstr-verify exit %d, want 0 (pass); verdicts:\n%s", r.code, r.stdout)
	}
	if left := bareMetalCgroups(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// TestBareMetalSIGINT interrupts a bare-metal run while its workers run:
// ktstr-boot exits 130 with an interrupted run record, and neither a
// cgroup nor a worker process is left.
func TestBareMetalSIGINT(t *testing.T) {
	e2e(t)
	needRoot(t)
	cmd, out, errb := startSh(t, "exec ktstr-boot --bare-metal --scenario cgroup_steady --duration 60")
	var workers []int
	var parent string
	for deadline := time.Now().Add(30 * time.Second); len(workers) < 4 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		workers = nil
		for _, p := range bareMetalCgroups() {
			procs, _ := filepath.Glob(filepath.Join(p, "run-*", "*", "cgroup.procs"))
			for _, f := range procs {
				b, _ := os.ReadFile(f)
				for _, s := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(s); err == nil {
						workers = append(workers, pid)
						parent = p
					}
				}
			}
		}
	}
	if len(workers) < 4 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("workers never appeared in a bare-metal cgroup (found %v); stderr:\n%s", workers, errb)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	t.Logf("stderr:\n%s", errb)
	if code != 130 {
		t.Errorf("exit %d after SIGINT, want 130", code)
	}
	run := onlyRun(t, out.String())
	if run.Outcome != record.OutcomeInterrupted {
		t.Errorf("outcome %s, want interrupted", run.Outcome)
	}
	if _, err := os.Stat(parent); !os.IsNotExist(err) {
		t.Errorf("cgroup parent %s still there (%v)", parent, err)
	}
	for _, pid := range workers {
		if alive(pid) {
			t.Errorf("worker %d still running after SIGINT", pid)
		}
	}
}

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestBareMetalSkipTooSmall: a scenario that needs 2 NUMA nodes, on this
// 1-node host, is a skip record with the reason, not a failure.
func TestBareMetalSkipTooSmall(t *testing.T) {
	e2e(t)
	needRoot(t)
	r := sh(t, "ktstr-boot --bare-metal --scenario cgroup_cpuset_numa_swap --duration 3", "")
	skips := exactly(t, r.stdout, record.KindSkip, 1)
	exactly(t, r.stdout, record.KindRun, 0)
	var s record.Skip
	if err := record.Unmarshal([]byte(skips[0]), &s); err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(s.Detail, "needs 2 NUMA nodes") {
		t.Errorf("exit %d, skip %+v; want 0 and the NUMA reason", r.code, s)
	}
	if left := bareMetalCgroups(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// TestBareMetalHostScheduler: a scheduler needs --allow-host-scheduler,
// and with it a kernel without sched_ext is a skip.
func TestBareMetalHostScheduler(t *testing.T) {
	e2e(t)
	needRoot(t)
	r := sh(t, "ktstr-boot --bare-metal --scenario cgroup_steady --scheduler scx_simple", "")
	if r.code != 2 || !strings.Contains(r.stderr, "--allow-host-scheduler") {
		t.Errorf("exit %d, stderr %q; want 2 naming --allow-host-scheduler", r.code, r.stderr)
	}
	if _, err := os.Stat("/sys/kernel/sched_ext"); err == nil {
		t.Skip("this host's kernel has sched_ext: the skip cannot be shown here")
	}
	r = sh(t, "ktstr-boot --bare-metal --allow-host-scheduler --scenario cgroup_steady --scheduler scx_simple", "")
	skips := exactly(t, r.stdout, record.KindSkip, 1)
	if r.code != 0 || !strings.Contains(skips[0], "host kernel has no sched_ext") {
		t.Errorf("exit %d, skip %s; want 0 and 'host kernel has no sched_ext'", r.code, skips[0])
	}
}

// TestBareMetalRefusals: without root the run is refused in one line.
func TestBareMetalRefusals(t *testing.T) {
	e2e(t)
	needRoot(t)
	r := sh(t, "setpriv --reuid=65534 --regid=65534 --clear-groups ktstr-boot --bare-metal --scenario cgroup_steady", "")
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "needs root") {
		t.Errorf("exit %d, stderr %q; want a failure in one line saying root is needed", r.code, r.stderr)
	}
}
