package verdict

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// The probes of the noise audit: each party of a violation is held against
// its own host noise, never against another party's. Every probe below was
// inconclusive before (an excuse borrowed from another worker, cohort,
// cgroup or vCPU) and must fail.

// A 3000 ms gap on a vCPU the host held for most of it is explained
// (200 ms remain), but a 2900 ms gap on a quiet vCPU is not: the second
// worker alone fails the check.
func TestGapJudgesEachWorkerOnItsOwnNoise(t *testing.T) {
	w1, w2, w3 := spinner(1, 1000, 20, 16, "0"), spinner(2, 1000, 20, 16, "1"), spinner(3, 1000, 20, 19, "0-1")
	w1.MaxGapMS, w1.MaxGapAtMS, w1.MaxGapStartT, w1.MaxGapCPU, w1.MaxGapFromCPU = 3000, 2000, 3, 0, 0
	w2.MaxGapMS, w2.MaxGapAtMS, w2.MaxGapStartT, w2.MaxGapCPU, w2.MaxGapFromCPU = 2900, 4000, 5, 1, 1
	// Host time: w1's gap 5–8, w2's 7–9.9; vCPU 0 held 5–6.8 and 7–8.5.
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: []record.WorkerReport{w1, w2, w3}}},
		hostTrace([]float64{0, 0}, hold{0, 5, 6.8}, hold{0, 7, 8.5}))
	r.Scenario.WallS = 20
	c := check(t, Judge(r, nil), "gap[a]")
	wantStatus(t, c, record.StatusFail, "pid 2 off-CPU 2900ms on cpu1", "remainder 2900ms > limit 2000ms", "pid 1 off-CPU 3000ms")
	if c.Value != 3000.0 {
		t.Errorf("value %v, want the largest raw gap 3000", c.Value)
	}
	if c.Net == nil || *c.Net != 2900 {
		t.Errorf("net %v, want 2900 (the largest remainder)", c.Net)
	}
	// Both workers on the noisy vCPU: both explained, inconclusive.
	w2.MaxGapCPU, w2.MaxGapFromCPU = 0, 0
	r.Scenario.Cgroups[0].Workers[1] = w2
	wantStatus(t, check(t, Judge(r, nil), "gap[a]"), record.StatusInconclusive, "≤ limit 2000ms: inconclusive")
}

// Two cohorts: the first spreads 40 points between a worker on a vCPU the
// host held 60 % of the time and one on a quiet vCPU (the host explains
// it); the second spreads 35 points on quiet vCPUs and fails on its own.
func TestSpreadJudgesEveryCohort(t *testing.T) {
	a1, a2 := spinner(1, 1000, 10, 9, "0"), held(spinner(2, 600, 10, 5, "1"), 0.6) // 10% vs 50% off-CPU
	b1, b2 := spinner(3, 1000, 10, 9, "2"), spinner(4, 600, 10, 5.5, "3")
	b1.Cohort, b2.Cohort = 2, 2 // 10% vs 45%
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: []record.WorkerReport{a1, a2, b1, b2}}}, waits(0, 0.6, 0, 0))
	r.Scenario.WallS = 10
	c := check(t, Judge(r, spreadLimit25), "spread[a]")
	wantStatus(t, c, record.StatusFail, "spread 35 points among 2 workers", "remainder 35 > limit 25")
	if c.Value != 40.0 {
		t.Errorf("value %v, want the largest raw spread 40", c.Value)
	}
}

// The allowance comes from the two workers that define the spread: a third
// worker on a noisy vCPU excuses nothing between two quiet ones.
func TestSpreadAllowanceFromTheDefiningPair(t *testing.T) {
	w1, w2, w3 := spinner(1, 1000, 10, 9, "0"), spinner(2, 600, 10, 5, "1"), held(spinner(3, 800, 10, 7, "2"), 0.6) // 10, 50, 30 % off-CPU
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: []record.WorkerReport{w1, w2, w3}}}, waits(0, 0, 0.6, 0))
	r.Scenario.WallS = 10
	wantStatus(t, check(t, Judge(r, spreadLimit25), "spread[a]"), record.StatusFail, "pid 2", "pid 1", "remainder 40 > limit 25")
}

// Three equal cgroups: the two that define the fairness gap ran on quiet
// vCPUs; a third on a noisy vCPU lends them no excuse.
func TestCgroupFairnessAllowanceFromTheDefiningPair(t *testing.T) {
	cg := func(name string, cpu float64, cpus string) record.CgroupResult {
		return record.CgroupResult{Name: name, Unrestricted: true, Workers: []record.WorkerReport{spinner(1, 100, 6, cpu, cpus), spinner(2, 100, 6, cpu, cpus)}}
	}
	r := scenarioRun([]record.CgroupResult{cg("cg_0", 3, "0"), cg("cg_1", 1.5, "1"), cg("cg_2", 2.5, "2")}, waits(0, 0, 0.6, 0))
	wantStatus(t, check(t, Judge(r, nil), "cgroup_fairness[cg_0,cg_1,cg_2]"), record.StatusFail, "remainder 50 > limit 35")
}

// The benchmark checks subtract the noise of the vCPUs their own workers
// ran on, not of the worst vCPU of the guest.
func TestBenchmarkChecksUseTheirWorkersVCPUs(t *testing.T) {
	w1, w2 := spinner(1, 400, 10, 10, "0"), spinner(2, 1000, 10, 10, "0") // 40 and 100 units per CPU second
	w1.WakeLatencyUS = []float64{100, 200, 5000}
	w2.WakeLatencyUS = []float64{100, 200, 300}
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: []record.WorkerReport{w1, w2}}}, waits(0, 0, 0, 0.9))
	r.Scenario.WallS = 10
	limits, err := ParseThresholds([]byte(`{"min_work_rate": 50, "max_p99_wake_latency_us": 1000, "max_throughput_cv": 0.2}`))
	if err != nil {
		t.Fatal(err)
	}
	v := Judge(r, limits)
	for _, name := range []string{"min_work_rate[a]", "wake_p99_us[a]", "throughput_cv[a]"} {
		wantStatus(t, check(t, v, name), record.StatusFail, "0% of the scenario")
	}
	// The same workers on the noisy vCPU: the host explains them.
	for i := range r.Scenario.Cgroups[0].Workers {
		r.Scenario.Cgroups[0].Workers[i].CPUsUsed = "3"
	}
	v = Judge(r, limits)
	for _, name := range []string{"min_work_rate[a]", "wake_p99_us[a]"} {
		wantStatus(t, check(t, v, name), record.StatusInconclusive, "90%")
	}
}

// A 50× slice fault measured at about 50 % host wait (8 workers on 1,1,2,1,
// the fixture's long-slice knob): in points of wall time the executed view
// halves (79 vs 98 % not running: 19 points, a pass), because the guest
// ran only half the time. Judged on the time each worker's own vCPUs ran,
// it is 38 points and fails; a healthy scheduler measured on the same host
// stays near 1 point.
func TestSpreadUnderHostLoad(t *testing.T) {
	worker := func(pid int, cpu, stall float64) record.WorkerReport {
		w := spinner(pid, uint64(cpu*1e5), 6.12, cpu, "0-1")
		w.OnCPUStallS = stall
		return w
	}
	var fault, healthy []record.WorkerReport
	for i := 0; i < 4; i++ {
		fault = append(fault, worker(10+2*i, 2.62, 1.36), worker(11+2*i, 0.24, 0.15))
		healthy = append(healthy, worker(20+2*i, 1.43, 0.8), worker(21+2*i, 1.38, 0.79))
	}
	run := func(ws []record.WorkerReport) *record.Run {
		r := scenarioRun([]record.CgroupResult{{Name: "cg_0", Unrestricted: true, Workers: ws}}, waits(0.5, 0.5))
		r.Scenario.WallS = 6.12
		return r
	}
	c := check(t, Judge(run(fault), nil), "spread[cg_0]")
	wantStatus(t, c, record.StatusFail, "not executing while its vCPUs ran, 59–97%, 38 points")
	c = check(t, Judge(run(healthy), nil), "spread[cg_0]")
	wantStatus(t, c, record.StatusPass)
	if c.Value.(float64) > 3 {
		t.Errorf("healthy spread %v under host load", c.Value)
	}
}

// A central-dispatch scheduler's floor is what its design can reach on the
// topology: the dispatching CPU fully, each other CPU for the share of the
// step the host ran the dispatcher's vCPU. A one-CPU fault fails it on two
// CPUs and on four; healthy scx_central's measured shares pass (96–99 % of
// 1,1,2,1 busy; 57–61 % of 1,2,2,1 on a loaded host, which the old fixed
// floor of 40 % let a one-CPU fault on 1,1,2,1 through at 50 %).
func TestCentralFloorFollowsTheDispatcher(t *testing.T) {
	limits, err := ParseThresholds([]byte(`{"dispatch_cpu": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cpus      string
		waits     []float64
		idle      []float64
		want      record.Status
		floorText string
	}{
		{"one-CPU fault, 1,1,2,1", "0-1", []float64{0.05, 0.05}, []float64{0, 6}, record.StatusFail, "the design can keep 98% busy: floor 60% of it, 58%"},
		{"healthy, 1,1,2,1", "0-1", []float64{0.05, 0.05}, []float64{0.1, 0.2}, record.StatusPass, ""},
		{"one-CPU fault, 1,2,2,1 at 50% host wait", "0-3", []float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 6, 6, 6}, record.StatusFail, "floor 60% of it, 38%"},
		{"healthy, 1,2,2,1 at 50% host wait", "0-3", []float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 2.5, 2.6, 2.4}, record.StatusPass, ""},
	} {
		var ws []record.WorkerReport
		for i := 0; i < 8; i++ {
			ws = append(ws, spinner(i+1, 100, 6, 0.1, tc.cpus))
		}
		r := steady(scenarioRun([]record.CgroupResult{{Name: "cg_0", Unrestricted: true, Workers: ws}}, waits(tc.waits...)), tc.idle...)
		c := check(t, Judge(r, limits), "work_conservation[cg_0]")
		if c.Status != tc.want || !strings.Contains(c.Detail, tc.floorText) {
			t.Errorf("%s: %s (%v, limit %v): %s", tc.name, c.Status, c.Value, c.Limit, c.Detail)
		}
	}
}
