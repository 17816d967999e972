package plan

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

// TestResolveStallLimit: the stall limit is the job's own, else the merged
// gap limit (its layer over the defaults), and none when that is off.
func TestResolveStallLimit(t *testing.T) {
	gap := 1500.0
	for _, c := range []struct {
		name string
		j    record.Job
		want float64
	}{
		{"defaults", record.Job{}, 2000},
		{"the job's gap limit", record.Job{Thresholds: &record.Thresholds{MaxGapMS: &gap}}, 1500},
		{"gap limit off", record.Job{Thresholds: &record.Thresholds{Off: []string{"max_gap_ms"}}}, 0},
		{"the job's own", record.Job{StallAfterMS: 700, Thresholds: &record.Thresholds{MaxGapMS: &gap}}, 700},
	} {
		j := c.j
		r, err := Resolve(&j)
		if err != nil {
			t.Fatal(err)
		}
		if r.StallAfterMS != c.want || r.Job != &j || r.Scenario != nil {
			t.Errorf("%s: stall %g (want %g), job %p (given %p), scenario %v", c.name, r.StallAfterMS, c.want, r.Job, &j, r.Scenario)
		}
		if j.StallAfterMS != c.j.StallAfterMS {
			t.Errorf("%s: Resolve wrote into the job", c.name)
		}
	}
}

// TestResolveDecodesTheScenarioOnce: the scenario is decoded, and one that
// does not decode is an input error, not a job without one.
func TestResolveDecodesTheScenarioOnce(t *testing.T) {
	sc := scenario.Catalog()[0]
	raw, _ := json.Marshal(sc)
	r, err := Resolve(&record.Job{Scenario: raw})
	if err != nil || r.Scenario == nil || r.Scenario.Name != sc.Name {
		t.Fatalf("Resolve: %+v, %v", r, err)
	}
	if _, err := Resolve(&record.Job{Scenario: json.RawMessage(`{"name": 3}`)}); !IsInputError(err) {
		t.Errorf("a scenario that does not decode: %v, want an input error", err)
	}
}

// TestResolvedTimeout: the job's own timeout wins; else boot estimate +
// duration and payload waits, scaled for overcommit, + margin, stretched
// by the load (never shrunk).
func TestResolvedTimeout(t *testing.T) {
	topo := topo(t, "1,2,2,1") // 4 CPUs
	m := Machine{Accel: vm.AccelTCG, TCGThreads: vm.TCGSingle, HostCPUs: 2, Load: 1.5}
	own, _ := Resolve(&record.Job{Topology: topo, TimeoutS: 12.5, DurationS: 3})
	if got := own.TimeoutS(m); got != 12.5 {
		t.Errorf("own timeout: %g", got)
	}
	plain, _ := Resolve(&record.Job{Topology: topo, DurationS: 3})
	want := vm.DefaultTimeoutS(vm.BootEstimateS(vm.AccelTCG, vm.TCGSingle, 4, 2), 3, 4, 2) * 1.5
	if got := plain.TimeoutS(m); got != want {
		t.Errorf("derived: %g, want %g", got, want)
	}
	idle := m
	idle.Load = 0.3
	if got := plain.TimeoutS(idle); got != want/1.5 {
		t.Errorf("load below 1: %g, want %g", got, want/1.5)
	}
	sc, err := scenario.Load("hackbench_steady")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sc)
	bench, _ := Resolve(&record.Job{Topology: topo, DurationS: 3, Scenario: raw})
	waits := sc.PayloadWaits().Seconds()
	if want := vm.DefaultTimeoutS(vm.BootEstimateS(vm.AccelTCG, vm.TCGSingle, 4, 2), 3+waits, 4, 2) * 1.5; waits <= 0 || bench.TimeoutS(m) != want {
		t.Errorf("with payload waits %g s: %g, want %g", waits, bench.TimeoutS(m), want)
	}
}

// TestAsRunLeavesTheJob: the job as it runs carries the timeout and stall
// limit; the planned job stays as it was.
func TestAsRunLeavesTheJob(t *testing.T) {
	j := &record.Job{ID: "j", DurationS: 3}
	r, _ := Resolve(j)
	run := r.AsRun(42)
	if run == j || run.TimeoutS != 42 || run.StallAfterMS != 2000 || run.ID != "j" {
		t.Errorf("as run: %+v", run)
	}
	if j.TimeoutS != 0 || j.StallAfterMS != 0 {
		t.Errorf("the planned job changed: %+v", j)
	}
}

// TestCompleteReturnsTheResolvedJob: Complete's Resolved is the completed
// job itself, its scenario decoded and its limits merged.
func TestCompleteReturnsTheResolvedJob(t *testing.T) {
	f := flags()
	f.Scenario = "cgroup_steady"
	p, err := New(f, fixed(testKernel(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	j := p.Expand(&record.Job{Topology: topo(t, "1,2,2,1")})[0]
	r, err := p.Complete(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if r.Job != j || r.Scenario == nil || r.Scenario.Name != "cgroup_steady" || r.Limits.MaxGapMS == nil || r.StallAfterMS != *r.Limits.MaxGapMS {
		t.Errorf("resolved %+v", r)
	}
	if j.TimeoutS != 0 || j.StallAfterMS != 0 {
		t.Errorf("Complete wrote run-time values into the job: timeout %g, stall %g", j.TimeoutS, j.StallAfterMS)
	}
}
