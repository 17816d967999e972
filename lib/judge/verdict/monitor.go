package verdict

import (
	"fmt"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// Monitor check names.
const (
	CheckMonitorImbalance = "monitor_imbalance"
	CheckMonitorLocalDSQ  = "monitor_local_dsq_depth"
	CheckMonitorStall     = "monitor_rq_clock_stall"
	CheckMonitorWorkCons  = "monitor_work_conservation"
)

// stallTicks is how many guest ticks' worth of host CPU a vCPU thread must
// have had in an interval for a still rq->clock to count as a stall
// (reference §5.2: 10 ticks, 40 ms at HZ 250). Less, and the vCPU simply
// did not run on the host long enough for its tick to move the clock.
const (
	stallTicks     = 10
	defaultGuestHZ = 250
)

// MonitorScope is what MonitorViolations needs to know of the run: the
// scenario window in host time, whether cpusets or affinities can explain an
// uneven spread (imbalance and work conservation are then off), and the
// guest's tick rate.
type MonitorScope struct {
	T0, T1     float64
	Restricted bool
	GuestHZ    int
	// EEVDF is set without a sched_ext scheduler: EEVDF balances load
	// (task weight, cgroup shares), not task counts, so nr_running may be
	// uneven by design — measured 10 : 1 for 2.6 s on
	// cgroup_no_ctrl_load_imbalance under TCG — and imbalance is judged
	// for sched_ext schedulers only (as ktstr does).
	EEVDF bool
	// Partition, when set, maps each CPU to its cgroup's cpuset (an index)
	// or -1: the scenario's cpusets were static, pairwise disjoint and
	// workers had no other affinity. Work conservation then holds within a
	// cpuset: its tasks may run on any of its CPUs, unrestricted tasks on
	// any CPU.
	Partition []int
}

// Scope is a run's MonitorScope; ok is false without a scenario window.
func Scope(r *record.Run) (MonitorScope, bool) {
	t0, t1, ok := ScenarioWindow(r)
	sc := MonitorScope{T0: t0, T1: t1, Restricted: restricted(r), GuestHZ: defaultGuestHZ, EEVDF: r.Job == nil || r.Job.Scheduler == nil}
	if sc.Restricted {
		sc.Partition = partition(r)
	}
	if r.Guest != nil && r.Guest.HZ > 0 {
		sc.GuestHZ = r.Guest.HZ
	}
	return sc, ok
}

// MonitorViolation is one sustained violation found in monitor samples:
// samples[Start..End] (inclusive) violated the check, except the samples
// set aside in between (see MonitorResult).
type MonitorViolation struct {
	Check      string
	Start, End int
	Detail     string
}

// MonitorResult is what MonitorViolations found: the sustained violations,
// and the samples of the window it set aside because the host, not the
// guest, kept a vCPU with runnable tasks from running.
type MonitorResult struct {
	Violations []MonitorViolation
	// InWindow counts the window's samples; SetAside those not judged,
	// SetAsideWhy says why for the first of them.
	InWindow, SetAside int
	SetAsideWhy        string
}

// hostHeldShare is the share of an interval a vCPU must have waited on the
// host, runnable but not running, for the host to be the reason it barely
// ran. A vCPU that barely ran and did not wait was halted by the guest.
const hostHeldShare = 0.5

// barelyRan is the share of an interval under which a vCPU is taken as not
// having run on the host.
const barelyRan = 0.1

// heldByHost says the host held a vCPU through an interval of dt seconds
// in which it ran ran and waited waited: it barely ran, and waited on the
// host at least hostHeldShare. The monitor sets such samples aside; a
// gap's noise is the time its vCPUs were held.
func heldByHost(ran, waited, dt float64) bool {
	return ran < barelyRan*dt && waited >= hostHeldShare*dt
}

// ScenarioWindow is the scenario's span in host time (seconds since QEMU
// start), from its start on the agent clock and the agent→host offset.
func ScenarioWindow(r *record.Run) (t0, t1 float64, ok bool) {
	if r.Scenario == nil || r.Timings.AgentClockS == 0 {
		return 0, 0, false
	}
	t0 = r.Scenario.StartT + r.Timings.AgentClockS
	return t0, t0 + r.Scenario.WallS, true
}

// MonitorViolations finds, among samples with t0 ≤ T ≤ t1, every run of at
// least MonitorSustainedSamples violating samples of one monitor limit:
// imbalance, local DSQ depth, rq->clock stall (per CPU, exempt when the CPU
// had nothing runnable or its vCPU thread barely ran on the host) and work
// conservation (a CPU the guest halted through an interval — nothing
// runnable at either end, its vCPU asleep on the host — while another has
// a task waiting or a global DSQ holds tasks; or a CPU halted with tasks
// queued on it: stranded). A restricted scope turns imbalance and work
// conservation off (cpusets, affinities: the scenario may ask for an uneven
// spread, and a waiting task may not be allowed on the idle CPU).
//
// A sample whose interval saw the host keep a vCPU with runnable tasks
// waiting (its thread runnable on the host, not running, for at least half
// the interval) is set aside: a lock that CPU held stalls the others, and
// tasks it should run wait, by the host's doing. It neither counts towards
// a violation nor ends one. A vCPU that barely ran without waiting on the
// host was halted by the guest: a missed kick or a stranded task, which is
// the scheduler's, so it is judged.
func MonitorViolations(samples []record.MonitorSample, t record.Thresholds, sc MonitorScope) MonitorResult {
	m := &monitorJudge{samples: samples, n: sustained(t), minRunS: float64(stallTicks) / float64(max(sc.GuestHZ, 1)), partition: sc.Partition}
	for i, s := range samples {
		if s.T >= sc.T0 && s.T <= sc.T1 && len(s.CPUs) > 0 {
			m.in = append(m.in, i)
		}
	}
	m.res.InWindow = len(m.in)
	m.setAside = make([]bool, len(m.in))
	for k := range m.in {
		if why := m.hostHeld(k); why != "" {
			m.setAside[k] = true
			m.res.SetAside++
			if m.res.SetAsideWhy == "" {
				m.res.SetAsideWhy = why
			}
		}
	}
	for _, c := range monitorChecks {
		if c.limit(t, m.n) == nil || c.offIn(sc) != "" {
			continue
		}
		for _, bad := range c.tests(m, t) {
			m.runs(c.name, bad)
		}
	}
	return m.res
}

// sustained is how many violating samples in a row make a violation.
func sustained(t record.Thresholds) int {
	if t.MonitorSustainedSamples != nil {
		return max(1, *t.MonitorSustainedSamples)
	}
	return 5
}

// sampleTest says whether window sample k violates a limit, and how.
type sampleTest func(k int) (bool, string)

// monitorCheck is one monitor check: its limit as the verdict shows it
// (nil when the thresholds turn it off), why a run's scope leaves it
// unjudged ("" when it is judged), and its sample tests (one series each:
// the clock-stall check has one per CPU).
type monitorCheck struct {
	name  string
	limit func(t record.Thresholds, n int) any
	offIn func(sc MonitorScope) string
	tests func(m *monitorJudge, t record.Thresholds) []sampleTest
}

// Why a scope leaves a check unjudged.
const (
	offEEVDF      = "EEVDF balances load (weights, cgroup shares), not task counts: imbalance is judged for sched_ext schedulers"
	offRestricted = "a cgroup has a cpuset or a worker an affinity: the scenario may ask for an uneven spread, and a waiting task may not be allowed on an idle CPU"
)

// monitorChecks are the monitor's checks, in the order verdicts list them.
var monitorChecks = []monitorCheck{
	{
		name: CheckMonitorImbalance,
		limit: func(t record.Thresholds, n int) any {
			if t.MaxImbalanceRatio == nil {
				return nil
			}
			return fmt.Sprintf("ratio ≤ %g (sustained %d)", *t.MaxImbalanceRatio, n)
		},
		offIn: func(sc MonitorScope) string {
			switch {
			case sc.EEVDF:
				return offEEVDF
			case sc.Restricted:
				return offRestricted
			}
			return ""
		},
		tests: func(m *monitorJudge, t record.Thresholds) []sampleTest {
			return []sampleTest{m.imbalance(*t.MaxImbalanceRatio)}
		},
	},
	{
		name: CheckMonitorLocalDSQ,
		limit: func(t record.Thresholds, n int) any {
			if t.MaxLocalDSQDepth == nil {
				return nil
			}
			return fmt.Sprintf("≤ %d (sustained %d)", *t.MaxLocalDSQDepth, n)
		},
		offIn: func(MonitorScope) string { return "" },
		tests: func(m *monitorJudge, t record.Thresholds) []sampleTest {
			return []sampleTest{m.localDSQ(uint32(max(0, *t.MaxLocalDSQDepth)))}
		},
	},
	{
		name: CheckMonitorStall,
		limit: func(t record.Thresholds, n int) any {
			if t.FailOnRqClockStall == nil || !*t.FailOnRqClockStall {
				return nil
			}
			return fmt.Sprintf("rq->clock advances (sustained %d)", n)
		},
		offIn: func(MonitorScope) string { return "" },
		tests: func(m *monitorJudge, _ record.Thresholds) []sampleTest {
			var per []sampleTest
			if len(m.samples) > 0 {
				for cpu := range m.samples[0].CPUs {
					per = append(per, m.clockStall(cpu))
				}
			}
			return per
		},
	},
	{
		name: CheckMonitorWorkCons,
		limit: func(t record.Thresholds, n int) any {
			if t.MonitorWorkConservation == nil || !*t.MonitorWorkConservation {
				return nil
			}
			return fmt.Sprintf("no CPU idle while tasks wait (sustained %d)", n)
		},
		// Static disjoint cpusets are judged within each cpuset.
		offIn: func(sc MonitorScope) string {
			if sc.Restricted && sc.Partition == nil {
				return offRestricted
			}
			return ""
		},
		tests: func(m *monitorJudge, _ record.Thresholds) []sampleTest {
			return []sampleTest{m.workConservation(m.partition)}
		},
	},
}

// monitorJudge holds what the monitor checks share: the samples, the
// indices of those in the window, which of those are set aside.
type monitorJudge struct {
	samples  []record.MonitorSample
	in       []int
	setAside []bool
	n        int
	minRunS  float64
	// partition: see MonitorScope.
	partition []int
	res       MonitorResult
}

// interval returns window sample k and the sample before it (ok false for
// the first sample of the series).
func (m *monitorJudge) interval(k int) (prev, s record.MonitorSample, ok bool) {
	i := m.in[k]
	if i == 0 {
		return record.MonitorSample{}, m.samples[i], false
	}
	return m.samples[i-1], m.samples[i], true
}

// ran and waited are CPU c's vCPU host run and wait over an interval.
func ran(a, b record.MonitorSample, c int) float64 { return b.CPUs[c].VCPURunS - a.CPUs[c].VCPURunS }
func waited(a, b record.MonitorSample, c int) float64 {
	return b.CPUs[c].VCPUWaitS - a.CPUs[c].VCPUWaitS
}

// hostHeld says why the interval ending at window sample k is set aside:
// a vCPU whose CPU had runnable tasks barely ran and waited on the host
// for most of it; "" when none did.
func (m *monitorJudge) hostHeld(k int) string {
	a, b, ok := m.interval(k)
	if !ok {
		return ""
	}
	dt := b.T - a.T
	for c := range b.CPUs {
		if c >= len(a.CPUs) || (a.CPUs[c].Nr == 0 && b.CPUs[c].Nr == 0) {
			continue
		}
		if heldByHost(ran(a, b, c), waited(a, b, c), dt) {
			return fmt.Sprintf("the host kept cpu%d's vCPU waiting %.0f%% of an interval with %d tasks runnable on it", c, waited(a, b, c)/dt*100, max(a.CPUs[c].Nr, b.CPUs[c].Nr))
		}
	}
	return ""
}

// halted says the guest halted CPU c through the interval: its vCPU
// barely ran on the host and was not kept waiting there.
func halted(a, b record.MonitorSample, c int) bool {
	dt := b.T - a.T
	return c < len(a.CPUs) && ran(a, b, c) < barelyRan*dt && waited(a, b, c) < hostHeldShare*dt
}

// runs reports maximal runs of at least n violating window samples, with
// set-aside samples skipped (they neither count nor end a run).
func (m *monitorJudge) runs(check string, bad func(k int) (bool, string)) {
	start, end, count, last := -1, -1, 0, ""
	flush := func() {
		if start >= 0 && count >= m.n {
			m.res.Violations = append(m.res.Violations, MonitorViolation{Check: check, Start: m.in[start], End: m.in[end], Detail: last})
		}
		start, count = -1, 0
	}
	for k := range m.in {
		if m.setAside[k] {
			continue
		}
		ok, why := bad(k)
		if !ok {
			flush()
			continue
		}
		if start < 0 {
			start, last = k, why
		}
		end = k
		count++
	}
	flush()
}

func (m *monitorJudge) imbalance(limit float64) func(int) (bool, string) {
	return func(k int) (bool, string) {
		s := m.samples[m.in[k]]
		lo, hi, loCPU, hiCPU := s.CPUs[0].Nr, s.CPUs[0].Nr, 0, 0
		for i, c := range s.CPUs {
			if c.Nr < lo {
				lo, loCPU = c.Nr, i
			}
			if c.Nr > hi {
				hi, hiCPU = c.Nr, i
			}
		}
		ratio := float64(hi) / float64(max(1, lo))
		return ratio > limit, fmt.Sprintf("nr_running %d on cpu%d vs %d on cpu%d (ratio %.1f)", hi, hiCPU, lo, loCPU, ratio)
	}
}

func (m *monitorJudge) localDSQ(limit uint32) func(int) (bool, string) {
	return func(k int) (bool, string) {
		for i, c := range m.samples[m.in[k]].CPUs {
			if c.DSQ != nil && *c.DSQ > limit {
				return true, fmt.Sprintf("cpu%d local DSQ %d deep", i, *c.DSQ)
			}
		}
		return false, ""
	}
}

// clockStall: CPU cpu's rq->clock did not move with tasks runnable while
// its vCPU ran at least stallTicks ticks' worth on the host.
func (m *monitorJudge) clockStall(cpu int) func(int) (bool, string) {
	return func(k int) (bool, string) {
		a, b, ok := m.interval(k)
		if !ok || cpu >= len(a.CPUs) || cpu >= len(b.CPUs) {
			return false, ""
		}
		ca, cb := a.CPUs[cpu], b.CPUs[cpu]
		if cb.Clock != ca.Clock || (ca.Nr == 0 && cb.Nr == 0) || cb.VCPURunS-ca.VCPURunS < m.minRunS {
			return false, ""
		}
		return true, fmt.Sprintf("cpu%d rq->clock stuck at %d ns with %d runnable while its vCPU ran %.0f ms on the host (≥ %d ticks)", cpu, cb.Clock, cb.Nr, (cb.VCPURunS-ca.VCPURunS)*1000, stallTicks)
	}
}

// queued is how many tasks wait on a CPU's runqueue: all of them when the
// CPU runs its idle task, all but the running one otherwise.
func queued(c record.MonitorCPUSample) int {
	if c.PID == 0 {
		return int(c.Nr)
	}
	return max(0, int(c.Nr)-1)
}

// workConservation: a CPU the guest halted while a task it could run
// waited elsewhere, or a CPU halted with tasks queued on it. part, when
// set, maps CPUs to static disjoint cpusets (see MonitorScope).
func (m *monitorJudge) workConservation(part []int) func(int) (bool, string) {
	// canTake says whether idle CPU i could run a task waiting on j.
	canTake := func(i, j int) bool {
		if part == nil {
			return true
		}
		if j >= len(part) || i >= len(part) {
			return false
		}
		return part[j] == -1 || part[j] == part[i]
	}
	return func(k int) (bool, string) {
		prev, s, ok := m.interval(k)
		if !ok {
			return false, ""
		}
		// idle: nothing runnable at either end and halted in between — a
		// CPU that picked up work between two samples is not idle.
		idle := func(i int) bool {
			return i < len(prev.CPUs) && s.CPUs[i].Nr == 0 && prev.CPUs[i].Nr == 0 && halted(prev, s, i)
		}
		var stranded []string
		isIdle := map[int]bool{}
		waiting, busiest := 0, -1
		for j, d := range s.CPUs {
			q := queued(d)
			if q == 0 {
				continue
			}
			// Halted with tasks queued at both ends: nobody ran them.
			if j < len(prev.CPUs) && queued(prev.CPUs[j]) > 0 && halted(prev, s, j) {
				stranded = append(stranded, fmt.Sprintf("cpu%d halted with %d tasks queued", j, q))
				waiting += q
				continue
			}
			taken := false
			for i := range s.CPUs {
				if i != j && idle(i) && canTake(i, j) {
					isIdle[i], taken = true, true
				}
			}
			if taken {
				waiting += q
				if busiest < 0 || d.Nr > s.CPUs[busiest].Nr {
					busiest = j
				}
			}
		}
		// Tasks in a global DSQ may run anywhere, unless cpusets say
		// otherwise (unknown from here).
		if part == nil {
			for _, g := range s.GlobalDSQ {
				if g == 0 {
					continue
				}
				waiting += int(g)
				for i := range s.CPUs {
					if idle(i) {
						isIdle[i] = true
					}
				}
			}
		}
		var idleCPUs []int
		for i := range s.CPUs {
			if isIdle[i] {
				idleCPUs = append(idleCPUs, i)
			}
		}
		switch {
		case len(stranded) > 0:
			return true, strings.Join(stranded, ", ") + " (stranded: nothing ran them)"
		case len(idleCPUs) == 0 || waiting == 0:
			return false, ""
		}
		if busiest < 0 {
			busiest = 0
		}
		return true, fmt.Sprintf("cpu %s idle while %d tasks waited (cpu%d had %d runnable)", cpuList(idleCPUs), waiting, busiest, s.CPUs[busiest].Nr)
	}
}

// Monitor judges a run's monitor samples inside its scenario window. A run
// without monitor data, or without a scenario, gets no monitor checks.
func Monitor(r *record.Run, t record.Thresholds) []record.Check {
	m := r.Monitor
	if m == nil {
		return nil
	}
	skipAll := func(why string) []record.Check {
		var out []record.Check
		for _, mc := range monitorChecks {
			out = append(out, record.Check{Name: mc.name, Status: record.StatusSkip, Detail: why})
		}
		return out
	}
	sc, ok := Scope(r)
	switch {
	case m.Error != "":
		return skipAll("monitor: " + m.Error)
	case !ok:
		return skipAll("no scenario window")
	}
	t0 := sc.T0
	res := MonitorViolations(m.Timeline, t, sc)
	vs, inWindow := res.Violations, res.InWindow
	n := sustained(t)
	var out []record.Check
	for _, mc := range monitorChecks {
		name := mc.name
		c := record.Check{Name: name, Status: record.StatusPass, Limit: mc.limit(t, n)}
		switch {
		case c.Limit == nil:
			c.Status, c.Detail = record.StatusSkip, "off"
		case mc.offIn(sc) != "":
			c.Status, c.Detail = record.StatusSkip, mc.offIn(sc)
		case inWindow < n:
			c.Status, c.Detail = record.StatusSkip, fmt.Sprintf("%d monitor samples in the scenario window, fewer than %d", inWindow, n)
		}
		if c.Status != record.StatusPass {
			out = append(out, c)
			continue
		}
		var worst *MonitorViolation
		count := 0
		for i := range vs {
			if vs[i].Check != name {
				continue
			}
			count++
			c.Spans = append(c.Spans, record.Span{FromS: m.Timeline[vs[i].Start].T - t0, ToS: m.Timeline[vs[i].End].T - t0})
			if worst == nil || vs[i].End-vs[i].Start > worst.End-worst.Start {
				worst = &vs[i]
			}
		}
		c.Value = fmt.Sprintf("%d sustained violations in %d samples", count, inWindow)
		if worst != nil {
			c.Status = record.StatusFail
			a, b := m.Timeline[worst.Start].T, m.Timeline[worst.End].T
			c.Detail = fmt.Sprintf("%s for %d samples (%.1f s, t=%.1f–%.1f s host, %.1f s into the scenario)", worst.Detail, worst.End-worst.Start+1, b-a, a, b, a-t0)
		}
		if res.SetAside > 0 {
			// Never silent: what was not judged, and why.
			c.Detail = strings.TrimPrefix(c.Detail+fmt.Sprintf("; %d of %d samples set aside, the host's doing (e.g. %s)", res.SetAside, inWindow, res.SetAsideWhy), "; ")
		}
		if m.Stride > 1 {
			c.Detail = strings.TrimSpace(c.Detail + fmt.Sprintf(" (timeline thinned: every %d-th sample)", m.Stride))
		}
		out = append(out, c)
	}
	return out
}

// partition maps CPUs to the scenario's cpusets when they were static and
// pairwise disjoint and no worker had an affinity beyond its cpuset; nil
// otherwise.
func partition(r *record.Run) []int {
	if r.Scenario == nil || r.Job == nil || r.Job.Topology == nil || r.Job.Topology.CPUs <= 0 {
		return nil
	}
	part := make([]int, r.Job.Topology.CPUs)
	for i := range part {
		part[i] = -1
	}
	for gi, cg := range r.Scenario.Cgroups {
		if len(cg.CpusetHistory) > 1 || (cg.Cpuset == "" && len(cg.CpusetHistory) > 0) {
			return nil
		}
		for _, w := range cg.Workers {
			if w.Affinity != "" || (w.AllowedCPUs != "" && w.AllowedCPUs != cg.Cpuset && cg.Cpuset != "") {
				return nil
			}
			if cg.Cpuset == "" && w.AllowedCPUs != "" {
				if cpus, err := topology.ParseList(w.AllowedCPUs); err != nil || len(cpus) != len(part) {
					return nil
				}
			}
		}
		if cg.Cpuset == "" {
			continue
		}
		cpus, err := topology.ParseList(cg.Cpuset)
		if err != nil {
			return nil
		}
		for _, c := range cpus {
			if c < 0 || c >= len(part) || part[c] != -1 {
				return nil // outside the guest, or overlapping another cpuset
			}
			part[c] = gi
		}
	}
	return part
}

// restricted reports whether any scenario cgroup had a cpuset or any
// worker an affinity or fewer allowed CPUs than the guest has: then an
// uneven spread or an idle CPU beside waiting tasks may be what the
// scenario asked for.
func restricted(r *record.Run) bool {
	if r.Scenario == nil {
		return false
	}
	all := ""
	if r.Job != nil && r.Job.Topology != nil && r.Job.Topology.CPUs > 0 {
		all = "0"
		if n := r.Job.Topology.CPUs; n > 1 {
			all = fmt.Sprintf("0-%d", n-1)
		}
	}
	// Ops that pin workers mid-run (set_affinity) restrict them too: the
	// workers' reports carry the affinity they were launched with.
	for _, st := range r.Scenario.Steps {
		for _, op := range st.Ops {
			if strings.Contains(op, "affinity") {
				return true
			}
		}
	}
	for _, cg := range r.Scenario.Cgroups {
		if cg.Cpuset != "" || len(cg.CpusetHistory) > 0 {
			return true
		}
		for _, w := range cg.Workers {
			if w.Affinity != "" || (all != "" && w.AllowedCPUs != "" && w.AllowedCPUs != all) {
				return true
			}
		}
	}
	return false
}

func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		} else {
			parts = append(parts, fmt.Sprint(cpus[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// MonitorLast renders a failed run's last monitor samples as a short
// per-CPU table (nr_running/local DSQ depth and the current task), or ""
// when the record has none.
func MonitorLast(r *record.Run) string {
	if r.Monitor == nil || len(r.Monitor.Last) == 0 {
		return ""
	}
	last := r.Monitor.Last
	if len(last) > 10 {
		last = last[len(last)-10:]
	}
	var b strings.Builder
	if sum := idleSummary(r.Monitor.Last); sum != "" {
		fmt.Fprintf(&b, "%s\n", sum)
	}
	fmt.Fprintf(&b, "last monitor samples (host t, per CPU nr_running/local DSQ, current task):\n")
	for _, s := range last {
		fmt.Fprintf(&b, "  t=%6.1fs", s.T)
		if s.SCXState != "" {
			fmt.Fprintf(&b, " %-9s", s.SCXState)
		}
		for i, c := range s.CPUs {
			dsq := "-"
			if c.DSQ != nil {
				dsq = fmt.Sprint(*c.DSQ)
			}
			comm := c.Comm
			if c.PID == 0 {
				comm = "idle"
			}
			if len(comm) > 8 {
				comm = comm[:8]
			}
			fmt.Fprintf(&b, " | %d: %d/%s %-8s", i, c.Nr, dsq, comm)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// windowPad is how many samples a violation window keeps on each side.
const windowPad = 10

// MonitorWindows finds the monitor violations of a run (its scenario
// window, thresholds t) in samples, the full-rate series, and returns each
// with the samples around it, for the run record: ktstr-verify may only
// have a thinned timeline.
func MonitorWindows(r *record.Run, samples []record.MonitorSample, t record.Thresholds) []record.MonitorWindow {
	sc, ok := Scope(r)
	if !ok {
		return nil
	}
	var out []record.MonitorWindow
	for _, v := range MonitorViolations(samples, t, sc).Violations {
		lo, hi := max(0, v.Start-windowPad), min(len(samples), v.End+windowPad+1)
		out = append(out, record.MonitorWindow{Check: v.Check, AtT: samples[v.Start].T, Detail: v.Detail, Samples: samples[lo:hi]})
		if len(out) == 20 {
			break
		}
	}
	return out
}

// idleSummary says which CPUs stayed idle through samples while others had
// tasks waiting throughout: the one line a timeout most needs.
func idleSummary(samples []record.MonitorSample) string {
	if len(samples) < 2 {
		return ""
	}
	n := len(samples[0].CPUs)
	var idle []int
	minWaiting := -1
	for cpu := 0; cpu < n; cpu++ {
		always := true
		for _, s := range samples {
			if cpu >= len(s.CPUs) || s.CPUs[cpu].Nr != 0 {
				always = false
				break
			}
		}
		if always {
			idle = append(idle, cpu)
		}
	}
	for _, s := range samples {
		w := 0
		for _, c := range s.CPUs {
			if c.Nr > 1 {
				w += int(c.Nr) - 1
			}
		}
		for _, g := range s.GlobalDSQ {
			w += int(g)
		}
		if minWaiting < 0 || w < minWaiting {
			minWaiting = w
		}
	}
	if len(idle) == 0 || minWaiting <= 0 {
		return ""
	}
	span := samples[len(samples)-1].T - samples[0].T
	return fmt.Sprintf("monitor: cpu %s idle for the last %.1f s while at least %d tasks waited on other CPUs", cpuList(idle), span, minWaiting)
}
