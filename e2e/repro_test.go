package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// reproPipeline runs a failing boot, keeps its run records, and feeds them
// to "ktstr-repro | ktstr-boot | ktstr-repro | ktstr-verify". It returns
// the original run, the repro records, the rerun's run records and
// ktstr-verify's result. between, if set, runs after the first boot.
func reproPipeline(t *testing.T, boot string, between func()) (*record.Run, []*record.Repro, []*record.Run, result) {
	t.Helper()
	dir := t.TempDir()
	runs, reruns := filepath.Join(dir, "runs.ndjson"), filepath.Join(dir, "reruns.ndjson")
	sh(t, boot+" > "+runs, "")
	recs := records(t, readFile(t, runs))[record.KindRun]
	if len(recs) != 1 {
		t.Fatalf("%d run records, want 1", len(recs))
	}
	orig := decodeRun(t, recs[0])
	if between != nil {
		between()
	}
	r := sh(t, fmt.Sprintf("ktstr-repro --only-failures < %s | ktstr-boot | tee %s | ktstr-repro | ktstr-verify", runs, reruns), "")
	var reps []*record.Repro
	for _, l := range records(t, r.stdout)[record.KindRepro] {
		var rep record.Repro
		if err := record.Unmarshal([]byte(l), &rep); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, &rep)
	}
	var rr []*record.Run
	for _, l := range records(t, readFile(t, reruns))[record.KindRun] {
		rr = append(rr, decodeRun(t, l))
	}
	return orig, reps, rr, r
}

// wantReproduced checks the one repro of a reproduced failure: the same
// class and reason, the rerun under single-threaded TCG (and saying why),
// ktstr-verify's timeline on stderr.
func wantReproduced(t *testing.T, orig *record.Run, reps []*record.Repro, reruns []*record.Run, r result) *record.Repro {
	t.Helper()
	if len(reps) != 1 || len(reruns) != 1 {
		t.Fatalf("%d repro records and %d reruns, want 1 and 1", len(reps), len(reruns))
	}
	rep, rerun := reps[0], reruns[0]
	if rep.RunID != orig.ID || rep.ReproRunID != rerun.ID {
		t.Errorf("repro names runs %s → %s, want %s → %s", rep.RunID, rep.ReproRunID, orig.ID, rerun.ID)
	}
	if !rep.Reproduced || !rep.ReasonMatched {
		t.Errorf("reproduced %v, reason matched %v: %s (original %s: %s; rerun %s)", rep.Reproduced, rep.ReasonMatched,
			rep.Detail, orig.Outcome, orig.Reason, rep.Observed)
	}
	if rerun.Host.TCGThreads != "single" || !strings.Contains(rerun.Host.TCGThreadsReason, "probes") || rep.TCGThreads != "single" {
		t.Errorf("rerun under tcg %q (%s), want single because of the probes", rerun.Host.TCGThreads, rerun.Host.TCGThreadsReason)
	}
	// The identical job: the rerun's scheduler argv is the original's,
	// flag profile included.
	if (orig.Job.Scheduler == nil) != (rerun.Job.Scheduler == nil) ||
		(orig.Job.Scheduler != nil && !slices.Equal(orig.Job.Scheduler.Args, rerun.Job.Scheduler.Args)) {
		t.Errorf("rerun scheduler %+v, original %+v", rerun.Job.Scheduler, orig.Job.Scheduler)
	}
	if !strings.Contains(r.stderr, "=== repro of "+orig.ID) || !strings.Contains(r.stderr, "REPRODUCED (same reason)") {
		t.Errorf("ktstr-verify printed no repro timeline")
	}
	return rep
}

// target returns the chain's probe named name (prefix match for BPF
// programs), or fails.
func target(t *testing.T, rep *record.Repro, typ, name string) record.ProbeTarget {
	t.Helper()
	for _, p := range rep.Chain {
		if p.Type == typ && strings.HasPrefix(p.Name, name) {
			return p
		}
	}
	t.Fatalf("no %s probe %s in the chain %+v", typ, name, rep.Chain)
	return record.ProbeTarget{}
}

// TestReproFixtureError: the fixture's error knob (scx_bpf_error after
// 500 enqueues) comes back under the probes with the same reason; the
// fixture's enqueue program is traced and seen, the trigger fired with the
// BPF error's exit kind, and the timeline names the program.
func TestReproFixtureError(t *testing.T) {
	e2e(t)
	orig, reps, reruns, r := reproPipeline(t, fmt.Sprintf("ktstr-boot --kernel %s --topology 1,1,2,1 --scheduler ktstr-fixture --flags error --scenario cgroup_steady --duration 4", kernelSpec()), nil)
	if orig.Outcome != record.OutcomeSchedulerDied {
		t.Fatalf("original run %s: %s", orig.Outcome, orig.Reason)
	}
	rep := wantReproduced(t, orig, reps, reruns, r)
	enq := target(t, rep, "bpf", "ktstr_enqueue")
	if enq.Error != "" || enq.Events < 1 {
		t.Errorf("ktstr_enqueue probe: %+v, want attached with ≥ 1 event", enq)
	}
	if k := target(t, rep, "kernel", "do_enqueue_task"); k.Error != "" || k.Events < 1 {
		t.Errorf("do_enqueue_task probe: %+v", k)
	}
	if rep.Fired == nil || !slices.Contains(rep.Fired.Args, "kind=ERROR_BPF") {
		t.Errorf("trigger %+v, want the exit claimed with ERROR_BPF", rep.Fired)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "ktstr_enqueue") || !strings.Contains(r.stderr, "enq_flags=") {
		t.Errorf("exit %d; want 1 (the rerun fails) and a timeline naming ktstr_enqueue with decoded enq_flags", r.code)
	}
}

// TestReproQmapError: scx_qmap's own error knob (-e 200: scx_bpf_error
// after 200 enqueues) likewise, with the knob in the rerun's argv.
func TestReproQmapError(t *testing.T) {
	e2e(t)
	orig, reps, reruns, r := reproPipeline(t, fmt.Sprintf(`ktstr-boot --kernel %s --topology 1,1,2,1 --scheduler scx_qmap --scheduler-args="-e 200" --scenario cgroup_steady --duration 4`, kernelSpec()), nil)
	if orig.Outcome != record.OutcomeSchedulerDied {
		t.Fatalf("original run %s: %s", orig.Outcome, orig.Reason)
	}
	rep := wantReproduced(t, orig, reps, reruns, r)
	if !slices.Contains(reruns[0].Job.Scheduler.Args, "200") {
		t.Errorf("rerun argv %v lost -e 200", reruns[0].Job.Scheduler.Args)
	}
	if enq := target(t, rep, "bpf", "qmap_enqueue"); enq.Error != "" || enq.Events < 1 {
		t.Errorf("qmap_enqueue probe: %+v, want attached with ≥ 1 event", enq)
	}
}

// TestReproPanic: a guest kernel panic (SysRq c from --exec) is rerun
// with the panic's call trace probed; the events come from the console's
// trace dump and show the crash path.
func TestReproPanic(t *testing.T) {
	e2e(t)
	orig, reps, reruns, r := reproPipeline(t, fmt.Sprintf(`ktstr-boot --kernel %s --topology 1,1,2,1 --exec 'echo c > /proc/sysrq-trigger'`, kernelSpec()), nil)
	if orig.Outcome != record.OutcomeKernelPanic {
		t.Fatalf("original run %s: %s", orig.Outcome, orig.Reason)
	}
	rep := wantReproduced(t, orig, reps, reruns, r)
	if reruns[0].Job.Probes == nil || reruns[0].Job.Probes.Trigger != "panic" {
		t.Errorf("rerun probes %+v, want the panic trigger", reruns[0].Job.Probes)
	}
	for _, fn := range []string{"sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger"} {
		if p := target(t, rep, "kernel", fn); p.Error != "" || p.Events < 1 {
			t.Errorf("%s probe: %+v, want attached with ≥ 1 event", fn, p)
		}
	}
	if !strings.Contains(r.stderr, "sysrq_handle_crash") || !strings.Contains(r.stderr, "key=99") {
		t.Errorf("the timeline lacks the crash with its key ('c' = 99)")
	}
}

// TestReproPassingRun: a run that passed needs no repro: no job, no
// skip, the run passes through (and only-failures drops it).
func TestReproPassingRun(t *testing.T) {
	e2e(t)
	runs := filepath.Join(t.TempDir(), "runs.ndjson")
	sh(t, fmt.Sprintf("ktstr-boot --kernel %s --topology 1,1,2,1 --exec true > %s", kernelSpec(), runs), "")
	r := sh(t, "ktstr-repro < "+runs, "")
	if r.code != 0 {
		t.Fatalf("ktstr-repro exit %d", r.code)
	}
	byKind := records(t, r.stdout)
	if len(byKind[record.KindRun]) != 1 || len(byKind[record.KindJob]) != 0 || len(byKind[record.KindSkip]) != 0 {
		t.Errorf("records %v: want the run alone, passed through", byKind)
	}
	if decodeRun(t, byKind[record.KindRun][0]).Outcome != record.OutcomeCompleted {
		t.Fatal("the run did not pass: the test proves nothing")
	}
	if r := sh(t, "ktstr-repro --only-failures < "+runs, ""); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("--only-failures: exit %d, output %q", r.code, r.stdout)
	}
}

// TestReproNotReproduced: a failure that does not come back (the crash
// came from an included script that has since been fixed) is reported
// reproduced: false, with the reason.
func TestReproNotReproduced(t *testing.T) {
	e2e(t)
	script := filepath.Join(t.TempDir(), "flaky.sh")
	writeFile(t, script, "echo c > /proc/sysrq-trigger\n")
	orig, reps, reruns, r := reproPipeline(t, fmt.Sprintf(`ktstr-boot --kernel %s --topology 1,1,2,1 --include %s --exec 'sh /include/flaky.sh'`, kernelSpec(), script),
		func() {
			if err := os.WriteFile(script, []byte("true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	if orig.Outcome != record.OutcomeKernelPanic {
		t.Fatalf("original run %s: %s", orig.Outcome, orig.Reason)
	}
	if len(reps) != 1 || len(reruns) != 1 {
		t.Fatalf("%d repro records and %d reruns, want 1 and 1", len(reps), len(reruns))
	}
	rep := reps[0]
	if rep.Reproduced || rep.ReasonMatched || reruns[0].Outcome != record.OutcomeCompleted ||
		!strings.Contains(rep.Detail, "not reproduced: the rerun completed without the original kernel_panic") {
		t.Errorf("repro %+v (rerun %s)", rep, reruns[0].Outcome)
	}
	if !strings.Contains(r.stderr, "NOT REPRODUCED") {
		t.Error("ktstr-verify does not say NOT REPRODUCED")
	}
}

// TestReproDriver: "scripts/ktstr test --auto-repro" on the fixture's
// error knob prints the failing verdict, then the repro timeline naming
// the fixture's programs; the status is the test's (1), the records are
// the verdict, the repro and the rerun's verdict, and the driver's copy of
// the runs is gone.
func TestReproDriver(t *testing.T) {
	e2e(t)
	r := sh(t, driver(t)+" test --topology 1,1,2,1 --scheduler ktstr-fixture --flags error --auto-repro -- --duration 4", "")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (the test failed)", r.code)
	}
	byKind := records(t, r.stdout)
	if len(byKind[record.KindVerdict]) != 2 || len(byKind[record.KindRepro]) != 1 {
		t.Fatalf("%d verdicts and %d repro records, want 2 and 1", len(byKind[record.KindVerdict]), len(byKind[record.KindRepro]))
	}
	first := decodeVerdict(t, byKind[record.KindVerdict][0])
	if first.Status != record.StatusFail || strings.HasSuffix(first.Subject, "/repro") {
		t.Errorf("first verdict %s %s, want the original's fail", first.Subject, first.Status)
	}
	fail := strings.Index(r.stderr, "FAIL")
	timeline := strings.Index(r.stderr, "=== repro of ")
	if fail < 0 || timeline < fail || !strings.Contains(r.stderr[timeline:], "ktstr_enqueue") ||
		!strings.Contains(r.stderr[timeline:], "REPRODUCED (same reason)") {
		t.Errorf("stderr lacks the failing verdict followed by a reproduced timeline naming ktstr_enqueue")
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "ktstr-repro-runs.*")); len(left) > 0 {
		t.Errorf("the driver left %v", left)
	}
}
