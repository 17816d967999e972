package metrics

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestRegistryIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Registry {
		if seen[m.Name] || m.Name == "" || m.Doc == "" || m.Source == "" {
			t.Errorf("bad or duplicate entry %+v", m)
		}
		seen[m.Name] = true
		switch m.Polarity {
		case LowerBetter, HigherBetter:
			if m.Rel <= 0 {
				t.Errorf("%s: a gated metric needs a relative gate", m.Name)
			}
		case Info:
		default:
			t.Errorf("%s: polarity %q", m.Name, m.Polarity)
		}
	}
}

func TestLookup(t *testing.T) {
	if m, ok := Lookup("verified_insns[dispatch]"); !ok || m.Name != "verified_insns[dispatch]" || m.Unit != "insns" {
		t.Errorf("family instance: %+v %v", m, ok)
	}
	for _, bad := range []string{"verified_insns", "worst_spread[x]", "nope", "exec[", ""} {
		if _, ok := Lookup(bad); ok {
			t.Errorf("%q resolved", bad)
		}
	}
}

func TestExtract(t *testing.T) {
	r := &record.Run{ID: "r", Outcome: record.OutcomeCompleted, Timings: record.Timings{WallS: 10, AgentStartS: 2},
		VCPUs:     []record.VCPUUsage{{CPU: 0, RunDelayS: 1}, {CPU: 1, RunDelayS: 3}},
		Scheduler: &record.SchedulerRun{Programs: []record.BPFProgram{{Name: "enqueue", VerifiedInsns: 1234}}},
		Exec:      &record.ExecResult{Stdout: "hello\n{\"metric\":\"lat\",\"value\":12.5,\"unit\":\"us\",\"polarity\":\"lower\"}\n{\"metric\":\"a b\",\"value\":1}\n"},
		Scenario: &record.ScenarioResult{Name: "s", WallS: 2, Cgroups: []record.CgroupResult{
			{Name: "cg0", Workers: []record.WorkerReport{
				{WorkUnits: 100, Iterations: 10, Migrations: 2, WallS: 2, RunDelayS: 0.5, WakeLatencyUS: []float64{10, 20, 30}},
				{WorkUnits: 300, Iterations: 30, Migrations: 1, WallS: 2, RunDelayS: 0.1},
			}},
			{Name: "cg1", Workers: []record.WorkerReport{{WorkUnits: 50, Iterations: 5, Migrations: 5, WallS: 2}}},
		}}}
	v := &record.Verdict{Status: record.StatusFail, Checks: []record.Check{
		{Name: "spread[cg0]", Value: 12.0}, {Name: "spread[cg1]", Value: 30.0},
		{Name: "starvation[cg0]", Value: 1}, {Name: "starvation[cg1]", Value: 2.0},
		{Name: "work_conservation[cg0,cg1]", Value: 80.0}, {Name: "work_conservation[cg2]", Value: 60.0},
		{Name: "gap[cg0]", Value: "n/a"},
	}}
	// A verdict alone: its checks' values, aggregated.
	checks := Extract(nil, v)
	wantChecks := map[string]float64{"passed": 0, "worst_spread": 30, "starved_workers": 3, "min_busy_pct": 60}
	if len(checks) != len(wantChecks) {
		t.Errorf("verdict only: %v", checks)
	}
	for n, w := range wantChecks {
		if s, ok := checks[n]; !ok || s.Value != w {
			t.Errorf("verdict only: %s = %v (present %v), want %v", n, s.Value, ok, w)
		}
	}
	// With the run, the checks are the run's own judgement; the verdict
	// still says whether it passed.
	got := Extract(r, v)
	want := map[string]float64{"passed": 0, "completed": 1, "wall_s": 10, "boot_s": 2, "host_wait_pct": 30,
		"stall_count": 0, "total_migrations": 8, "total_iterations": 45, "worst_iterations_per_worker": 5, "work_rate": 225,
		"worst_migration_ratio": 1, "worst_p99_wake_latency_us": 30, "worst_median_wake_latency_us": 20,
		"worst_wake_latency_cv": math.Sqrt(200.0/3) / 20, "worst_run_delay_pct": 25, "verified_insns[enqueue]": 1234, "exec[lat]": 12.5}
	for n, w := range want {
		s, ok := got[n]
		if !ok || math.Abs(s.Value-w) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", n, s.Value, ok, w)
		}
	}
	if s := got["worst_spread"]; s.Value == 30 {
		t.Errorf("worst_spread came from the verdict, not the run")
	}
	if got["exec[lat]"].Metric.Polarity != LowerBetter || got["exec[lat]"].Metric.Unit != "us" {
		t.Errorf("exec hint lost: %+v", got["exec[lat]"].Metric)
	}
}

// TestExtractJudgesWithoutVerdict: a run stored before ktstr-verify still
// has the checks' metrics.
func TestExtractJudgesWithoutVerdict(t *testing.T) {
	r := &record.Run{ID: "r", Outcome: record.OutcomeTimeout}
	got := Extract(r, nil)
	if got["passed"].Value != 0 || got["completed"].Value != 0 {
		t.Errorf("timeout: %+v", got)
	}
}

// TestQuantilesAreTheChecks: the metrics' quantiles and CV are the wake
// checks' own, so a metric and its check never disagree.
func TestQuantilesAreTheChecks(t *testing.T) {
	xs := []float64{9, 1, 5, 7, 3, 100, 2, 2, 8}
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	for _, p := range []float64{0, 0.01, 0.5, 0.9, 0.99, 1} {
		if got, want := sortedQuantile(sorted, p), verdict.Percentile(xs, p); got != want {
			t.Errorf("p%v: %v, check says %v", p, got, want)
		}
	}
	r := &record.Run{Outcome: record.OutcomeCompleted, Job: &record.Job{Scenario: []byte(`{"name":"s"}`),
		Thresholds: &record.Thresholds{MaxWakeLatencyCV: new(float64), MaxP99WakeLatencyUS: new(float64)}},
		Scenario: &record.ScenarioResult{Name: "s", Cgroups: []record.CgroupResult{{Name: "cg", Workers: []record.WorkerReport{{WakeLatencyUS: xs, WallS: 1}}}}}}
	got := Extract(r, nil)
	matched := 0
	for _, c := range verdict.Judge(r, nil).Checks {
		var metric string
		switch {
		case strings.HasPrefix(c.Name, "wake_cv["):
			metric = "worst_wake_latency_cv"
		case strings.HasPrefix(c.Name, "wake_p99_us["):
			metric = "worst_p99_wake_latency_us"
		default:
			continue
		}
		matched++
		if v, _ := c.Value.(float64); math.Abs(v-got[metric].Value) > 0.01 {
			t.Errorf("%s: check %v, metric %v", c.Name, c.Value, got[metric].Value)
		}
	}
	if matched != 2 {
		t.Errorf("%d wake checks to compare with, want 2", matched)
	}
}

// The imbalance metric is the monitor check's: a ratio held for the
// sustained window, inside the scenario. A one-sample spike, or one
// outside the scenario, does not count.
func TestImbalanceIsSustainedInsideTheScenario(t *testing.T) {
	sample := func(tt float64, nr ...uint32) record.MonitorSample {
		s := record.MonitorSample{T: tt}
		for _, n := range nr {
			s.CPUs = append(s.CPUs, record.MonitorCPUSample{Nr: n})
		}
		return s
	}
	var tl []record.MonitorSample
	tl = append(tl, sample(0.1, 9, 1)) // before the scenario: a spawn burst
	for i := range 12 {
		tt := 1 + float64(i)*0.1
		switch {
		case i == 3:
			tl = append(tl, sample(tt, 10, 1)) // a one-sample spike
		case i >= 5 && i < 10:
			tl = append(tl, sample(tt, 3, 1)) // 3x held for 5 samples
		default:
			tl = append(tl, sample(tt, 1, 1))
		}
	}
	r := &record.Run{Monitor: &record.Monitor{Timeline: tl},
		Scenario: &record.ScenarioResult{StartT: 0.5, WallS: 2}, Timings: record.Timings{AgentClockS: 0.4}}
	got := Extract(r, nil)["max_imbalance_ratio"].Value
	if got != 3 {
		t.Errorf("max_imbalance_ratio = %g, want 3 (held 5 samples; the 10x spike and the 9x before the scenario do not count)", got)
	}
	if v := sustainedMax([]float64{2, 1}, 5); v != 1 {
		t.Errorf("fewer values than the window: %g, want their minimum 1", v)
	}
}
