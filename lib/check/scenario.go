package check

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/topology"
)

// hostView answers how long the host kept a vCPU waiting for a host CPU,
// from the run's host samples, on the agent's clock.
type hostView struct {
	samples []record.HostSample
	clock   float64 // host_t = agent_t + clock
}

// waitAt interpolates vCPU cpu's cumulative wait at host time t.
func (h hostView) waitAt(cpu int, t float64) (float64, bool) {
	s := h.samples
	if len(s) < 2 || t < s[0].T || t > s[len(s)-1].T {
		return 0, false
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].T >= t })
	if i == 0 {
		i = 1
	}
	a, b := s[i-1], s[i]
	if cpu >= len(a.WaitS) || cpu >= len(b.WaitS) || b.T == a.T {
		return 0, false
	}
	f := (t - a.T) / (b.T - a.T)
	return a.WaitS[cpu] + f*(b.WaitS[cpu]-a.WaitS[cpu]), true
}

// waitShare is the share of agent-time window [t0, t1] that vCPU cpu spent
// runnable but not running on the host.
func (h hostView) waitShare(cpu int, t0, t1 float64) (float64, bool) {
	if t1 <= t0 || len(h.samples) < 2 {
		return 0, false
	}
	// The agent clock maps to host time within the 0.1 s poll period, so
	// a window may poke past the samples: clamp it, if most of it remains.
	a, b := t0+h.clock, t1+h.clock
	first, last := h.samples[0].T, h.samples[len(h.samples)-1].T
	ca, cb := max(a, first), min(b, last)
	if cb-ca < (b-a)/2 {
		return 0, false
	}
	t0, t1 = ca, cb
	w0, ok0 := h.waitAt(cpu, t0)
	w1, ok1 := h.waitAt(cpu, t1)
	if !ok0 || !ok1 {
		return 0, false
	}
	return (w1 - w0) / (t1 - t0), true
}

// worstShare is the largest waitShare of any vCPU over the window.
func (h hostView) worstShare(t0, t1 float64) (share float64, cpu int, ok bool) {
	if len(h.samples) == 0 {
		return 0, 0, false
	}
	for c := range h.samples[0].WaitS {
		if s, good := h.waitShare(c, t0, t1); good && s > share {
			share, cpu, ok = s, c, true
		}
	}
	return share, cpu, ok
}

// scenarioChecker holds what the scenario checks share.
type scenarioChecker struct {
	t      record.Thresholds
	sc     *record.ScenarioResult
	host   hostView
	cpus   int // the guest's CPUs
	checks []record.Check
}

// Scenario checks a run's scenario telemetry against thresholds t.
func Scenario(r *record.Run, t record.Thresholds) []record.Check {
	if r.Scenario == nil {
		return []record.Check{{Name: "scenario", Status: record.StatusFail, Detail: "the job ran a scenario but the guest reported no result"}}
	}
	c := &scenarioChecker{t: t, sc: r.Scenario, host: hostView{samples: r.HostSamples, clock: r.Timings.AgentClockS}}
	if r.Job != nil && r.Job.Topology != nil {
		c.cpus = r.Job.Topology.CPUs
	}
	if len(c.sc.Errors) > 0 {
		c.add(record.Check{Name: "scenario.errors", Status: record.StatusError, Value: len(c.sc.Errors), Limit: 0, Detail: strings.Join(c.sc.Errors, "; ")})
	}
	for i := range c.sc.Cgroups {
		c.cgroup(&c.sc.Cgroups[i])
	}
	return c.checks
}

func (c *scenarioChecker) add(ch record.Check) { c.checks = append(c.checks, ch) }

// timing marks a failed timing check inconclusive when the host starved
// the vCPUs enough to explain it: the worst vCPU waited at least
// MaxHostWaitPct of the scenario.
func (c *scenarioChecker) timing(ch record.Check) record.Check {
	if ch.Status != record.StatusFail || c.t.MaxHostWaitPct == nil {
		return ch
	}
	share, cpu, ok := c.host.worstShare(c.sc.StartT, c.sc.StartT+c.sc.WallS)
	if ok && share*100 >= *c.t.MaxHostWaitPct {
		ch.Status = record.StatusInconclusive
		ch.Detail += fmt.Sprintf("; inconclusive: the host kept vCPU %d waiting %.0f%% of the scenario (limit %.0f%%)", cpu, share*100, *c.t.MaxHostWaitPct)
	}
	return ch
}

func (c *scenarioChecker) cgroup(cg *record.CgroupResult) {
	name := func(check string) string { return fmt.Sprintf("%s[%s]", check, cg.Name) }
	var measured []record.WorkerReport // workers with telemetry
	for _, w := range cg.Workers {
		if w.WorkType != "Custom" && w.Error == "" {
			measured = append(measured, w)
		}
	}
	nCPUs := c.cpus
	if cpus, _ := topology.ParseList(cg.Cpuset); len(cpus) > 0 {
		nCPUs = len(cpus)
	}
	// Starvation.
	if c.t.NotStarved != nil && *c.t.NotStarved && !cg.Transient {
		ch := record.Check{Name: name("starvation"), Status: record.StatusPass, Limit: "> 0 work units"}
		var starved []string
		for _, w := range measured {
			if w.WorkUnits == 0 {
				starved = append(starved, fmt.Sprintf("pid %d starved (0 work units in %.1fs)", w.PID, w.WallS))
			}
		}
		ch.Value = len(starved)
		if len(starved) > 0 {
			ch.Status, ch.Detail = record.StatusFail, strings.Join(starved, "; ")
		}
		c.add(ch)
	}
	// Fairness: the spread of off-CPU shares among workers that ran
	// together (one launch cohort), the worst cohort of the cgroup.
	if c.t.MaxSpreadPct != nil && !cg.Transient {
		if ch, ok := c.spread(cohorts(measured), nCPUs); ok {
			ch.Name = name("spread")
			c.add(ch)
		}
	}
	// Scheduling gap: the longest time a worker made no progress.
	if c.t.MaxGapMS != nil && len(measured) > 0 {
		worst := measured[0]
		for _, w := range measured {
			if w.MaxGapMS > worst.MaxGapMS {
				worst = w
			}
		}
		ch := record.Check{Name: name("gap"), Status: record.StatusPass, Value: round(worst.MaxGapMS), Limit: *c.t.MaxGapMS}
		if worst.MaxGapMS > *c.t.MaxGapMS {
			ch.Status = record.StatusFail
			ch.Detail = fmt.Sprintf("pid %d stuck %.0fms on cpu%d at +%.0fms", worst.PID, worst.MaxGapMS, worst.MaxGapCPU, worst.MaxGapAtMS)
			ch = c.gapNoise(ch, worst)
		}
		c.add(ch)
	}
	// Isolation: workers ran only on CPUs their cpusets allowed.
	if c.t.Isolation != nil && *c.t.Isolation && !cg.Unrestricted && len(cg.CpusetHistory) > 0 {
		var allowed []int
		for _, h := range cg.CpusetHistory {
			cpus, _ := topology.ParseList(h)
			allowed = append(allowed, cpus...)
		}
		ch := record.Check{Name: name("isolation"), Status: record.StatusPass, Limit: topology.FormatList(allowed)}
		var bad []string
		var used []int
		for _, w := range measured {
			cpus, _ := topology.ParseList(w.CPUsUsed)
			used = append(used, cpus...)
			var outside []int
			for _, cpu := range cpus {
				if !slices.Contains(allowed, cpu) {
					outside = append(outside, cpu)
				}
			}
			if len(outside) > 0 {
				bad = append(bad, fmt.Sprintf("pid %d ran on unexpected CPUs {%s}", w.PID, topology.FormatList(outside)))
			}
		}
		ch.Value = topology.FormatList(used)
		if len(bad) > 0 {
			ch.Status, ch.Detail = record.StatusFail, strings.Join(bad, "; ")
		}
		c.add(ch)
	}
	c.throughput(cg, measured, name)
	c.wakeLatency(cg, measured, name)
	if c.t.MaxMigrationRatio != nil && len(measured) > 0 {
		var mig, it uint64
		for _, w := range measured {
			mig += w.Migrations
			it += w.Iterations
		}
		c.upper(name("migration_ratio"), float64(mig)/math.Max(1, float64(it)), *c.t.MaxMigrationRatio, false, "migration ratio %.3f over %d iterations", int(it))
	}
}

// cohorts groups workers by launch cohort, leaving out fan-out messengers
// (their role, not the scheduler, sets their share) and workers pinned to
// chosen CPU subsets.
func cohorts(ws []record.WorkerReport) [][]record.WorkerReport {
	by := map[int][]record.WorkerReport{}
	var order []int
	for _, w := range ws {
		// Workers confined to different CPU subsets on purpose are not
		// expected to get equal shares.
		if w.Role == "messenger" || w.Affinity == "random_subset" || w.Affinity == "single_cpu" || w.Affinity == "exact" {
			continue
		}
		if _, seen := by[w.Cohort]; !seen {
			order = append(order, w.Cohort)
		}
		by[w.Cohort] = append(by[w.Cohort], w)
	}
	var out [][]record.WorkerReport
	for _, k := range order {
		out = append(out, by[k])
	}
	return out
}

// spread checks the largest off-CPU spread of any cohort of ≥ 2 workers.
// The guest charges a task for time its vCPU spent descheduled on the
// host, so each worker's share can be off by the host wait of its CPUs and
// the spread by twice that: a violation within that bound is inconclusive.
func (c *scenarioChecker) spread(groups [][]record.WorkerReport, nCPUs int) (record.Check, bool) {
	var worst []record.WorkerReport
	worstSpread, lo, hi := -1.0, 0.0, 0.0
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		l, h := math.Inf(1), math.Inf(-1)
		for _, w := range g {
			l, h = min(l, w.OffCPUPct), max(h, w.OffCPUPct)
		}
		if h-l > worstSpread {
			worst, worstSpread, lo, hi = g, h-l, l, h
		}
	}
	if worst == nil {
		return record.Check{}, false
	}
	limit := *c.t.MaxSpreadPct
	ch := record.Check{Status: record.StatusPass, Value: round(worstSpread), Limit: limit}
	if worstSpread <= limit {
		return ch, true
	}
	ch.Status = record.StatusFail
	ch.Detail = fmt.Sprintf("unfair cgroup: spread=%.0f%% (%.0f-%.0f%%) %d workers on %d cpus", worstSpread, lo, hi, len(worst), nCPUs)
	var used []int
	for _, w := range worst {
		cpus, _ := topology.ParseList(w.CPUsUsed)
		used = append(used, cpus...)
	}
	slices.Sort(used)
	share, cpu, ok := 0.0, -1, false
	for _, u := range slices.Compact(used) {
		if s, good := c.host.waitShare(u, c.sc.StartT, c.sc.StartT+c.sc.WallS); good {
			ok = true
			if s > share {
				share, cpu = s, u
			}
		}
	}
	switch {
	case ok && worstSpread <= limit+2*share*100:
		ch.Status = record.StatusInconclusive
		ch.Detail += fmt.Sprintf("; inconclusive: the host kept vCPU %d waiting %.0f%% of the scenario, which can skew CPU accounting by up to %.0f points", cpu, share*100, 2*share*100)
	case ok:
		ch.Detail += fmt.Sprintf(" (host noise explains at most %.0f points: vCPU %d waited %.0f%%)", 2*share*100, cpu, share*100)
	}
	return ch, true
}

// gapNoise makes a gap failure inconclusive when the host kept the vCPU the
// worker ended on waiting for most of the gap.
func (c *scenarioChecker) gapNoise(ch record.Check, w record.WorkerReport) record.Check {
	if c.t.MaxHostWaitPct == nil || w.MaxGapStartT <= 0 || w.MaxGapCPU < 0 {
		return ch
	}
	t0 := w.MaxGapStartT
	share, ok := c.host.waitShare(w.MaxGapCPU, t0, t0+w.MaxGapMS/1000)
	if ok && share*100 >= *c.t.MaxHostWaitPct {
		ch.Status = record.StatusInconclusive
		ch.Detail += fmt.Sprintf("; inconclusive: the host kept vCPU %d waiting %.0f%% of the gap", w.MaxGapCPU, share*100)
	} else if ok {
		ch.Detail += fmt.Sprintf(" (the host kept vCPU %d waiting only %.0f%% of it)", w.MaxGapCPU, share*100)
	}
	return ch
}

func (c *scenarioChecker) throughput(cg *record.CgroupResult, ws []record.WorkerReport, name func(string) string) {
	if (c.t.MaxThroughputCV == nil && c.t.MinWorkRate == nil) || len(ws) == 0 {
		return
	}
	var rates []float64
	for _, w := range ws {
		if w.CPUS > 0 {
			rates = append(rates, float64(w.WorkUnits)/w.CPUS)
		}
	}
	if c.t.MaxThroughputCV != nil && len(rates) >= 2 {
		c.upper(name("throughput_cv"), coefVar(rates), *c.t.MaxThroughputCV, true, "work rate CV %.2f across %d workers", len(rates))
	}
	if c.t.MinWorkRate != nil {
		ch := record.Check{Name: name("min_work_rate"), Status: record.StatusPass, Limit: *c.t.MinWorkRate}
		low := math.Inf(1)
		for _, r := range rates {
			low = min(low, r)
		}
		ch.Value = round(low)
		if low < *c.t.MinWorkRate {
			ch.Status, ch.Detail = record.StatusFail, fmt.Sprintf("slowest worker did %.0f units per CPU second", low)
		}
		c.add(c.timing(ch))
	}
}

func (c *scenarioChecker) wakeLatency(cg *record.CgroupResult, ws []record.WorkerReport, name func(string) string) {
	var all []float64
	for _, w := range ws {
		all = append(all, w.WakeLatencyUS...)
	}
	if len(all) == 0 {
		return
	}
	if c.t.MaxP99WakeLatencyUS != nil {
		c.upper(name("wake_p99_us"), Percentile(all, 0.99), *c.t.MaxP99WakeLatencyUS, true, "p99 wake latency %.0fµs over %d samples", len(all))
	}
	if c.t.MaxWakeLatencyCV != nil && len(all) >= 2 {
		c.upper(name("wake_cv"), coefVar(all), *c.t.MaxWakeLatencyCV, true, "wake latency CV %.2f over %d samples", len(all))
	}
}

// upper adds a check that value stays at or under limit; on failure the
// detail is format applied to value and n. Timing checks get the host-noise
// treatment.
func (c *scenarioChecker) upper(name string, value, limit float64, timing bool, format string, n int) {
	ch := record.Check{Name: name, Status: record.StatusPass, Value: round(value), Limit: limit}
	if value > limit {
		ch.Status, ch.Detail = record.StatusFail, fmt.Sprintf(format, value, n)
	}
	if timing {
		ch = c.timing(ch)
	}
	c.add(ch)
}

// Percentile is the nearest-rank percentile: the ceil(n·p)-th smallest.
func Percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p)) - 1
	return s[max(0, min(i, len(s)-1))]
}

// coefVar is the population standard deviation over the mean (0 for a
// zero mean).
func coefVar(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/float64(len(xs))) / mean
}

func round(x float64) float64 { return math.Round(x*100) / 100 }
