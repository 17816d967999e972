package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestSchedulerDefinitionOps: a definition without "ops" attaches whatever
// name the scheduler registers (and the run says which); one with a wrong
// "ops" fails at once, naming both, instead of waiting out the timeout.
func TestSchedulerDefinitionOps(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	bare, wrong := filepath.Join(dir, "bare.json"), filepath.Join(dir, "wrong.json")
	writeFile(t, bare, `{"name": "mysimple", "binary": "scx_simple"}`)
	writeFile(t, wrong, `{"name": "mysimple", "binary": "scx_simple", "ops": "mysimple"}`)

	_, runs := bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --scheduler "+bare+" --scenario cgroup_steady --duration 2", "")
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	if r := runs[0]; r.Outcome != record.OutcomeCompleted || r.Scheduler == nil || !r.Scheduler.Attached || r.Scheduler.Ops != "simple" {
		t.Errorf("bare definition: %s %q, scheduler %+v", r.Outcome, r.Reason, r.Scheduler)
	}

	_, runs = bootVerify(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,2,1 --scheduler "+wrong+" --scenario cgroup_steady --duration 2", "")
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	r := runs[0]
	if r.Outcome != record.OutcomeSchedulerDied || !strings.Contains(r.Reason, `sched_ext enabled scheduler "simple", but the definition expects ops "mysimple"`) {
		t.Errorf("wrong ops: %s %q", r.Outcome, r.Reason)
	}
	t.Logf("wrong ops reported after %.1fs (timeout %.0fs)", r.Timings.WallS, r.Timings.TimeoutS)
	assertNoLeaks(t)
}
