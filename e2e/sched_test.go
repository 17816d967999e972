package e2e

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/record"
)

// TestKernelTreeSchedulersRunBasicScenarios: scx_simple, scx_qmap,
// scx_central and scx_flatcg each attach in a 1,2,2,1 VM, run the basic
// scenarios and pass, with their programs listed with verified_insns > 0.
func TestKernelTreeSchedulersRunBasicScenarios(t *testing.T) {
	e2e(t)
	for _, s := range []string{"scx_simple", "scx_qmap", "scx_central", "scx_flatcg"} {
		t.Run(s, func(t *testing.T) {
			r, runs := bootVerify(t, "ktstr-boot -j 2 --kernel "+kernelSpec()+" --topology 1,2,2,1 --scheduler "+s+
				" --scenario cgroup_steady,cgroup_cpuset_llc_steady,cgroup_cpuset_cross_llc_steady", "")
			if !strings.Contains(r.stderr, "=== BPF programs") {
				t.Errorf("no program table on stderr")
			}
			for _, l := range records(t, r.stdout)[record.KindVerdict] {
				v := decodeVerdict(t, l)
				if v.Status == record.StatusFail || v.Status == record.StatusError {
					t.Errorf("%s: %s: %s", v.Subject, v.Status, failedDetail(v))
				}
			}
			for _, run := range runs {
				if run.Scheduler == nil || !run.Scheduler.Attached || len(run.Scheduler.Programs) == 0 {
					t.Fatalf("%s: scheduler %+v", run.Job.ID, run.Scheduler)
				}
				for _, p := range run.Scheduler.Programs {
					if p.VerifiedInsns == 0 {
						t.Errorf("%s: program %s has verified_insns 0", run.Job.ID, p.Name)
					}
				}
			}
		})
	}
}

func failedDetail(v *record.Verdict) string {
	var out []string
	for _, c := range v.Checks {
		if c.Status == record.StatusFail || c.Status == record.StatusError {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(out, "; ")
}

// TestSchedulerErrorExitIsNamed: scx_qmap's error knob (-e: scx_bpf_error
// after N enqueues) gives scheduler_died with the exit reason text.
func TestSchedulerErrorExitIsNamed(t *testing.T) {
	e2e(t)
	r, runs := bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,2,2,1 --scheduler scx_qmap --scheduler-args=\"-e 200\" --scenario cgroup_steady", "")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	run := runs[0]
	if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Reason, "EXIT: scx_bpf_error (test triggering error)") ||
		!strings.Contains(run.Reason, `BPF scheduler "qmap" disabled (scx_bpf_error)`) {
		t.Errorf("outcome %s reason %q", run.Outcome, run.Reason)
	}
	if !strings.Contains(r.stderr, "--- scheduler log:") {
		t.Errorf("no scheduler log on stderr")
	}
}

// TestSchedulerStallIsCaught: scx_qmap's stall knob (-t: stall every Nth
// user task) is caught by the sched_ext watchdog and named.
func TestSchedulerStallIsCaught(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,2,2,1 --scheduler scx_qmap --scheduler-args=\"-t 20\" --scenario cgroup_steady --duration 10", "")
	run := decodeRun(t, records(t, r.stdout)[record.KindRun][0])
	if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Reason, "runnable task stall") {
		t.Errorf("outcome %s reason %q", run.Outcome, run.Reason)
	}
	if run.Scheduler == nil || !strings.Contains(run.Scheduler.Log, "runnable task stall") {
		t.Errorf("the scheduler's exit dump is missing from its log")
	}
}

// TestAllProfiles: one VM per flag profile, named by its flags.
func TestAllProfiles(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-topo 1,1,2,1 | ktstr-boot -j 2 --kernel "+kernelSpec()+" --scheduler scx_simple --all-profiles --exec 'cat /sys/kernel/sched_ext/root/ops'", "")
	var profiles []string
	for _, l := range records(t, r.stdout)[record.KindRun] {
		run := decodeRun(t, l)
		profiles = append(profiles, run.Job.Scheduler.Profile+"="+strings.Join(run.Job.Scheduler.Args, " "))
		if run.Outcome != record.OutcomeCompleted || strings.TrimSpace(run.Exec.Stdout) != "simple" {
			t.Errorf("%s: %s %q", run.Job.ID, run.Outcome, run.Exec.Stdout)
		}
	}
	got := strings.Join(profiles, ",")
	if got != "default=,fifo=-f" && got != "fifo=-f,default=" {
		t.Errorf("profiles %q", got)
	}
}
