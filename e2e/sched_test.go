package e2e

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestKernelTreeSchedulersRunBasicScenarios: scx_simple, scx_qmap,
// scx_central and scx_flatcg each attach in a 1,2,2,1 VM, run the three
// basic scenarios (three runs, three verdicts each) and pass, inconclusive
// included as a failure, with their programs listed with verified_insns > 0.
func TestKernelTreeSchedulersRunBasicScenarios(t *testing.T) {
	e2e(t)
	for _, s := range []string{"scx_simple", "scx_qmap", "scx_central", "scx_flatcg"} {
		t.Run(s, func(t *testing.T) {
			r, runs := bootVerify(t, "ktstr-boot -j 2 --kernel "+kernelSpec()+" --topology 1,2,2,1 --scheduler "+s+
				" --scenario cgroup_steady,cgroup_cpuset_llc_steady,cgroup_cpuset_cross_llc_steady", "-v")
			// Program tables of scenario runs are shown with -v (by default
			// only for verifier jobs).
			if !strings.Contains(r.stderr, "=== BPF programs") {
				t.Errorf("no program table on stderr with -v")
			}
			wantRuns(t, runs, 3)
			byID := map[string]*record.Run{}
			for _, run := range runs {
				byID[run.ID] = run
			}
			for _, l := range exactly(t, r.stdout, record.KindVerdict, 3) {
				v := decodeVerdict(t, l)
				wantHealthy(t, v, byID[v.RunID], "--scheduler "+s)
			}
			for _, run := range runs {
				if run.Scheduler != nil && run.Scheduler.Died {
					continue // judged by wantHealthy above; its programs were unloaded
				}
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

// TestSchedulerErrorExitIsNamed: scx_qmap's error knob (-e: scx_bpf_error
// after N enqueues) gives scheduler_died with the exit reason text.
func TestSchedulerErrorExitIsNamed(t *testing.T) {
	e2e(t)
	r, runs := bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,2,2,1 --scheduler scx_qmap --scheduler-args=\"-e 200\" --scenario cgroup_steady", "")
	wantRuns(t, runs, 1)
	if v := onlyVerdict(t, r.stdout); v.Status != record.StatusFail || r.code != 1 {
		t.Errorf("verdict %s, exit %d; want fail, 1", v.Status, r.code)
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
	run := onlyRun(t, r.stdout)
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
	for _, l := range exactly(t, r.stdout, record.KindRun, 2) {
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
