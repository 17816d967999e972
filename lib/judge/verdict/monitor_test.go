package verdict

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// monitorRun is a run whose scenario spans host t = 10..20 s, with
// monitor samples every 0.1 s from t = 5 built by cpus(i, t).
func monitorRun(cpus func(i int, t float64) []record.MonitorCPUSample) *record.Run {
	r := &record.Run{
		Outcome:  record.OutcomeCompleted,
		Job:      &record.Job{Scenario: []byte(`{}`), Scheduler: &record.Scheduler{Name: "scx_x"}},
		Scenario: &record.ScenarioResult{StartT: 7, WallS: 10},
		Timings:  record.Timings{AgentClockS: 3},
		Monitor:  &record.Monitor{HZ: 10, Stride: 1},
	}
	for i := 0; i < 200; i++ {
		t := 5 + float64(i)/10
		r.Monitor.Timeline = append(r.Monitor.Timeline, record.MonitorSample{T: t, CPUs: cpus(i, t)})
	}
	return r
}

func u32(v uint32) *uint32 { return &v }

// healthy: 4 CPUs, two tasks each, clocks and vCPUs advancing.
func healthy(i int, t float64) []record.MonitorCPUSample {
	out := make([]record.MonitorCPUSample, 4)
	for c := range out {
		out[c] = record.MonitorCPUSample{Nr: 1, DSQ: u32(0), Clock: uint64(i) * 100e6, PID: int32(100 + c), Comm: "w", VCPURunS: float64(i) * 0.09}
	}
	return out
}

func monitorStatus(t *testing.T, r *record.Run) map[string]record.Check {
	t.Helper()
	out := map[string]record.Check{}
	limits := Defaults()
	limits.MaxImbalanceRatio = ptr(4.0) // off by default
	for _, c := range Monitor(r, limits) {
		out[c.Name] = c
	}
	if len(out) != 4 {
		t.Fatalf("%d monitor checks: %+v", len(out), out)
	}
	return out
}

func TestMonitorChecksPassHealthy(t *testing.T) {
	for name, c := range monitorStatus(t, monitorRun(healthy)) {
		if c.Status != record.StatusPass {
			t.Errorf("%s: %s %s", name, c.Status, c.Detail)
		}
	}
}

// TestMonitorChecksFail shows each check failing on its own violation,
// sustained for 5 samples inside the window, and passing when it is too
// short or outside the scenario.
func TestMonitorChecksFail(t *testing.T) {
	inside := func(t float64, from, n int) bool { return t >= float64(from)/10 && t < float64(from+n)/10 }
	for _, tc := range []struct {
		check  string
		mutate func(c []record.MonitorCPUSample, i int)
		detail string
	}{
		{CheckMonitorImbalance, func(c []record.MonitorCPUSample, i int) { c[0].Nr = 5 }, "ratio 5.0"},
		{CheckMonitorLocalDSQ, func(c []record.MonitorCPUSample, i int) { c[2].DSQ = u32(51) }, "cpu2 local DSQ 51"},
		{CheckMonitorStall, func(c []record.MonitorCPUSample, i int) { c[1].Clock = 42 }, "cpu1 rq->clock stuck"},
		{CheckMonitorWorkCons, func(c []record.MonitorCPUSample, i int) { c[0].Nr, c[3].Nr, c[3].VCPURunS = 2, 0, 1 }, "cpu 3 idle while 1 tasks waited"},
	} {
		for _, span := range []struct {
			from, n int
			fail    bool
		}{{120, 6, true}, {120, 4, false}, {50, 30, false}} {
			r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
				c := healthy(i, t)
				if inside(t, span.from, span.n) {
					tc.mutate(c, i)
				}
				return c
			})
			got := monitorStatus(t, r)
			for name, c := range got {
				want := record.StatusPass
				if name == tc.check && span.fail {
					want = record.StatusFail
				}
				if c.Status != want {
					t.Errorf("%s at %d×%d: %s = %s (%s), want %s", tc.check, span.from, span.n, name, c.Status, c.Detail, want)
				}
			}
			if c := got[tc.check]; span.fail && !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("%s detail %q lacks %q", tc.check, c.Detail, tc.detail)
			}
			// The violation's time, into the scenario (it starts at host
			// t = 10): samples 12.0–12.5, less a first interval a check
			// judges from the sample before.
			c := got[tc.check]
			switch {
			case !span.fail && len(c.Spans) > 0:
				t.Errorf("%s at %d×%d passed with spans %v", tc.check, span.from, span.n, c.Spans)
			case span.fail && (len(c.Spans) != 1 || c.Spans[0].FromS < 1.95 || c.Spans[0].FromS > 2.15 || c.Spans[0].ToS < 2.35 || c.Spans[0].ToS > 2.55):
				t.Errorf("%s at %d×%d: spans %v, want one of about 2.0–2.5 s", tc.check, span.from, span.n, c.Spans)
			}
		}
	}
}

func TestMonitorStallExemptions(t *testing.T) {
	// 60 ms of host CPU per 100 ms: a stall at HZ 250 (≥ 40 ms), not at
	// HZ 100 (≥ 100 ms).
	r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[1].VCPURunS = float64(i) * 0.06
		if t >= 12 && t < 14 {
			c[1].Clock = 42
		}
		return c
	})
	if c := monitorStatus(t, r)[CheckMonitorStall]; c.Status != record.StatusFail {
		t.Errorf("HZ 250: %s", c.Status)
	}
	r.Guest = &record.GuestInfo{HZ: 100}
	if c := monitorStatus(t, r)[CheckMonitorStall]; c.Status != record.StatusPass {
		t.Errorf("HZ 100: %s %s", c.Status, c.Detail)
	}

	// Clock still, but the vCPU did not run on the host: exempt.
	r = monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		if t >= 12 && t < 14 {
			c[1].Clock, c[1].VCPURunS = 42, 1.0
		}
		return c
	})
	if c := monitorStatus(t, r)[CheckMonitorStall]; c.Status != record.StatusPass {
		t.Errorf("vCPU descheduled on the host: %s %s", c.Status, c.Detail)
	}
	// Work conservation is off with cpusets.
	r = monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[0].Nr, c[3].Nr, c[3].VCPURunS = 5, 0, 1 // cpu3 halted
		return c
	})
	limits := Defaults()
	limits.MaxImbalanceRatio = ptr(4.0)
	if w := MonitorWindows(r, r.Monitor.Timeline, limits); len(w) != 2 || w[0].Check != CheckMonitorImbalance || len(w[0].Samples) != 101+20 {
		t.Errorf("windows %d", len(w))
	}
	r.Job.Topology = &record.Topology{CPUs: 4}
	for _, cg := range []record.CgroupResult{
		{Name: "b", Workers: []record.WorkerReport{{Affinity: "llc"}}},
		{Name: "c", Workers: []record.WorkerReport{{AllowedCPUs: "0-1"}}},
		{Name: "e", Cpuset: "0-1", CpusetHistory: []string{"0-1", "0-2"}},
	} {
		r.Scenario.Cgroups = []record.CgroupResult{cg}
		got := monitorStatus(t, r)
		if got[CheckMonitorWorkCons].Status != record.StatusSkip || got[CheckMonitorImbalance].Status != record.StatusSkip {
			t.Errorf("restricted by %+v: %s %s", cg, got[CheckMonitorWorkCons].Status, got[CheckMonitorImbalance].Status)
		}
	}
	// Static disjoint cpusets: work conservation holds within each. cpu0
	// has 5 runnable, cpu3 is idle: fine when cpu0's tasks are confined
	// to cpuset 0, a violation when cpu3 shares their cpuset.
	for _, tc := range []struct {
		cpusets []string
		want    record.Status
	}{{[]string{"0", "1-2"}, record.StatusPass}, {[]string{"0,3", "1-2"}, record.StatusFail}} {
		r.Scenario.Cgroups = nil
		for i, cs := range tc.cpusets {
			r.Scenario.Cgroups = append(r.Scenario.Cgroups, record.CgroupResult{Name: fmt.Sprint(i), Cpuset: cs, CpusetHistory: []string{cs},
				Workers: []record.WorkerReport{{AllowedCPUs: cs}}})
		}
		got := monitorStatus(t, r)
		if got[CheckMonitorWorkCons].Status != tc.want || got[CheckMonitorImbalance].Status != record.StatusSkip {
			t.Errorf("cpusets %v: work conservation %s (%s), imbalance %s; want %s, skip", tc.cpusets,
				got[CheckMonitorWorkCons].Status, got[CheckMonitorWorkCons].Detail, got[CheckMonitorImbalance].Status, tc.want)
		}
	}
	r.Scenario.Cgroups = []record.CgroupResult{{Name: "d", Workers: []record.WorkerReport{{AllowedCPUs: "0-3"}}}}
	if c := monitorStatus(t, r)[CheckMonitorWorkCons]; c.Status != record.StatusFail {
		t.Errorf("workers allowed on every CPU: %s", c.Status)
	}
}

func TestMonitorLastTable(t *testing.T) {
	r := monitorRun(healthy)
	r.Monitor.Last = r.Monitor.Timeline[len(r.Monitor.Timeline)-3:]
	out := MonitorLast(r)
	if strings.Count(out, "\n") != 4 || !strings.Contains(out, "| 3: 1/0 w") {
		t.Errorf("table:\n%s", out)
	}
	// CPUs 1-3 idle throughout while cpu0 has 4 runnable: said first.
	for i := range r.Monitor.Last {
		c := append([]record.MonitorCPUSample(nil), r.Monitor.Last[i].CPUs...)
		c[0].Nr, c[1].Nr, c[2].Nr, c[3].Nr = uint32(4+i), 0, 0, 0
		r.Monitor.Last[i].CPUs = c
	}
	out = MonitorLast(r)
	if first := strings.SplitN(out, "\n", 2)[0]; first != "monitor: cpu 1-3 idle for the last 0.2 s while at least 3 tasks waited on other CPUs" {
		t.Errorf("summary %q", first)
	}
}

// TestMonitorImbalanceSchedExtOnly: on EEVDF an uneven nr_running is not
// judged (it balances load, not counts); the other checks still are.
func TestMonitorImbalanceSchedExtOnly(t *testing.T) {
	r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[0].Nr = 9
		c[1].Clock = 42
		return c
	})
	r.Job.Scheduler = nil
	got := monitorStatus(t, r)
	if got[CheckMonitorImbalance].Status != record.StatusSkip || got[CheckMonitorStall].Status != record.StatusFail {
		t.Errorf("EEVDF: imbalance %s, stall %s", got[CheckMonitorImbalance].Status, got[CheckMonitorStall].Status)
	}
}

// TestMonitorImbalanceOffByDefault: without a layer setting it, imbalance
// is not judged.
func TestMonitorImbalanceOffByDefault(t *testing.T) {
	r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[0].Nr = 9
		return c
	})
	for _, c := range Monitor(r, Defaults()) {
		if c.Name == CheckMonitorImbalance && (c.Status != record.StatusSkip || c.Detail != "off") {
			t.Errorf("imbalance by default: %s %s", c.Status, c.Detail)
		}
	}
}

// TestMonitorHostDisturbance: while the host keeps a busy CPU's vCPU
// waiting (lock-holder preemption: the others spin with their clocks
// stopped, or wait for its dispatch), no monitor check counts the samples,
// and each check says how many it set aside and why.
func TestMonitorHostDisturbance(t *testing.T) {
	r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		if t >= 12 && t < 14 {
			c[0].VCPURunS = 12 * 0.09              // not running on the host...
			c[0].VCPUWaitS = (t - 12 + 0.05) * 0.9 // ...but runnable there, waiting
			c[0].Nr = 3
			c[1].Clock, c[2].Nr = 42, 0 // cpu1 spins, cpu2 idles
		}
		if t >= 14 {
			c[0].VCPUWaitS = 1.85
		}
		return c
	})
	for name, c := range monitorStatus(t, r) {
		if c.Status != record.StatusPass || (c.Status == record.StatusPass && !strings.Contains(c.Detail, "19 of 101 samples set aside, the host's doing (e.g. the host kept cpu0's vCPU waiting 90% of an interval with 3 tasks runnable on it)")) {
			t.Errorf("%s: %s %s", name, c.Status, c.Detail)
		}
	}
}

// The probes of the audit: a vCPU that barely ran but was not kept waiting
// by the host was halted by the guest, and tasks left on its runqueue (a
// missed kick) or waiting beside an idle CPU are the scheduler's.
func TestMonitorHaltedVCPUIsNotHostStarvation(t *testing.T) {
	// A stranded CPU: cpu0 halted with a task queued on it (its current
	// task is the idle task), next to cpu3, idle and halted too.
	stranded := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		if t >= 12 && t < 14 {
			c[0].VCPURunS, c[0].Nr, c[0].PID, c[0].Comm = 12*0.09, 1, 0, "swapper/0"
			c[3].VCPURunS, c[3].Nr, c[3].PID, c[3].Comm = 12*0.09, 0, 0, "swapper/3"
		}
		return c
	})
	c := monitorStatus(t, stranded)[CheckMonitorWorkCons]
	if c.Status != record.StatusFail || !strings.Contains(c.Detail, "cpu0 halted with 1 tasks queued (stranded: nothing ran them)") {
		t.Errorf("stranded CPU: %s %s", c.Status, c.Detail)
	}
	// cpu1 idle for the whole scenario while 2 tasks wait on cpu0, whose
	// vCPU the host holds in every other interval.
	idle := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[0].Nr = 3
		c[0].VCPURunS, c[0].VCPUWaitS = float64(i/2)*0.09+float64(i%2)*0.09, float64(i/2)*0.09
		c[1].Nr, c[1].PID, c[1].Comm, c[1].VCPURunS = 0, 0, "swapper/1", 0.5
		return c
	})
	c = monitorStatus(t, idle)[CheckMonitorWorkCons]
	if c.Status != record.StatusFail || !strings.Contains(c.Detail, "cpu 1 idle while 2 tasks waited (cpu0 had 3 runnable)") || !strings.Contains(c.Detail, "samples set aside") {
		t.Errorf("cpu1 idle beside 2 waiting tasks: %s %s", c.Status, c.Detail)
	}
}

// TestMonitorIdleMeansHalted: a CPU with nothing runnable at both samples
// but whose vCPU ran in between (it picked up work and went idle again) is
// not idle for work conservation.
func TestMonitorIdleMeansHalted(t *testing.T) {
	r := monitorRun(func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		c[0].Nr, c[3].Nr = 4, 0 // cpu3's vCPU keeps running: it takes work between samples
		return c
	})
	if c := monitorStatus(t, r)[CheckMonitorWorkCons]; c.Status != record.StatusPass {
		t.Errorf("busy-between-samples CPU judged idle: %s %s", c.Status, c.Detail)
	}
}
