package verdict

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// scenarioChecker holds what the scenario checks share.
type scenarioChecker struct {
	t      record.Thresholds
	sc     *record.ScenarioResult
	host   hostView
	cpus   int // the guest's CPUs
	checks []record.Check
}

// Scenario checks a run's scenario telemetry against thresholds t: per
// cgroup starvation, fairness (spread), scheduling gaps, isolation and the
// benchmark-style limits; across cgroups, fairness between equal cgroups
// and work conservation; and an early stop because every worker stalled.
func Scenario(r *record.Run, t record.Thresholds) []record.Check {
	if r.Scenario == nil {
		return []record.Check{{Name: "scenario", Status: record.StatusFail, Detail: "the job ran a scenario but the guest reported no result"}}
	}
	c := &scenarioChecker{t: t, sc: r.Scenario, host: newHostView(r)}
	if r.Job != nil && r.Job.Topology != nil {
		c.cpus = r.Job.Topology.CPUs
	}
	if len(c.sc.Errors) > 0 {
		c.add(record.Check{Name: "scenario.errors", Status: record.StatusError, Value: len(c.sc.Errors), Limit: 0, Detail: strings.Join(c.sc.Errors, "; ")})
	}
	if c.sc.Stalled != nil {
		c.stall(c.sc.Stalled)
	}
	for i := range c.sc.Cgroups {
		c.cgroup(&c.sc.Cgroups[i])
	}
	c.cgroupFairness()
	c.workConservation()
	return c.checks
}

func newHostView(r *record.Run) hostView {
	h := hostView{clock: r.Timings.AgentClockS}
	for _, s := range r.HostSamples {
		h.samples = append(h.samples, hostSample{t: s.T, waitS: s.WaitS, runS: s.RunS})
	}
	return h
}

func (c *scenarioChecker) add(ch record.Check) { c.checks = append(c.checks, ch) }

// measured are the workers with telemetry: not Custom commands and not
// workers that failed to set up.
func measured(cg *record.CgroupResult) []record.WorkerReport {
	var out []record.WorkerReport
	for _, w := range cg.Workers {
		if w.WorkType != "Custom" && w.Error == "" {
			out = append(out, w)
		}
	}
	return out
}

func (c *scenarioChecker) cgroup(cg *record.CgroupResult) {
	name := func(check string) string { return fmt.Sprintf("%s[%s]", check, cg.Name) }
	ws := measured(cg)
	nCPUs := c.cpus
	if cpus, _ := topology.ParseList(cg.Cpuset); len(cpus) > 0 {
		nCPUs = len(cpus)
	}
	if c.t.NotStarved != nil && *c.t.NotStarved && !cg.Transient && len(ws) > 0 {
		ch := c.starvation(ws)
		ch.Name = name("starvation")
		c.add(ch)
	}
	// Fairness within a cgroup is judged only where its workers faced the
	// same competition on every CPU they could use.
	fairness := func(check string, ch record.Check) {
		ch.Name = name(check)
		if other := c.partialOverlap(cg, ws); other != "" {
			ch = record.Check{Name: ch.Name, Status: record.StatusSkip, Value: ch.Value,
				Detail: fmt.Sprintf("not judged: %s shares only some of this cgroup's CPUs, so its workers face different competition on different CPUs", other)}
		}
		c.add(ch)
	}
	if c.t.MaxSpreadPct != nil && !cg.Transient {
		if ch, ok := c.spread(cohorts(ws), nCPUs); ok {
			fairness("spread", ch)
		}
	}
	if c.t.MinFairSharePct != nil && !cg.Transient {
		if ch, ok := c.fairShare(cohorts(ws)); ok {
			fairness("fair_share", ch)
		}
	}
	if c.t.MaxGapMS != nil && len(ws) > 0 {
		ch := c.gap(ws)
		ch.Name = name("gap")
		c.add(ch)
	}
	if c.t.Isolation != nil && *c.t.Isolation && !cg.Unrestricted && len(cg.CpusetHistory) > 0 {
		ch := isolation(cg, ws)
		ch.Name = name("isolation")
		c.add(ch)
	}
	c.throughput(ws, name)
	c.wakeLatency(ws, name)
	if c.t.MaxMigrationRatio != nil && len(ws) > 0 {
		var mig, it uint64
		for _, w := range ws {
			mig += w.Migrations
			it += w.Iterations
		}
		c.upper(name("migration_ratio"), float64(mig)/math.Max(1, float64(it)), *c.t.MaxMigrationRatio, "migration ratio %.3f over %d iterations", int(it))
	}
}

// starvation fails workers that did no work, that were still stuck when
// the scenario stopped, or that did far less than their cohort. Its value
// is the number of starved workers.
func (c *scenarioChecker) starvation(ws []record.WorkerReport) record.Check {
	ch := record.Check{Status: record.StatusPass, Limit: "0 starved"}
	floor := 0.0
	if c.t.MinCohortWorkPct != nil {
		floor = *c.t.MinCohortWorkPct
	}
	// The yardstick is the median of the workers that ran to the end: the
	// starved ones must not drag it down to their level.
	median := map[int]float64{} // cohort → median work units
	for _, g := range cohortsAll(ws) {
		var u []float64
		for _, w := range g {
			if !w.Unreported && w.WorkUnits > 0 {
				u = append(u, float64(w.WorkUnits))
			}
		}
		if len(g) >= 2 && len(u) > 0 {
			// The upper median: in a cohort of two, the slow worker
			// must be held against the other, not against itself.
			slices.Sort(u)
			median[g[0].Cohort] = u[len(u)/2]
		}
	}
	// A worker that had progressed shortly before the stop and was merely
	// slow to stop (on a loaded host, not run within the grace) is not
	// starved: stuck counts from the gap limit on.
	stuckFloor := 0.0
	if c.t.MaxGapMS != nil {
		stuckFloor = *c.t.MaxGapMS
	}
	var starved []string
	lowest, lowestPct := -1, math.Inf(1)
	for i, w := range ws {
		m, hasPeers := median[w.Cohort]
		pct := math.Inf(1)
		if hasPeers && m > 0 {
			pct = float64(w.WorkUnits) / m * 100
		}
		if pct < lowestPct || lowest < 0 {
			lowest, lowestPct = i, pct
		}
		switch {
		case w.Unreported && w.WorkUnits == 0:
			starved = append(starved, fmt.Sprintf("pid %d never ran: 0 work units, stuck %.1fs at stop", w.PID, w.StuckS))
		case w.Unreported && w.StuckS*1000 >= stuckFloor:
			starved = append(starved, fmt.Sprintf("pid %d stuck %.1fs at stop (%d work units before)", w.PID, w.StuckS, w.WorkUnits))
		case w.WorkUnits == 0:
			starved = append(starved, fmt.Sprintf("pid %d did 0 work units in %.1fs", w.PID, w.WallS))
		case hasPeers && pct < floor:
			starved = append(starved, fmt.Sprintf("pid %d did %d work units, %.0f%% of its cohort's median %.0f (limit %.0f%%)", w.PID, w.WorkUnits, pct, m, floor))
		}
	}
	ch.Value = len(starved)
	if len(starved) > 0 {
		ch.Status = record.StatusFail
		ch.Detail = fmt.Sprintf("%d of %d workers starved: %s", len(starved), len(ws), strings.Join(starved, "; "))
		return ch
	}
	w := ws[lowest]
	ch.Detail = fmt.Sprintf("0 of %d workers starved; fewest work units: pid %d, %d", len(ws), w.PID, w.WorkUnits)
	if !math.IsInf(lowestPct, 1) {
		ch.Detail += fmt.Sprintf(" (%.0f%% of its cohort's median)", lowestPct)
	}
	return ch
}

// partialOverlap names another cgroup whose workers ran at the same time on
// some, but not all, of the CPUs this cgroup's workers may use ("" when
// every other cgroup shares all of them or none). With group scheduling a
// cgroup's share is split per CPU by the competition there, so workers of
// one cgroup on CPUs shared unequally get unequal shares by design, and
// their spread says nothing about the scheduler's fairness.
func (c *scenarioChecker) partialOverlap(cg *record.CgroupResult, ws []record.WorkerReport) string {
	mine := usedCPUs(ws, true)
	t0, t1 := c.window(ws)
	for i := range c.sc.Cgroups {
		o := &c.sc.Cgroups[i]
		if o.Name == cg.Name {
			continue
		}
		ows := measured(o)
		if len(ows) == 0 {
			continue
		}
		if o0, o1 := c.window(ows); o1 <= t0 || o0 >= t1 {
			continue
		}
		theirs := usedCPUs(ows, true)
		shared := 0
		for _, cpu := range theirs {
			if slices.Contains(mine, cpu) {
				shared++
			}
		}
		if shared > 0 && shared < len(mine) {
			return o.Name
		}
	}
	return ""
}

// cohortsAll groups workers by launch cohort: workers of one launch share
// work type, policy, nice and affinity and started together.
func cohortsAll(ws []record.WorkerReport) [][]record.WorkerReport {
	by := map[int][]record.WorkerReport{}
	var order []int
	for _, w := range ws {
		if w.Role == "messenger" {
			continue // its role, not the scheduler, sets its share
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

// cohorts are the cohorts whose workers may expect equal CPU shares:
// workers confined to different CPU subsets on purpose are left out.
func cohorts(ws []record.WorkerReport) [][]record.WorkerReport {
	var out [][]record.WorkerReport
	for _, g := range cohortsAll(ws) {
		var keep []record.WorkerReport
		for _, w := range g {
			if w.Affinity != "random_subset" && w.Affinity != "single_cpu" && w.Affinity != "exact" {
				keep = append(keep, w)
			}
		}
		if len(keep) > 0 {
			out = append(out, keep)
		}
	}
	return out
}

// runnableS is how long a worker was runnable: from its release to when
// it stopped. Its own WallS starts when it first ran, so a worker the
// scheduler held from the start would look as if it had run all along.
func runnableS(w record.WorkerReport) float64 {
	if w.StartT > 0 && w.StopT > w.StartT {
		return max(w.WallS, w.StopT-w.StartT)
	}
	return w.WallS
}

// window is the agent-time span of a set of workers: earliest release to
// latest stop. Reports without StartT fall back to the scenario's window.
func (c *scenarioChecker) window(ws []record.WorkerReport) (t0, t1 float64) {
	t0, t1 = math.Inf(1), math.Inf(-1)
	for _, w := range ws {
		if w.StartT <= 0 {
			return c.sc.StartT, c.sc.StartT + c.sc.WallS
		}
		t0, t1 = min(t0, w.StartT), max(t1, w.StartT+runnableS(w))
	}
	if t0 > t1 {
		return c.sc.StartT, c.sc.StartT + c.sc.WallS
	}
	return t0, t1
}

// usedCPUs lists the CPUs a set of workers ran on or could run on.
func usedCPUs(ws []record.WorkerReport, allowed bool) []int {
	var out []int
	for _, w := range ws {
		list := w.CPUsUsed
		if allowed && w.AllowedCPUs != "" {
			list = w.AllowedCPUs
		}
		cpus, _ := topology.ParseList(list)
		out = append(out, cpus...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// stallExplained is the share of a stall the guest may have run, on its
// least-held vCPU, for the host to explain the stall.
const stallExplained = 0.1

// stall reports an early stop: every worker stuck at once. A stall is the
// scheduler's unless the host held every vCPU for most of it.
func (c *scenarioChecker) stall(st *record.Stall) {
	ch := record.Check{Name: "stall", Status: record.StatusFail, Value: round(st.ForMS), Limit: "no stall"}
	ch.Detail = fmt.Sprintf("no worker (of %d) made progress for %.0fms; the scenario was stopped early at +%.1fs", st.Workers, st.ForMS, st.AtS)
	if st.Dump {
		ch.Detail += " and a sched_ext dump taken (see the scheduler section)"
	}
	limit := 0.0
	if c.t.MaxGapMS != nil {
		limit = *c.t.MaxGapMS
		ch.Limit = limit
	}
	t1 := c.sc.StartT + st.AtS
	t0 := t1 - st.ForMS/1000
	// The stall is detected as soon as it passes the limit, so measuring
	// the remainder against the limit would excuse any noise at all. The
	// host explains it only if it held every vCPU for nearly all of it: a
	// healthy scheduler runs some worker on the vCPU the host held least.
	lo, _, cpu, _, ok := c.host.shares(nil, t0, t1)
	if ok {
		remainder := st.ForMS * (1 - lo)
		ch.Detail += fmt.Sprintf("; the host held every vCPU at least %.0f%% of it (vCPU %d least), so the guest ran %.0fms", lo*100, cpu, remainder)
		if remainder <= st.ForMS*stallExplained {
			ch.Status = record.StatusInconclusive
			ch.Detail += fmt.Sprintf(", ≤ %.0f%% of the stall: inconclusive", stallExplained*100)
		} else {
			ch.Detail += " without any worker progressing"
		}
	}
	c.add(ch)
}

func isolation(cg *record.CgroupResult, ws []record.WorkerReport) record.Check {
	var allowed []int
	for _, h := range cg.CpusetHistory {
		cpus, _ := topology.ParseList(h)
		allowed = append(allowed, cpus...)
	}
	ch := record.Check{Status: record.StatusPass, Limit: topology.FormatList(allowed)}
	var bad []string
	for _, w := range ws {
		cpus, _ := topology.ParseList(w.CPUsUsed)
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
	ch.Value = topology.FormatList(usedCPUs(ws, false))
	if len(bad) > 0 {
		ch.Status, ch.Detail = record.StatusFail, strings.Join(bad, "; ")
	}
	return ch
}

// demandKey says what a cgroup asks for: its cpuset and its workers' kinds
// and numbers. Cgroups with equal keys (and equal weight: the scenario
// model has no weights, so all are equal) should get equal CPU.
func demandKey(cg *record.CgroupResult, ws []record.WorkerReport) string {
	var kinds []string
	for _, w := range ws {
		kinds = append(kinds, fmt.Sprintf("%s/%s/%d/%s", w.WorkType, w.Policy, w.Nice, w.Affinity))
	}
	slices.Sort(kinds)
	return cg.Cpuset + "|" + strings.Join(kinds, ",")
}

// cgroupShare is a cgroup's CPU, in CPUs, while its workers were runnable.
type cgroupShare struct {
	name string
	// cpus is the CPU charged to its workers, exec the CPU they executed
	// (charged less on-CPU stalls), both in CPUs over their mean runnable
	// time (runnableS).
	cpus, exec float64
	t0, t1     float64
	ws         []record.WorkerReport
}

// cgroupFairness compares cgroups of equal weight and demand that ran at
// the same time: their CPU shares must be within MaxCgroupSpreadPct of
// each other.
func (c *scenarioChecker) cgroupFairness() {
	if c.t.MaxCgroupSpreadPct == nil {
		return
	}
	groups := map[string][]cgroupShare{}
	var order []string
	for i := range c.sc.Cgroups {
		cg := &c.sc.Cgroups[i]
		ws := measured(cg)
		// Churned cgroups, cgroups whose cpuset changed, and cgroups with
		// workers that failed or are affinity-pinned are not comparable.
		if cg.Transient || cg.Host || len(cg.CpusetHistory) > 1 || len(ws) == 0 || len(ws) != len(cg.Workers) || len(cohorts(ws)) != len(cohortsAll(ws)) {
			continue
		}
		// Both views: CPU charged, and CPU executed (charged less on-CPU
		// stalls), over the time the workers were runnable (a wait before
		// the first run is the scheduler's too).
		var cpu, exec, wall float64
		for _, w := range ws {
			cpu += w.CPUS
			exec += max(0, w.CPUS-w.OnCPUStallS)
			wall += runnableS(w)
		}
		if wall <= 0 {
			continue
		}
		t0, t1 := c.window(ws)
		k := demandKey(cg, ws)
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], cgroupShare{name: cg.Name, cpus: cpu / (wall / float64(len(ws))), exec: exec / (wall / float64(len(ws))), t0: t0, t1: t1, ws: ws})
	}
	for _, k := range order {
		for _, g := range concurrent(groups[k]) {
			c.fairness(g, *c.t.MaxCgroupSpreadPct)
		}
	}
}

// concurrent splits equal cgroups into sets that ran over the same window
// (start and end within a tenth of the window of each other).
func concurrent(cs []cgroupShare) [][]cgroupShare {
	var out [][]cgroupShare
	for _, s := range cs {
		placed := false
		for i, g := range out {
			tol := (g[0].t1 - g[0].t0) / 10
			if math.Abs(s.t0-g[0].t0) <= tol && math.Abs(s.t1-g[0].t1) <= tol {
				out[i] = append(out[i], s)
				placed = true
				break
			}
		}
		if !placed {
			out = append(out, []cgroupShare{s})
		}
	}
	return out
}

// workConservation: CPU-bound workers are runnable from start to stop, so
// while they run, the CPUs they may use must not be idle — at least as many
// of them as the workers can occupy (a matching of workers to allowed
// CPUs). Idle time is the guest's own (/proc/stat, per step): the guest
// charges host-stolen time to the running task, so host noise cannot make a
// busy CPU look idle, and any task keeping a CPU busy counts. A step is
// judged only while the scenario is steady: no op has run yet (ops move
// workers and change cpusets) and the hold does not loop.
func (c *scenarioChecker) workConservation() {
	if c.t.MinBusyPct == nil {
		return
	}
	var ws []record.WorkerReport
	names := map[int]string{} // pid → cgroup
	for i := range c.sc.Cgroups {
		cg := &c.sc.Cgroups[i]
		if cg.Transient || len(cg.CpusetHistory) > 1 {
			continue
		}
		for _, w := range measured(cg) {
			if w.CPUBound && w.AllowedCPUs != "" && w.WallS > 0 && w.StartT > 0 {
				ws = append(ws, w)
				names[w.PID] = cg.Name
			}
		}
	}
	for _, st := range c.sc.Steps {
		if len(st.Ops) > 0 || st.Looped {
			return // from here on the workers' cpus may have moved
		}
		window := st.HoldT1 - st.HoldT0
		if len(st.IdleS) == 0 || window < 1 {
			continue
		}
		// Workers runnable through the whole hold (a little slack for
		// the agent's clock reads).
		var alive []record.WorkerReport
		for _, w := range ws {
			stop := w.StopT
			if stop <= 0 {
				stop = w.StartT + w.WallS
			}
			if w.StartT <= st.HoldT0+0.25 && stop >= st.HoldT1-0.25 {
				alive = append(alive, w)
			}
		}
		for _, comp := range overlapping(alive) {
			c.conservation(comp, names, st, window)
		}
	}
}

// overlapping splits workers into groups whose allowed CPUs overlap
// (connected components): each group competes for its own CPUs.
func overlapping(ws []record.WorkerReport) [][]record.WorkerReport {
	parent := make([]int, len(ws))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[int]int{} // cpu → first worker allowed on it
	for i, w := range ws {
		cpus, _ := topology.ParseList(w.AllowedCPUs)
		for _, cpu := range cpus {
			if j, ok := owner[cpu]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[cpu] = i
			}
		}
	}
	by := map[int][]record.WorkerReport{}
	var order []int
	for i, w := range ws {
		r := find(i)
		if _, seen := by[r]; !seen {
			order = append(order, r)
		}
		by[r] = append(by[r], w)
	}
	var out [][]record.WorkerReport
	for _, r := range order {
		out = append(out, by[r])
	}
	return out
}

// capacity is how many CPUs a set of always-runnable workers can keep busy
// at once: a maximum matching of workers to the CPUs each may use.
func capacity(ws []record.WorkerReport) int {
	allowed := make([][]int, len(ws))
	for i, w := range ws {
		allowed[i], _ = topology.ParseList(w.AllowedCPUs)
	}
	match := map[int]int{} // cpu → worker
	var try func(i int, seen map[int]bool) bool
	try = func(i int, seen map[int]bool) bool {
		for _, cpu := range allowed[i] {
			if seen[cpu] {
				continue
			}
			seen[cpu] = true
			if j, taken := match[cpu]; !taken || try(j, seen) {
				match[cpu] = i
				return true
			}
		}
		return false
	}
	n := 0
	for i := range ws {
		if try(i, map[int]bool{}) {
			n++
		}
	}
	return n
}

func (c *scenarioChecker) conservation(ws []record.WorkerReport, cgroupOf map[int]string, st record.StepResult, window float64) {
	capCPUs := capacity(ws)
	if capCPUs == 0 {
		return
	}
	var names []string
	for _, w := range ws {
		if n := cgroupOf[w.PID]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	allowed := usedCPUs(ws, true)
	// Two guest views of how busy the CPUs were. The guest's idle time
	// counts, for a halted vCPU that was woken, the time until the host
	// ran its thread again: on a loaded host that is seconds of "idle"
	// with a task already queued there (seen: 1.6 s of 3 s on a CPU whose
	// two pinned spinners were current in every host-monitor sample). The
	// workers' charged CPU time counts the host's theft while they were
	// current as busy, which is right here: the scheduler had put them
	// there. A scheduler that leaves CPUs idle is idle in both views, so
	// the busier view is judged.
	idleBusy := 0.0
	for _, cpu := range allowed {
		if cpu < len(st.IdleS) {
			idleBusy += max(0, 1-st.IdleS[cpu]/window)
		}
	}
	charged := 0.0
	for _, w := range ws {
		// The worker's CPU time in the hold, if spread evenly over its life.
		charged += w.CPUS * min(1, window/w.WallS)
	}
	chargedBusy := min(charged/window, float64(len(allowed)))
	busy := max(idleBusy, chargedBusy)
	pct := min(100, busy/float64(capCPUs)*100)
	floor, design := c.busyFloor(allowed, st)
	ch := record.Check{Name: fmt.Sprintf("work_conservation[%s]", strings.Join(names, ",")), Status: record.StatusPass, Value: round(pct), Limit: round(floor)}
	ch.Detail = fmt.Sprintf("%s kept %.1f of %d allowed CPUs (%s) busy while %d CPU-bound workers were runnable (step %d, %.1fs)",
		strings.Join(names, "+"), busy, len(allowed), topology.FormatList(allowed), len(ws), st.Index, window)
	if capCPUs < len(allowed) {
		ch.Detail += fmt.Sprintf("; they can occupy %d", capCPUs)
	}
	ch.Detail += design
	if pct < floor {
		ch.Status = record.StatusFail
		ch.Detail += fmt.Sprintf(": %.0f%% busy < %.0f%%", pct, floor)
	}
	ch.Detail += fmt.Sprintf(" (busy by the guest's idle time %.1f, by the workers' charged CPU %.1f)", idleBusy, chargedBusy)
	c.add(ch)
}

// Percentile is the nearest-rank percentile: the ceil(n·p)-th smallest.
func Percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p)) - 1
	return s[max(0, min(i, len(s)-1))]
}

// CoefVar is the coefficient of variation: the population standard
// deviation over the mean (0 for a zero mean).
func CoefVar(xs []float64) float64 {
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

// busyFloor is the work-conservation floor for a step on allowed CPUs:
// MinBusyPct, or for a central-dispatch scheduler (DispatchCPU) MinBusyPct
// of what that design can reach there — the dispatching CPU fully, each
// other CPU for the share of the step the host ran the dispatcher's vCPU
// (they idle while it waits). A one-CPU fault still fails: on two CPUs
// with the dispatcher's vCPU held 5 % of the time the floor is 59 %, and
// one busy CPU is 50 %. design says how the floor was reached ("" for the
// plain limit).
func (c *scenarioChecker) busyFloor(allowed []int, st record.StepResult) (floor float64, design string) {
	floor = *c.t.MinBusyPct
	if c.t.DispatchCPU == nil || len(allowed) == 0 {
		return floor, ""
	}
	d := *c.t.DispatchCPU
	held, ok := c.host.waitShare(d, st.HoldT0, st.HoldT1)
	if !ok {
		return floor, fmt.Sprintf("; cpu%d dispatches for the others, but no host samples say how long its vCPU waited, so the floor stays %.0f%%", d, floor)
	}
	var reach float64
	for _, cpu := range allowed {
		if cpu == d {
			reach++
		} else {
			reach += 1 - held
		}
	}
	reach /= float64(len(allowed))
	floor *= reach
	return floor, fmt.Sprintf("; cpu%d dispatches for the others and the host held its vCPU %.0f%% of the step, so the design can keep %.0f%% busy: floor %.0f%% of it, %.0f%%",
		d, held*100, reach*100, *c.t.MinBusyPct, floor)
}
