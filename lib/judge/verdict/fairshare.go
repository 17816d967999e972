package verdict

import (
	"fmt"
	"math"
	"slices"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// Fair share judges unfairness by work done: in a cohort of CPU-bound
// workers, the least-served worker's work as a share of the cohort's
// median, and the most-served worker's (a few favoured: with 8 workers on 2
// CPUs, three doing 3.7 times the other five's work are only 34 points of
// off-CPU share apart, and the median is the five's). The spread cannot
// tell how contended a cohort was: on a loaded host a 20× slice fault,
// whose least-served worker of 8 on 2 CPUs did 15–30 % of the median,
// spread 23–34 points, while EEVDF, whose least-served worker never fell
// under 51 % of its cohort's median, spread up to 30 on 1,2,2,1 (recorded
// fidelity runs, load 8.2–9). Work units are what a worker executed,
// whatever the guest charged it for; its own host noise is taken off by
// counting its work per second its own vCPUs ran, a view that may excuse a
// share but never lowers it below the share of the work units.

// workerRate is a worker's work per second its vCPUs ran; known is false
// when its vCPUs' host wait was not measured (the rate is then per second
// of wall).
func (c *scenarioChecker) workerRate(w record.WorkerReport) (rate, wait float64, known bool) {
	wait, known = c.workerExposure(w)
	// Its whole life from its release (StartT to StopT), not from its
	// first run: a worker the scheduler kept off the CPU at the start is
	// not excused by its late start.
	avail := runnableS(w) * (1 - min(wait, 0.99))
	if avail <= 0 {
		return 0, wait, known
	}
	return float64(w.WorkUnits) / avail, wait, known
}

// upperMedian is the upper median of xs (xs is sorted in place): in a
// cohort of two, the slower worker is held against the other, not against
// itself.
func upperMedian(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// shareOfMedian is one worker's work against its cohort's median: raw
// (work units), rate (work per second its own vCPUs ran) and net (the one
// of the two nearer the median: what is judged).
type shareOfMedian struct {
	w        record.WorkerReport
	raw, net float64 // % of the cohort's median
	rate     float64 // per second its own vCPUs ran, % of the median rate
	wait     float64
	known    bool
}

// cohortShares are the shares of g's workers, or nil when g is not a
// cohort fair share judges: fewer than two workers, one that may sleep, or
// workers allowed on different CPUs (an LLC-aligned worker alone on its
// LLC owes its larger share to the placement, not to the scheduler).
func (c *scenarioChecker) cohortShares(g []record.WorkerReport) []shareOfMedian {
	if len(g) < 2 {
		return nil
	}
	var work, rates []float64
	out := make([]shareOfMedian, 0, len(g))
	for _, w := range g {
		if !w.CPUBound || w.AllowedCPUs != g[0].AllowedCPUs {
			return nil
		}
		// A yielder's share is whom it yielded to: a healthy EEVDF gave
		// one of 32 Mixed workers 663 % of its cohort's median (CI
		// catalog sweep, cgroup_oversubscribed).
		if t, ok := workload.LookupType(w.WorkType); ok && t.Yields {
			return nil
		}
		r, wait, known := c.workerRate(w)
		work, rates = append(work, float64(w.WorkUnits)), append(rates, r)
		out = append(out, shareOfMedian{w: w, net: r, wait: wait, known: known})
	}
	mw, mr := upperMedian(work), upperMedian(rates)
	if mw <= 0 || mr <= 0 {
		return nil // nobody worked: starvation says so
	}
	for i := range out {
		out[i].raw = float64(out[i].w.WorkUnits) / mw * 100
		out[i].rate = out[i].net / mr * 100
		// The host's noise may excuse a worker's shortfall or excess,
		// never make one: a worker whose work was fair is not convicted
		// by its exposure (the mean wait of the vCPUs it used, which
		// does not know how long it ran on each). So net is the share
		// nearer the median of the two views.
		out[i].net = nearer(out[i].raw, out[i].rate, 100)
	}
	return out
}

// fairShare checks every cohort of CPU-bound workers. Its value is the
// smallest raw share of any worker; it fails when some worker's net share
// is below the floor or above the cap, and is inconclusive when only raw
// shares are.
func (c *scenarioChecker) fairShare(groups [][]record.WorkerReport) (record.Check, bool) {
	var all []shareOfMedian
	for _, g := range groups {
		all = append(all, c.cohortShares(g)...)
	}
	if len(all) == 0 {
		return record.Check{}, false
	}
	limit := *c.t.MinFairSharePct
	byRaw, byNet := worstOf(all, -1, shareViews)
	ch := record.Check{Value: round(byRaw.raw), Limit: limit}
	// judged works on upper limits: a shortfall below the floor is the
	// violation, so judge the negated shares.
	judged(&ch, -byRaw.raw, -byNet.net, -limit)
	n := round(byNet.net)
	ch.Net = &n
	if c.t.MaxFairSharePct != nil && ch.Status != record.StatusFail {
		if ex, bad := c.excess(all, *c.t.MaxFairSharePct); bad != record.StatusPass {
			ch.Status, ch.Detail = bad, ex
			return ch, true
		}
	}
	shown := byNet
	if ch.Status == record.StatusInconclusive {
		shown = byRaw
	}
	ch.Detail = fmt.Sprintf("least-served worker: pid %d did %d work units, %.0f%% of its cohort's median", shown.w.PID, shown.w.WorkUnits, shown.raw)
	if shown.known {
		ch.Detail += fmt.Sprintf("; per second its own vCPUs ran (host wait %.0f%%), %.0f%%", shown.wait*100, shown.rate)
		if shown.net != shown.rate {
			ch.Detail += " (noise may excuse a share, never lower it: judged on the work units)"
		}
		ch.Detail += fmt.Sprintf("; %.0f%% %s limit %.0f%%", shown.net, cmpBelow(shown.net, limit), limit)
	} else {
		ch.Detail += fmt.Sprintf("; no host samples for its vCPUs, so no noise was taken off (%.0f%% %s limit %.0f%%)", shown.net, cmpBelow(shown.net, limit), limit)
	}
	if ch.Status == record.StatusInconclusive {
		ch.Detail += ": inconclusive, its own host wait explains the shortfall"
	}
	return ch, true
}

// excess judges the most-served worker against the cap: fail when its net
// share of the median exceeds it, inconclusive when only its raw share does.
func (c *scenarioChecker) excess(all []shareOfMedian, limit float64) (string, record.Status) {
	byRaw, byNet := worstOf(all, +1, shareViews)
	var ch record.Check
	judged(&ch, byRaw.raw, byNet.net, limit)
	shown := byNet
	if ch.Status == record.StatusInconclusive {
		shown = byRaw
	}
	d := fmt.Sprintf("most-served worker: pid %d did %d work units, %.0f%% of its cohort's median; per second its own vCPUs ran, %.0f%%; %.0f%% %s limit %.0f%%",
		shown.w.PID, shown.w.WorkUnits, shown.raw, shown.rate, shown.net, cmp(shown.net, limit), limit)
	if ch.Status == record.StatusInconclusive {
		d += ": inconclusive, its own host wait explains the excess"
	}
	return d, ch.Status
}

func shareViews(s shareOfMedian) (raw, net float64) { return s.raw, s.net }

// nearer is whichever of a and b is nearer to mid.
func nearer(a, b, mid float64) float64 {
	if math.Abs(a-mid) <= math.Abs(b-mid) {
		return a
	}
	return b
}

// cmpBelow says how x stands against a lower limit.
func cmpBelow(x, limit float64) string {
	if x < limit {
		return "<"
	}
	return "≥"
}
