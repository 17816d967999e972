package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// TestMain lets this test binary serve as the worker executable.
func TestMain(m *testing.M) {
	if role.Current() == role.Worker {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func hostCgroup(t *testing.T) *cgroup.Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, mount := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		b, _ := os.ReadFile("/proc/mounts")
		if strings.Contains(string(b), " "+mount+" cgroup2 ") {
			m, err := cgroup.New(mount, fmt.Sprintf("ktstr-wl-%d", os.Getpid()), []string{"cpuset"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Cleanup() })
			return m
		}
	}
	t.Skip("no cgroup2 mount")
	return nil
}

func TestEveryWorkTypeRuns(t *testing.T) {
	m := hostCgroup(t)
	exe, _ := os.Executable()
	allowed, _ := m.EffectiveCPUs("")
	for _, ty := range workload.Types {
		spec := workload.Spec{Type: ty.Name}
		n := max(2, spec.GroupSize())
		switch ty.Name {
		case "Custom":
			spec.Command = []string{"sh", "-c", "while :; do :; done"}
		case "Sequence":
			spec.Phases = []workload.Phase{{Kind: "spin", MS: 5}, {Kind: "sleep", MS: 2}, {Kind: "yield", MS: 2}, {Kind: "io", MS: 2}}
		case "PolicyChurn", "NiceSweep":
			// real-time and negative nice need root, which the test has
		}
		if err := spec.Validate(n); err != nil {
			t.Fatalf("%s: %v", ty.Name, err)
		}
		t.Run(ty.Name, func(t *testing.T) {
			name := strings.ToLower(ty.Name)
			dir, err := m.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			workers, err := Launch(exe, dir, name, spec, n, nil, allowed)
			if err != nil {
				t.Fatal(err)
			}
			// Every worker lives in the cgroup from its first instruction.
			pids, _ := m.Procs(name)
			if len(pids) != n {
				t.Errorf("%d processes in the cgroup, want %d", len(pids), n)
			}
			Go(workers)
			time.Sleep(400 * time.Millisecond)
			Stop(workers)
			reps := Collect(workers, 5*time.Second, 5*time.Second)
			for i, r := range reps {
				if r.Error != "" {
					t.Errorf("worker %d: %s", i, r.Error)
				}
				if r.WallS <= 0 {
					t.Errorf("worker %d: no wall time", i)
				}
				if ty.Name == "Custom" {
					continue
				}
				if r.WorkUnits == 0 {
					t.Errorf("worker %d: no work done: %+v", i, r)
				}
				if r.CPUsUsed == "" {
					t.Errorf("worker %d: no CPUs recorded", i)
				}
				if messenger := ty.Messenger && i%spec.GroupSize() == 0; messenger != (r.Role == "messenger") {
					t.Errorf("worker %d: role %q, messenger %v", i, r.Role, messenger)
				}
			}
			if ty.Wakes && ty.Name != "Custom" {
				total := uint64(0)
				for _, r := range reps {
					total += r.WakeSamples
				}
				if total == 0 {
					t.Errorf("%s records wake latency but has no samples", ty.Name)
				}
			}
			if err := m.Remove(name); err != nil {
				t.Errorf("remove: %v", err)
			}
		})
	}
	if left, _ := filepath.Glob("/tmp/ktstr-*io*"); len(left) > 0 {
		t.Errorf("IoSync left files: %v", left)
	}
}

func TestPausedWorkerShowsGap(t *testing.T) {
	m := hostCgroup(t)
	exe, _ := os.Executable()
	dir, _ := m.Create("gap")
	workers, err := Launch(exe, dir, "gap", workload.Spec{Type: "CpuSpin"}, 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	Go(workers)
	time.Sleep(100 * time.Millisecond)
	workers[0].Pause(700 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	Stop(workers)
	r := Collect(workers, 5*time.Second, 5*time.Second)[0]
	// A busier host may add a longer gap of its own, never a shorter one.
	if r.MaxGapMS < 650 || r.MaxGapCPU < 0 {
		t.Errorf("gap %.0f ms on cpu %d; want ≥ 650 ms (a 700 ms pause)", r.MaxGapMS, r.MaxGapCPU)
	}
}

// TestPoliciesApply: nice, a real-time class, an exact affinity and a
// memory policy are applied before the worker starts (an error would be in
// its report).
func TestPoliciesApply(t *testing.T) {
	m := hostCgroup(t)
	exe, _ := os.Executable()
	dir, _ := m.Create("policies")
	spec := workload.Spec{Type: "CpuSpin", Nice: 5, Policy: &workload.Policy{Class: "rr", Priority: 1},
		Affinity: &workload.Affinity{Kind: "exact", CPUs: "0"}, MemPolicy: &workload.MemPolicy{Kind: "bind", Nodes: "0"}}
	if err := spec.Validate(1); err != nil {
		t.Fatal(err)
	}
	workers, err := Launch(exe, dir, "policies", spec, 1, func(int) []int { return []int{0} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	Go(workers)
	time.Sleep(200 * time.Millisecond)
	Stop(workers)
	r := Collect(workers, 5*time.Second, 5*time.Second)[0]
	if r.Error != "" || r.WorkUnits == 0 || r.CPUsUsed != "0" || r.Policy != "rr" || r.Affinity != "exact" {
		t.Errorf("%+v", r)
	}
}

// A worker stopped just before the scenario ends still shows that gap: the
// last checkpoint is taken at the agent's stop time.
func TestGapAtStopIsMeasured(t *testing.T) {
	m := hostCgroup(t)
	exe, _ := os.Executable()
	dir, _ := m.Create("endgap")
	workers, err := Launch(exe, dir, "endgap", workload.Spec{Type: "CpuSpin"}, 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	Go(workers)
	time.Sleep(200 * time.Millisecond)
	workers[0].cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(400 * time.Millisecond)
	Stop(workers) // while it cannot run
	time.Sleep(100 * time.Millisecond)
	workers[0].cmd.Process.Signal(syscall.SIGCONT)
	r := Collect(workers, 5*time.Second, 5*time.Second)[0]
	// At least the 400 ms stopped before the stop; and the gap ends at the
	// stop, not 100 ms later when the worker could run again (the worker's
	// wall time ends at the stop too). A loaded host may make the largest
	// gap an earlier one, which must end by the stop all the same.
	if r.Unreported || r.MaxGapMS < 350 || r.MaxGapAtMS+r.MaxGapMS > r.WallS*1000+5 {
		t.Errorf("gap %.0f ms at +%.0f ms, wall %.0f ms (unreported %v); want ≥ 350 ms, ending by the stop", r.MaxGapMS, r.MaxGapAtMS, r.WallS*1000, r.Unreported)
	}
	if r.MaxOnCPUStallMS > r.MaxGapMS {
		t.Errorf("an off-CPU stop counted as on-CPU stall: %.0f ms", r.MaxOnCPUStallMS)
	}
}

// A worker that can never run again is reported from its progress slot
// after the grace, killed, and marked unreported with how long it was stuck.
func TestStuckWorkerIsReportedAfterGrace(t *testing.T) {
	m := hostCgroup(t)
	exe, _ := os.Executable()
	dir, _ := m.Create("stuck")
	allowed, _ := m.EffectiveCPUs("stuck")
	workers, err := Launch(exe, dir, "stuck", workload.Spec{Type: "CpuSpin"}, 2, nil, allowed)
	if err != nil {
		t.Fatal(err)
	}
	Go(workers)
	time.Sleep(300 * time.Millisecond)
	workers[1].cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(500 * time.Millisecond)
	Stop(workers)
	t0 := time.Now()
	reps := Collect(workers, 10*time.Second, 500*time.Millisecond)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("collect took %s with a 500 ms grace", d)
	}
	ok, stuck := reps[0], reps[1]
	if ok.Unreported || ok.WorkUnits == 0 || ok.StartT == 0 || ok.AllowedCPUs == "" || !ok.CPUBound {
		t.Errorf("running worker: %+v", ok)
	}
	// Stuck at least the 500 ms it was stopped before the stop, at most
	// its whole runnable span (a loaded host may have kept it off the CPU
	// before the SIGSTOP too).
	if span := stuck.StopT - stuck.StartT; !stuck.Unreported || stuck.WorkUnits == 0 || stuck.StuckS < 0.45 || stuck.StuckS > span+0.01 || stuck.MaxGapMS < 450 || stuck.CPUS <= 0 {
		t.Errorf("stuck worker: unreported %v, units %d, stuck %.2fs, gap %.0fms, cpu %.2fs", stuck.Unreported, stuck.WorkUnits, stuck.StuckS, stuck.MaxGapMS, stuck.CPUS)
	}
	// The CPU it last ran on, from the kernel: one it was allowed.
	if used, _ := topology.ParseList(stuck.CPUsUsed); len(used) != 1 || !slices.Contains(allowed, used[0]) {
		t.Errorf("stuck worker: cpus_used %q, want the one allowed CPU (of %v) it last ran on", stuck.CPUsUsed, allowed)
	}
	// Killed: gone, or a zombie until its collector reaps it.
	alive := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", stuck.PID))
		if err != nil {
			return false
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
	}
	for i := 0; alive() && i < 20; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if alive() {
		t.Errorf("stuck worker %d still alive 2 s after the grace", stuck.PID)
	}
}
