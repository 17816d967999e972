package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// bootFixture runs the fixture scheduler with flags on 1,2,2,1 and returns
// the run record, its verdict and ktstr-verify's output.
func bootFixture(t *testing.T, flags, extra string) (*record.Run, *record.Verdict, result) {
	t.Helper()
	f := ""
	if flags != "" {
		f = "--flags " + flags
	}
	r, runs := bootVerify(t, fmt.Sprintf("ktstr-boot --kernel %s --topology 1,2,2,1 --scheduler ktstr-fixture %s %s", kernelSpec(), f, extra), "")
	wantRuns(t, runs, 1)
	return runs[0], onlyVerdict(t, r.stdout), r
}

// wantFail fails the test unless a faulty scheduler's run failed
// verification (and ktstr-verify said so with exit 1).
func wantFail(t *testing.T, v *record.Verdict, r result) {
	t.Helper()
	if v.Status != record.StatusFail || r.code != 1 {
		t.Errorf("verdict %s, exit %d; want fail, 1", v.Status, r.code)
	}
}

// fixturePrograms is how many BPF programs the fixture's object holds,
// read from the object itself.
func fixturePrograms(t *testing.T) int {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec("../lib/guest/fixture/fixture.bpf.o")
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Programs) == 0 {
		t.Fatal("the fixture object has no programs")
	}
	return len(spec.Programs)
}

// TestFixtureKnobs: each fault knob of the fixture is caught and named.
func TestFixtureKnobs(t *testing.T) {
	e2e(t)
	t.Run("healthy", func(t *testing.T) {
		run, v, r := bootFixture(t, "", "--scenario cgroup_steady")
		wantPass(t, v)
		if run.Outcome != record.OutcomeCompleted || r.code != 0 {
			t.Errorf("%s %s (exit %d)", run.Outcome, run.Reason, r.code)
		}
		if run.Scheduler == nil || len(run.Scheduler.Programs) != fixturePrograms(t) {
			t.Fatalf("scheduler %+v: want the object's %d programs", run.Scheduler, fixturePrograms(t))
		}
		for _, p := range run.Scheduler.Programs {
			if p.VerifiedInsns == 0 || !strings.Contains(p.VerifierStats, "processed") {
				t.Errorf("program %+v lacks verifier statistics", p)
			}
		}
	})
	t.Run("stall", func(t *testing.T) {
		run, v, r := bootFixture(t, "stall", "--scenario cgroup_steady --duration 8")
		wantFail(t, v, r)
		if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Reason, "runnable task stall") {
			t.Errorf("%s %q", run.Outcome, run.Reason)
		}
	})
	t.Run("error", func(t *testing.T) {
		run, v, r := bootFixture(t, "error", "--scenario cgroup_steady")
		wantFail(t, v, r)
		if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Reason, "ktstr fixture: error after 500 enqueues") {
			t.Errorf("%s %q", run.Outcome, run.Reason)
		}
	})
	t.Run("fail-verify", func(t *testing.T) {
		run, v, r := bootFixture(t, "fail-verify", "")
		wantFail(t, v, r)
		if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Reason, "load failed") {
			t.Errorf("%s %q", run.Outcome, run.Reason)
		}
		// The verifier rejects the unchecked pointer where clang put its
		// first use: the dereference or the release call.
		nullPtr := func(s string) bool {
			return strings.Contains(s, "invalid mem access 'ptr_or_null_'") || strings.Contains(s, "Possibly NULL pointer passed to trusted arg0")
		}
		if !strings.Contains(r.stderr, "--- scheduler log:") || !nullPtr(r.stderr) {
			t.Errorf("the verifier's reason is not shown:\n%s", r.stderr)
		}
		if !nullPtr(run.Reason) {
			t.Errorf("the run's reason does not say why the verifier refused: %q", run.Reason)
		}
	})
	t.Run("verify-loop", func(t *testing.T) {
		run, v, r := bootFixture(t, "verify-loop", "--timeout 240")
		wantFail(t, v, r)
		if run.Outcome != record.OutcomeSchedulerDied || !strings.Contains(run.Scheduler.Log, "BPF program is too large") {
			t.Errorf("%s %q", run.Outcome, run.Reason)
		}
		if !strings.Contains(r.stderr, "identical iterations omitted") {
			t.Errorf("the verifier trace is not collapsed on stderr")
		}
	})
}

// TestFixtureVerifierDiff: comparing two fixture variants shows per-program
// deltas of the verifier's instruction counts.
func TestFixtureVerifierDiff(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ndjson"), filepath.Join(dir, "b.ndjson")
	for _, side := range []struct{ file, flags string }{{a, ""}, {b, "--flags degrade,error"}} {
		sh(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --scheduler ktstr-fixture "+side.flags+" --job verifier > "+side.file, "")
		run := onlyRun(t, readFile(t, side.file))
		if run.Outcome != record.OutcomeCompleted || run.Scheduler == nil || len(run.Scheduler.Programs) != fixturePrograms(t) {
			t.Fatalf("%s: %s %q, scheduler %+v", side.file, run.Outcome, run.Reason, run.Scheduler)
		}
	}
	r := sh(t, "ktstr-verify --diff "+a+","+b, "")
	if r.code != 0 || !strings.Contains(r.stderr, "PROGRAM") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// One delta per program: both sides load the same object.
	deltas := exactly(t, r.stdout, record.KindDelta, fixturePrograms(t))
	changed := 0
	for _, l := range deltas {
		var d record.Delta
		if err := record.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		if d.Delta != 0 {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no program changed: %s", r.stderr)
	}
}

// TestBPFObjectVerification: --bpf-object loads an object for verification
// only and reports each program's verifier statistics.
func TestBPFObjectVerification(t *testing.T) {
	e2e(t)
	obj, _ := filepath.Abs("../lib/guest/fixture/fixture.bpf.o")
	r, runs := bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --bpf-object "+obj+" --job verifier", "")
	wantRuns(t, runs, 1)
	wantPass(t, onlyVerdict(t, r.stdout))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if len(runs[0].BPFObjects) != 1 || len(runs[0].BPFObjects[0].Programs) != fixturePrograms(t) {
		t.Fatalf("objects %+v", runs[0].BPFObjects)
	}
	for _, p := range runs[0].BPFObjects[0].Programs {
		if p.VerifiedInsns == 0 || !strings.Contains(p.VerifierStats, "processed") {
			t.Errorf("%+v", p)
		}
	}
	if !strings.Contains(r.stderr, "processed=") {
		t.Errorf("no verifier statistics in the table")
	}
}
