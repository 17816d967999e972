package verdict

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

func scenarioRun(cgs []record.CgroupResult, samples []record.HostSample) *record.Run {
	want := topology.Spec{NUMANodes: 1, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(20)
	return &record.Run{ID: "r", Outcome: record.OutcomeCompleted, ObservedTopology: want,
		Job:         &record.Job{ID: "j", Topology: want, Scenario: json.RawMessage(`{}`)},
		Scenario:    &record.ScenarioResult{Name: "s", StartT: 1, WallS: 4, Cgroups: cgs},
		HostSamples: samples, Timings: record.Timings{AgentClockS: 2}}
}

func worker(pid int, units uint64, off, gap float64, cpus string) record.WorkerReport {
	return record.WorkerReport{PID: pid, WorkType: "CpuSpin", WorkUnits: units, Iterations: units, WallS: 4, CPUS: 4 * (1 - off/100),
		OffCPUPct: off, MaxGapMS: gap, MaxGapAtMS: 500, MaxGapCPU: 1, MaxGapStartT: 1.5, CPUsUsed: cpus}
}

// samples: vCPU 1 waits waitRate seconds per second from host t=0 to 10.
func samples(waitRate float64) []record.HostSample {
	var out []record.HostSample
	for i := 0; i <= 100; i++ {
		t := float64(i) / 10
		out = append(out, record.HostSample{T: t, WaitS: []float64{0, waitRate * t}, RunS: []float64{t, t}})
	}
	return out
}

func failedNames(v *record.Verdict) string {
	var n []string
	for _, c := range Failed(v.Checks) {
		n = append(n, c.Name+":"+string(c.Status))
	}
	return strings.Join(n, " ")
}

func TestScenarioPass(t *testing.T) {
	r := scenarioRun([]record.CgroupResult{{Name: "a", Cpuset: "0-1", CpusetHistory: []string{"0-1"},
		Workers: []record.WorkerReport{worker(1, 100, 5, 20, "0-1"), worker(2, 90, 8, 30, "1")}}}, samples(0))
	if v := Judge(r, nil); v.Status != record.StatusPass {
		t.Fatalf("%s: %s", v.Status, failedNames(v))
	}
}

func TestScenarioFailures(t *testing.T) {
	r := scenarioRun([]record.CgroupResult{
		{Name: "a", Cpuset: "0-1", CpusetHistory: []string{"0-1"}, Workers: []record.WorkerReport{worker(1, 0, 5, 20, "0-2"), worker(2, 90, 60, 3000, "1")}},
		{Name: "churn", Transient: true, Unrestricted: true, Workers: []record.WorkerReport{worker(3, 0, 0, 10, "3")}},
	}, samples(0.01))
	v := Judge(r, nil)
	got := failedNames(v)
	want := "starvation[a]:fail spread[a]:fail gap[a]:fail isolation[a]:fail"
	if got != want {
		t.Fatalf("failed %q, want %q", got, want)
	}
	for _, c := range v.Checks {
		switch c.Name {
		case "starvation[a]":
			if !strings.Contains(c.Detail, "1 of 2 workers starved: pid 1 did 0 work units in 4.0s") {
				t.Errorf("%s", c.Detail)
			}
		case "gap[a]":
			if !strings.Contains(c.Detail, "pid 2 off-CPU 3000ms from cpu0 to cpu1, from +500ms") || !strings.Contains(c.Detail, "remainder 3000ms > limit 2000ms") {
				t.Errorf("%s", c.Detail)
			}
		case "isolation[a]":
			if !strings.Contains(c.Detail, "pid 1 ran on unexpected CPUs {2}") {
				t.Errorf("%s", c.Detail)
			}
		}
	}
}

func TestHostStarvationMakesTimingInconclusive(t *testing.T) {
	// vCPU 1 waited 60% on the host over the workers' lives (host 3–7),
	// held 1.8 s of the 3 s gap on it (host 3.5–6.5), vCPU 0 not at all:
	// the gap keeps 1.2 s after subtraction (≤ 2 s), and the 55-point
	// spread is within the 60-point difference between the vCPUs' waits.
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true,
		Workers: []record.WorkerReport{worker(1, 100, 5, 20, "0"), held(worker(2, 90, 60, 3000, "1"), 0.6)}}},
		hostTrace([]float64{0, (2.4 - 1.8) / 2.2}, hold{1, 3.5, 5.3}))
	v := Judge(r, spreadLimit25)
	if v.Status != record.StatusInconclusive {
		t.Fatalf("%s: %s", v.Status, failedNames(v))
	}
	for _, c := range v.Checks {
		if c.Name == "gap[a]" && !strings.Contains(c.Detail, "the host held vCPU 1 (it waited, barely running) 1800ms (60%) of that window, remainder 1200ms ≤ limit 2000ms: inconclusive") {
			t.Errorf("gap: %s", c.Detail)
		}
		if c.Name == "spread[a]" && !strings.Contains(c.Detail, "host wait on each one's own vCPUs: pid 2 60%, pid 1 0%, a difference that explains 60 points, remainder -5 ≤ limit 25: inconclusive") {
			t.Errorf("spread: %s", c.Detail)
		}
	}
	// Starvation is never excused by host noise.
	r.Scenario.Cgroups[0].Workers[0].WorkUnits = 0
	if v := Judge(r, nil); v.Status != record.StatusFail {
		t.Errorf("starved worker under host noise: %s", v.Status)
	}
}

func TestBenchmarkChecksNeedLimits(t *testing.T) {
	w1, w2 := worker(1, 100, 5, 20, "0"), worker(2, 300, 5, 20, "1")
	w1.WakeLatencyUS = []float64{10, 20, 30, 4000}
	r := scenarioRun([]record.CgroupResult{{Name: "a", Unrestricted: true, Workers: []record.WorkerReport{w1, w2}}}, samples(0))
	if v := Judge(r, nil); v.Status != record.StatusPass {
		t.Fatalf("off by default, got %s", failedNames(v))
	}
	limits, err := ParseThresholds([]byte(`{"max_p99_wake_latency_us": 1000, "max_throughput_cv": 0.2, "max_migration_ratio": 0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	v := Judge(r, limits)
	if got := failedNames(v); got != "throughput_cv[a]:fail wake_p99_us[a]:fail" {
		t.Errorf("failed %q", got)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if Percentile(xs, 0.99) != 5 || Percentile(xs, 0.5) != 3 || Percentile([]float64{7}, 0.99) != 7 {
		t.Error("percentile")
	}
}
