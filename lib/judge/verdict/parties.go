package verdict

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// Noise is subtracted per party. A timing check's value is made by parties
// — the workers of a cohort, the cgroups of a fairness set, the worker with
// a gap — and each party was exposed to the host's noise on its own vCPUs
// over its own window. Each party's measured exposure is taken off that
// party alone, and the check is judged on the largest remainder (the
// check's Net): fail when it exceeds the limit, inconclusive when no
// remainder does but some raw value does. One party's noise never excuses
// another party's violation, and a quiet party's violation is never hidden
// behind a noisier one's larger raw value.

// judged sets ch's Net and status from the raw value and the largest
// remainder against an upper limit.
func judged(ch *record.Check, raw, net, limit float64) {
	n := round(net)
	ch.Net = &n
	switch {
	case net > limit:
		ch.Status = record.StatusFail
	case raw > limit:
		ch.Status = record.StatusInconclusive
	default:
		ch.Status = record.StatusPass
	}
}

// exposure is the mean share of agent-time window [t0, t1] that the host
// kept the vCPUs in cpus waiting; ok is false when none has samples there.
func (h hostView) exposure(cpus []int, t0, t1 float64) (float64, bool) {
	var sum float64
	n := 0
	for _, cpu := range cpus {
		if s, ok := h.waitShare(cpu, t0, t1); ok {
			sum += s
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// workerExposure is the host wait of the vCPUs w ran on over its own life.
func (c *scenarioChecker) workerExposure(w record.WorkerReport) (float64, bool) {
	t0, t1 := c.window([]record.WorkerReport{w})
	return c.host.exposure(usedCPUs([]record.WorkerReport{w}, false), t0, t1)
}

// party is one side of a fairness comparison — a worker, or a cgroup (a
// set of workers) — with its exposure to host noise: the mean host wait,
// over the window, of the vCPUs its workers ran on. Parties that shared
// vCPUs were exposed alike, so nothing is subtracted between them.
type party struct {
	name  string
	share float64 // the measured view (points, or CPUs)
	wait  float64
	known bool // wait was measured
}

// pairGap is the largest difference between two parties of one view once
// the pair's own difference in exposure is taken off: what the host can
// explain of party A's shortfall against party B is how much more it held
// A's vCPUs than B's (in either direction: a held vCPU makes its running
// task look busier in the charged view).
type pairGap struct {
	raw, net      float64
	worse, better party
	allowance     float64 // points the pair's exposure difference explains
	known         bool    // both exposures were measured
	normalised    bool    // the view had each party's noise taken off already
}

// widestPair finds, among ps, the pair with the largest remainder of
// diff(worse, better), less 100·|wait difference| unless the view is
// normalised (each party's share already has its own noise taken off).
func widestPair(ps []party, diff func(worse, better party) float64, normalised bool) pairGap {
	best := pairGap{raw: math.Inf(-1), net: math.Inf(-1)}
	for _, a := range ps {
		for _, b := range ps {
			if a.name == b.name {
				continue
			}
			d := diff(a, b)
			if d < 0 {
				continue
			}
			g := pairGap{raw: d, net: d, worse: a, better: b, known: a.known && b.known, normalised: normalised}
			if g.known && !normalised {
				g.allowance = math.Abs(a.wait-b.wait) * 100
				g.net = d - g.allowance
			}
			if g.net > best.net || (g.net == best.net && g.raw > best.raw) {
				best = g
			}
		}
	}
	if math.IsInf(best.net, -1) {
		return pairGap{}
	}
	return best
}

// describe says how much of a pair's difference the host explains.
func (g pairGap) describe(limit float64) string {
	switch {
	case !g.known:
		return fmt.Sprintf("; no host samples for %s or %s, so no noise was subtracted between them, remainder %.0f %s limit %.0f",
			g.worse.name, g.better.name, g.net, cmp(g.net, limit), limit)
	case g.normalised:
		return fmt.Sprintf("; each judged on the time its own vCPUs ran (host wait %s %.0f%%, %s %.0f%%): %s %.0f, %s %.0f, remainder %.0f %s limit %.0f",
			g.worse.name, g.worse.wait*100, g.better.name, g.better.wait*100, g.worse.name, g.worse.share, g.better.name, g.better.share, g.net, cmp(g.net, limit), limit)
	}
	return fmt.Sprintf("; host wait on each one's own vCPUs: %s %.0f%%, %s %.0f%%, a difference that explains %.0f points, remainder %.0f %s limit %.0f",
		g.worse.name, g.worse.wait*100, g.better.name, g.better.wait*100, g.allowance, g.net, cmp(g.net, limit), limit)
}

func cmp(x, limit float64) string {
	if x > limit {
		return ">"
	}
	return "≤"
}

// workerParties are ws as parties of one view, each with its exposure.
func (c *scenarioChecker) workerParties(ws []record.WorkerReport, view func(w record.WorkerReport, wait float64) float64) []party {
	var ps []party
	for _, w := range ws {
		e, ok := c.workerExposure(w)
		ps = append(ps, party{name: fmt.Sprintf("pid %d", w.PID), share: view(w, e), wait: e, known: ok})
	}
	return ps
}

// Two views of a worker's share. Under TCG the host steals time from
// vCPUs and the guest charges it to whichever task was running. The charged
// view (off-CPU share: wall minus charged CPU) is skewed under contention —
// a task that absorbed a stall looks as if it ran more, while its peers
// waited; a pair's difference in host wait is taken off it. The executed
// view counts only what a worker executed (charged CPU less its on-CPU
// stalls) against the time its own vCPUs were running at all (its wall less
// their host wait): the host's share is subtracted from each worker's
// denominator, so a host that runs the guest half the time neither halves
// a scheduler's unfairness (it did, in points of wall time: a 50x slice
// fault spread 46 points quiet, 21 at 50 % host wait, 39–42 so judged) nor
// makes a worker on a starved vCPU look unfairly treated. A scheduler's
// own unfairness shows in both views; noise shows in one. So a fairness
// check fails only when both views violate, and its value is the smaller.

// executedIdle is the executed view: the share of the time its vCPUs ran
// that a worker was not executing, given their host wait share.
func executedIdle(w record.WorkerReport, wait float64) float64 {
	avail := w.WallS * (1 - min(wait, 0.99))
	if avail <= 0 {
		return w.OffCPUPct
	}
	executed := max(0, (w.CPUS - w.OnCPUStallS))
	return min(100, max(0, (1-executed/avail)*100))
}

func offPct(w record.WorkerReport, _ float64) float64 { return w.OffCPUPct }

// views is a cohort's two views as parties.
func (c *scenarioChecker) views(g []record.WorkerReport) (charged, executed []party) {
	return c.workerParties(g, offPct), c.workerParties(g, executedIdle)
}

// shareSpread is the largest minus the smallest share of ps.
func shareSpread(ps []party) (spread, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = min(lo, p.share), max(hi, p.share)
	}
	return hi - lo, lo, hi
}

// cohortSpread is one cohort's spread: raw (the smaller view's spread) and
// net (the smaller view's widest pair after each party's own noise).
type cohortSpread struct {
	ws       []record.WorkerReport
	raw, net float64
	pair     pairGap
}

func (c *scenarioChecker) cohortSpread(g []record.WorkerReport) cohortSpread {
	cv, ev := c.views(g)
	charged, _, _ := shareSpread(cv)
	executed, _, _ := shareSpread(ev)
	cs := cohortSpread{ws: g, raw: min(charged, executed)}
	idler := func(a, b party) float64 { return a.share - b.share }
	pc := widestPair(cv, idler, false)
	pe := widestPair(ev, idler, true)
	cs.net, cs.pair = pc.net, pc
	if pe.net < pc.net {
		cs.net, cs.pair = pe.net, pe
	}
	return cs
}

// spread checks every cohort of ≥ 2 workers. Its value is the largest raw
// spread of any cohort; it fails when some cohort's remainder, after each
// party's own host noise, exceeds the limit.
func (c *scenarioChecker) spread(groups [][]record.WorkerReport, nCPUs int) (record.Check, bool) {
	var all []cohortSpread
	for _, g := range groups {
		if len(g) >= 2 {
			all = append(all, c.cohortSpread(g))
		}
	}
	if len(all) == 0 {
		return record.Check{}, false
	}
	limit := *c.t.MaxSpreadPct
	byRaw, byNet := worstOf(all, +1, func(s cohortSpread) (float64, float64) { return s.raw, s.net })
	ch := record.Check{Value: round(byRaw.raw), Limit: limit}
	judged(&ch, byRaw.raw, byNet.net, limit)
	if ch.Status == record.StatusPass {
		return ch, true
	}
	// The detail names the cohort the status rests on: the one that
	// fails, else the largest raw spread the host explains.
	shown := byNet
	if ch.Status == record.StatusInconclusive {
		shown = byRaw
	}
	cv, ev := c.views(shown.ws)
	charged, cLo, cHi := shareSpread(cv)
	executed, eLo, eHi := shareSpread(ev)
	ch.Detail = fmt.Sprintf("unfair cgroup: spread %.0f points among %d workers on %d cpus (off-CPU share %.0f–%.0f%%, %.0f points; not executing while its vCPUs ran, %.0f–%.0f%%, %.0f points)",
		shown.raw, len(shown.ws), nCPUs, cLo, cHi, charged, eLo, eHi, executed)
	ch.Detail += shown.pair.describe(limit)
	if ch.Status == record.StatusInconclusive {
		ch.Detail += ": inconclusive"
	}
	if len(all) > 1 {
		ch.Detail += fmt.Sprintf(" (%d cohorts judged, each on its own workers' noise)", len(all))
	}
	return ch, true
}

// worstOf returns the parties of xs with the worst raw and the worst net
// value: the largest (sign +1, an upper limit) or the smallest (sign -1, a
// floor). A check's value rests on the first, its status on the second.
func worstOf[T any](xs []T, sign float64, views func(T) (raw, net float64)) (byRaw, byNet T) {
	raw := func(a, b T) int { ra, _ := views(a); rb, _ := views(b); return cmpFloat(sign*ra, sign*rb) }
	net := func(a, b T) int { _, na := views(a); _, nb := views(b); return cmpFloat(sign*na, sign*nb) }
	return slices.MaxFunc(xs, raw), slices.MaxFunc(xs, net)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// gapNoise is one worker's gap less the time the host held the vCPUs it
// left and came back on during the gap (hostView.heldShare: not the mean
// wait, which a vCPU that still runs, ticks and switches tasks absorbs). A
// worker that never ran again, its CPUs unknown, is explained only as far
// as the host held every vCPU it could use: the least-held one counts.
type gapNoise struct {
	w       record.WorkerReport
	first   bool // the gap is the wait before its first run
	hostMS  float64
	share   float64
	cpu     int
	known   bool
	net     float64
	missing string // why nothing was subtracted
}

func (c *scenarioChecker) gapNoise(w record.WorkerReport) gapNoise {
	g := gapNoise{w: w, net: w.MaxGapMS, cpu: -1}
	if w.MaxGapStartT <= 0 {
		g.missing = "no gap start time, so no noise was subtracted"
		return g
	}
	var cpus []int
	for _, cpu := range []int{w.MaxGapFromCPU, w.MaxGapCPU} {
		if cpu >= 0 && !slices.Contains(cpus, cpu) {
			cpus = append(cpus, cpu)
		}
	}
	t0, t1 := w.MaxGapStartT, w.MaxGapStartT+w.MaxGapMS/1000
	var ok bool
	if len(cpus) > 0 {
		_, g.share, _, g.cpu, ok = c.host.heldShares(cpus, t0, t1)
	} else {
		allowed, _ := topology.ParseList(w.AllowedCPUs)
		g.share, _, g.cpu, _, ok = c.host.heldShares(allowed, t0, t1)
	}
	if !ok {
		g.missing = "no host samples for the gap, so no noise was subtracted"
		return g
	}
	g.known = true
	g.hostMS = g.share * w.MaxGapMS
	g.net = w.MaxGapMS - g.hostMS
	return g
}

func (g gapNoise) describe(limit float64) string {
	w := g.w
	where := "at stop, never running again"
	if !w.Unreported {
		where = fmt.Sprintf("on cpu%d", w.MaxGapCPU)
		if w.MaxGapFromCPU >= 0 && w.MaxGapFromCPU != w.MaxGapCPU {
			where = fmt.Sprintf("from cpu%d to cpu%d", w.MaxGapFromCPU, w.MaxGapCPU)
		}
	}
	s := fmt.Sprintf("pid %d off-CPU %.0fms %s, from +%.0fms", w.PID, w.MaxGapMS, where, w.MaxGapAtMS)
	if g.first {
		s = fmt.Sprintf("pid %d off-CPU %.0fms before its first run (from its release)", w.PID, w.MaxGapMS)
	}
	if !g.known {
		return s + "; " + g.missing
	}
	return s + fmt.Sprintf("; the host held vCPU %d (it waited, barely running) %.0fms (%.0f%%) of that window, remainder %.0fms %s limit %.0fms",
		g.cpu, g.hostMS, g.share*100, g.net, cmp(g.net, limit), limit)
}

// firstRunWait returns w with the wait from its release to its first run
// as its gap (ok false when it has none). A worker measures its gaps
// between its own checkpoints, from its first run on, so a scheduler that
// holds a new task before it first runs would go unseen.
func firstRunWait(w record.WorkerReport) (_ record.WorkerReport, ok bool) {
	wait := (runnableS(w) - w.WallS) * 1000
	if w.Unreported || wait <= 0 {
		return w, false
	}
	w.MaxGapMS, w.MaxGapAtMS, w.MaxGapStartT = wait, 0, w.StartT
	w.MaxGapCPU, w.MaxGapFromCPU = -1, -1
	return w, true
}

// gap checks every worker's longest off-CPU gap, the wait before its first
// run included, against the limit, each less its own vCPUs' host wait
// during it. The value is the longest raw gap; the check fails when any
// worker's remainder exceeds the limit.
func (c *scenarioChecker) gap(ws []record.WorkerReport) record.Check {
	limit := *c.t.MaxGapMS
	// Each worker's gap is judged on its own noise; the largest remainder
	// is the check's Net even when it passes (ktstr-stats compares it).
	// The wait before the first run is judged beside the longest later
	// gap, each on its own noise: the one with the larger remainder is
	// not always the longer.
	nets := make([]gapNoise, 0, len(ws))
	for _, w := range ws {
		nets = append(nets, c.gapNoise(w))
		if fw, ok := firstRunWait(w); ok {
			g := c.gapNoise(fw)
			g.first = true
			nets = append(nets, g)
		}
	}
	worst := slices.MaxFunc(nets, func(a, b gapNoise) int { return cmpFloat(a.w.MaxGapMS, b.w.MaxGapMS) }).w
	ch := record.Check{Value: round(worst.MaxGapMS), Limit: limit}
	sort.SliceStable(nets, func(i, j int) bool { return nets[i].net > nets[j].net })
	judged(&ch, worst.MaxGapMS, nets[0].net, limit)
	if ch.Status == record.StatusPass {
		return ch
	}
	var over []gapNoise
	for _, g := range nets {
		if g.w.MaxGapMS > limit {
			over = append(over, g)
		}
	}
	var parts []string
	for _, g := range over {
		parts = append(parts, g.describe(limit))
	}
	ch.Detail = strings.Join(parts, "; ")
	if ch.Status == record.StatusInconclusive {
		ch.Detail += ": inconclusive"
	}
	return ch
}

// cgroupParties are the cgroups of a fairness set as parties of one view.
func (c *scenarioChecker) cgroupParties(g []cgroupShare, view func(s cgroupShare, wait float64) float64) []party {
	var ps []party
	for _, s := range g {
		e, ok := c.host.exposure(usedCPUs(s.ws, false), s.t0, s.t1)
		ps = append(ps, party{name: s.name, share: view(s, e), wait: e, known: ok})
	}
	return ps
}

// fairness compares cgroups of equal weight and demand that ran at the
// same time: by how much, in percent of the larger, one's CPU falls short
// of another's, in both views (the smaller is the value), less each pair's
// own exposure difference.
func (c *scenarioChecker) fairness(g []cgroupShare, limit float64) {
	if len(g) < 2 {
		return
	}
	shortfall := func(a, b party) float64 {
		if b.share <= 0 || a.share > b.share {
			return -1
		}
		return (b.share - a.share) / b.share * 100
	}
	// Charged CPU, and CPU executed per CPU-second its vCPUs ran.
	cpus := func(s cgroupShare, _ float64) float64 { return s.cpus }
	exec := func(s cgroupShare, wait float64) float64 { return s.exec / (1 - min(wait, 0.99)) }
	cps, eps := c.cgroupParties(g, cpus), c.cgroupParties(g, exec)
	pc := widestPair(cps, shortfall, false)
	pe := widestPair(eps, shortfall, true)
	raw := min(pc.raw, pe.raw)
	pair := pc
	if pe.net < pc.net {
		pair = pe
	}
	var names []string
	for _, s := range g {
		names = append(names, s.name)
	}
	slices.Sort(names)
	ch := record.Check{Name: fmt.Sprintf("cgroup_fairness[%s]", strings.Join(names, ",")), Value: round(raw), Limit: limit}
	judged(&ch, raw, pair.net, limit)
	cLo, cHi := extremes(cps)
	eLo, eHi := extremes(eps)
	ch.Detail = fmt.Sprintf("CPU charged: %s %.2f, %s %.2f (%.0f%% less); executed, stalls taken out, per second its vCPUs ran: %s %.2f, %s %.2f (%.0f%% less)",
		cLo.name, cLo.share, cHi.name, cHi.share, pc.raw, eLo.name, eLo.share, eHi.name, eHi.share, pe.raw)
	if ch.Status != record.StatusPass {
		ch.Detail = fmt.Sprintf("%s got %.0f%% less CPU than %s with equal weight and demand (%d workers each): ", pair.worse.name, pair.raw, pair.better.name, len(g[0].ws)) +
			ch.Detail + pair.describe(limit)
		if ch.Status == record.StatusInconclusive {
			ch.Detail += ": inconclusive"
		}
	}
	c.add(ch)
}

// extremes are the parties with the smallest and the largest share.
func extremes(ps []party) (lo, hi party) {
	by := func(a, b party) int { return cmpFloat(a.share, b.share) }
	return slices.MinFunc(ps, by), slices.MaxFunc(ps, by)
}

// The benchmark-style checks. Each worker's samples are corrected by its
// own vCPUs' host wait over its life: host-stolen time is charged as CPU
// time and does no work (a rate per CPU second is that much higher), and a
// woken task waits that much longer for its vCPU (a latency that much
// shorter). A check fails when the corrected value violates its limit.

// exposures are each worker's exposure; ok is false when one is unknown.
func (c *scenarioChecker) exposures(ws []record.WorkerReport) (e []float64, ok bool) {
	ok = true
	for _, w := range ws {
		x, known := c.workerExposure(w)
		ok = ok && known
		e = append(e, x)
	}
	return e, ok
}

// noiseNote says what host wait the correction used.
func noiseNote(e []float64, ok bool) string {
	if !ok {
		return "; no host samples for some workers' vCPUs, so their noise was not subtracted"
	}
	return fmt.Sprintf("; the host kept the workers' own vCPUs waiting %.0f–%.0f%% of the scenario", slices.Min(e)*100, slices.Max(e)*100)
}

func (c *scenarioChecker) throughput(ws []record.WorkerReport, name func(string) string) {
	if (c.t.MaxThroughputCV == nil && c.t.MinWorkRate == nil) || len(ws) == 0 {
		return
	}
	var rated []record.WorkerReport
	var rates, net []float64
	for _, w := range ws {
		if w.CPUS > 0 {
			rated = append(rated, w)
			rates = append(rates, float64(w.WorkUnits)/w.CPUS)
		}
	}
	e, known := c.exposures(rated)
	for i, r := range rates {
		net = append(net, r/(1-min(e[i], 0.99)))
	}
	if c.t.MaxThroughputCV != nil && len(rates) >= 2 {
		raw, corrected := CoefVar(rates), CoefVar(net)
		c.timing(name("throughput_cv"), raw, corrected, *c.t.MaxThroughputCV, fmt.Sprintf("work rate CV %.2f across %d workers, %.2f with each one's host wait taken off", raw, len(rates), corrected)+noiseNote(e, known))
	}
	if c.t.MinWorkRate != nil && len(rates) > 0 {
		low, lowNet := slices.Min(rates), slices.Min(net)
		limit := *c.t.MinWorkRate
		ch := record.Check{Name: name("min_work_rate"), Value: round(low), Limit: limit}
		// A lower limit: judged on the negated values.
		judged(&ch, -low, -lowNet, -limit)
		n := round(lowNet)
		ch.Net = &n
		if ch.Status != record.StatusPass {
			ch.Detail = fmt.Sprintf("slowest worker did %.0f units per CPU second, %.0f with its host wait taken off (limit %.0f)", low, lowNet, limit) + noiseNote(e, known)
			if ch.Status == record.StatusInconclusive {
				ch.Detail += ": inconclusive"
			}
		}
		c.add(ch)
	}
}

func (c *scenarioChecker) wakeLatency(ws []record.WorkerReport, name func(string) string) {
	var all, net []float64
	var sampled []record.WorkerReport
	for _, w := range ws {
		if len(w.WakeLatencyUS) > 0 {
			sampled = append(sampled, w)
		}
	}
	if len(sampled) == 0 {
		return
	}
	e, known := c.exposures(sampled)
	for i, w := range sampled {
		for _, x := range w.WakeLatencyUS {
			all = append(all, x)
			net = append(net, x*(1-e[i]))
		}
	}
	if c.t.MaxP99WakeLatencyUS != nil {
		raw, corrected := Percentile(all, 0.99), Percentile(net, 0.99)
		c.timing(name("wake_p99_us"), raw, corrected, *c.t.MaxP99WakeLatencyUS, fmt.Sprintf("p99 wake latency %.0fµs over %d samples, %.0fµs with each worker's host wait taken off", raw, len(all), corrected)+noiseNote(e, known))
	}
	if c.t.MaxWakeLatencyCV != nil && len(all) >= 2 {
		raw, corrected := CoefVar(all), CoefVar(net)
		c.timing(name("wake_cv"), raw, corrected, *c.t.MaxWakeLatencyCV, fmt.Sprintf("wake latency CV %.2f over %d samples, %.2f with each worker's host wait taken off", raw, len(all), corrected)+noiseNote(e, known))
	}
}

// timing adds a check of an upper limit judged on the noise-corrected
// value net (raw is the measured one); detail is shown unless it passed.
func (c *scenarioChecker) timing(name string, raw, net, limit float64, detail string) {
	ch := record.Check{Name: name, Value: round(raw), Limit: limit}
	judged(&ch, raw, net, limit)
	if ch.Status != record.StatusPass {
		ch.Detail = detail
		if ch.Status == record.StatusInconclusive {
			ch.Detail += ": inconclusive"
		}
	}
	c.add(ch)
}

// upper adds a check that a value the host cannot skew stays at or under
// limit; on failure the detail is format applied to value and n.
func (c *scenarioChecker) upper(name string, value, limit float64, format string, n int) {
	ch := record.Check{Name: name, Status: record.StatusPass, Value: round(value), Limit: limit}
	if value > limit {
		ch.Status, ch.Detail = record.StatusFail, fmt.Sprintf(format, value, n)
	}
	c.add(ch)
}
