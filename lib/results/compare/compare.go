// Package compare is ktstr-stats compare: it pairs the runs of side A with
// the runs of side B, and for every metric decides between regression,
// improvement, unchanged and noisy with a dual gate and, when each side has
// enough runs, a Mann–Whitney U test.
//
// The algorithm follows ktstr's `stats compare` (pairing on every dimension
// the two sides' filters do not differ on, means per pairing key, a change
// counts only when both its absolute and its relative size pass the gate)
// and goes further in three ways: a change away from zero is judged by its
// absolute size alone (ktstr's relative size of such a change is 0, so it
// never fired); failed runs are compared too, through the pass rate,
// instead of being dropped; and with at least MinRuns runs per side a
// change the gate lets through must also be significant (one-sided exact
// Mann–Whitney U at Alpha), else it is reported as noisy and does not fail
// the comparison.
//
// It is noise-aware, not noise-blind: a timing metric is judged on each
// run's noise-subtracted value (metrics.Sample.Net), so a host that held
// the vCPUs 60–80 % of the time neither hides a change the noise cannot
// explain nor makes one it can; only a timing metric without a noise model
// falls back to "noisy" with too few runs on a noisy host. Discrete metrics
// (a verdict score, a count) are judged by the gate alone, since a rank
// test on a few tied values never reaches significance.
package compare

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/ktstr-go/ktstr/lib/base/jsonstrict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/stats"
)

// Verdicts of one metric's change.
const (
	Regression  = "regression"
	Improvement = "improvement"
	Unchanged   = "unchanged"
	// Noisy: the gate fired, but the runs do not tell the sides apart.
	Noisy = "noisy"
	// Info: a metric that is shown and never gated (host noise).
	Info = "info"
)

// Defaults of the significance test.
const (
	DefaultAlpha        = 0.05
	DefaultMinRuns      = 3
	DefaultNoisyHostPct = 10.0
)

// FewRunsNetRel is the least relative gate of a rate the run's host wait
// is taken off (metrics.NoiseRate: the scenario's iteration and work
// rates) with too few runs to test, unless a policy sets a default percent
// or the metric's own: taking off a run's mean host wait leaves a residue.
// A healthy scheduler's A/A pairs at 55 % host wait moved noise-subtracted
// rates by up to 11 % (worst_iterations_per_worker, scripts/gate-ab.sh,
// 2026-12-06) and 13–15 % (total_iterations, work_rate, an earlier
// measurement), so at 1+1 a rate must move by a fifth to be flagged; at
// MinRuns or more the metric's own gate and the rank test decide.
const FewRunsNetRel = 0.2

// DefaultPairOn are the dimensions runs are paired on, less the slicing
// ones.
var DefaultPairOn = []string{"scenario", "topology", "scheduler", "profile", "kernel"}

// Policy overrides gates and the test. Unknown fields and unknown metric
// names are rejected, so a typo cannot silently leave a gate at its
// default.
type Policy struct {
	// DefaultPercent replaces every metric's relative gate (percent).
	DefaultPercent *float64 `json:"default_percent,omitempty"`
	// PerMetricPercent and PerMetricAbs set one metric's relative gate
	// (percent) and absolute gate; a family name (verified_insns) sets
	// every instance, an instance name (verified_insns[dispatch]) one.
	PerMetricPercent map[string]float64 `json:"per_metric_percent,omitempty"`
	PerMetricAbs     map[string]float64 `json:"per_metric_abs,omitempty"`
	// Alpha is the significance level; MinRuns the runs per side from
	// which the test decides.
	Alpha   *float64 `json:"alpha,omitempty"`
	MinRuns *int     `json:"min_runs,omitempty"`
	// NoisyHostPct: with fewer than MinRuns runs on a side, a gated change
	// of a timing metric without a noise model (metrics.Metric.Noise) is
	// noisy when the host held any vCPU of the pair's runs for at least
	// this share of a run (host_wait_pct).
	NoisyHostPct *float64 `json:"noisy_host_pct,omitempty"`
}

// LoadPolicy reads and validates a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes a policy strictly (jsonstrict) and validates it.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	if err := jsonstrict.Decode(b, &p); err != nil {
		return nil, err
	}
	for field, m := range map[string]map[string]float64{"per_metric_percent": p.PerMetricPercent, "per_metric_abs": p.PerMetricAbs} {
		for name, v := range m {
			if !policyName(name) {
				return nil, fmt.Errorf("%s: unknown metric %q (see ktstr-stats metrics)", field, name)
			}
			if v < 0 || math.IsNaN(v) {
				return nil, fmt.Errorf("%s: %s: negative gate %v", field, name, v)
			}
		}
	}
	if p.DefaultPercent != nil && *p.DefaultPercent < 0 {
		return nil, fmt.Errorf("default_percent: negative")
	}
	if p.Alpha != nil && (*p.Alpha <= 0 || *p.Alpha >= 1) {
		return nil, fmt.Errorf("alpha %v: want 0 < alpha < 1", *p.Alpha)
	}
	if p.NoisyHostPct != nil && (*p.NoisyHostPct < 0 || *p.NoisyHostPct > 100) {
		return nil, fmt.Errorf("noisy_host_pct %v: want 0 to 100", *p.NoisyHostPct)
	}
	if p.MinRuns != nil && *p.MinRuns < 2 {
		return nil, fmt.Errorf("min_runs %d: want at least 2", *p.MinRuns)
	}
	return &p, nil
}

func policyName(name string) bool {
	if _, ok := metrics.Lookup(name); ok {
		return true
	}
	for _, m := range metrics.Registry {
		if m.Family && m.Name == name {
			return true
		}
	}
	return false
}

// gate returns the metric's absolute and relative (fraction) gates. With
// too few runs to test (fewRuns), a rate the run's host wait is taken off
// gets at least FewRunsNetRel, unless the policy sets its percent.
func (p *Policy) gate(m metrics.Metric, fewRuns bool) (abs, rel float64) {
	abs, rel = m.Abs, m.Rel
	policyRel := false
	if p != nil {
		family := m.Name
		if i := strings.IndexByte(family, '['); i > 0 {
			family = family[:i]
		}
		if p.DefaultPercent != nil {
			rel, policyRel = *p.DefaultPercent/100, true
		}
		for _, n := range []string{family, m.Name} {
			if v, ok := p.PerMetricPercent[n]; ok {
				rel, policyRel = v/100, true
			}
			if v, ok := p.PerMetricAbs[n]; ok {
				abs = v
			}
		}
	}
	if fewRuns && m.Noise == metrics.NoiseRate && !policyRel {
		rel = max(rel, FewRunsNetRel)
	}
	return abs, rel
}

// Options of a comparison.
type Options struct {
	Policy *Policy
	// Slicing are the dimensions the sides differ on (for the header);
	// PairOn the dimensions runs are paired on.
	Slicing []string
	PairOn  []string
}

// Result is a comparison.
type Result struct {
	Slicing, PairOn []string
	// RunsA and RunsB count the runs of each side that were paired.
	RunsA, RunsB int
	Deltas       []*record.Delta
	// Counts per verdict.
	Counts map[string]int
	// Alpha, MinRuns and NoisyHostPct as applied.
	Alpha        float64
	MinRuns      int
	NoisyHostPct float64
}

// Regressions are the deltas judged regressions.
func (r *Result) Regressions() []*record.Delta {
	var out []*record.Delta
	for _, d := range r.Deltas {
		if d.Verdict == Regression {
			out = append(out, d)
		}
	}
	return out
}

// SlicingDims are the dimensions on which two filters differ.
func SlicingDims(a, b query.Filter) []string {
	var dims []string
	for _, d := range query.Dims {
		if strings.Join(a[d], ",") != strings.Join(b[d], ",") {
			dims = append(dims, d)
		}
	}
	return dims
}

// SharedRuns are the runs on both sides, by run id (a row without one by
// identity), in a's order. Filters that differ as text can match the same
// runs — kernel=6.12 takes in every kernel of the release, a version and a
// label can name one kernel — and a comparison of a run with itself, or
// of an average with one of its parts, says nothing: callers refuse it.
func SharedRuns(a, b []*query.Row) []string {
	ids := map[string]bool{}
	rows := map[*query.Row]bool{}
	for _, r := range b {
		if r.RunID != "" {
			ids[r.RunID] = true
		}
		rows[r] = true
	}
	var shared []string
	for _, r := range a {
		if (r.RunID != "" && ids[r.RunID]) || rows[r] {
			shared = append(shared, r.RunID)
			delete(ids, r.RunID) // a run once
			delete(rows, r)
		}
	}
	return shared
}

// PairOn is DefaultPairOn less the slicing dimensions.
func PairOn(slicing []string) []string {
	var out []string
	for _, d := range DefaultPairOn {
		found := false
		for _, s := range slicing {
			found = found || s == d
		}
		if !found {
			out = append(out, d)
		}
	}
	return out
}

// Key is the pairing key of a row: its values of dims joined with "/".
func Key(r *query.Row, dims []string) string {
	var parts []string
	for _, d := range dims {
		parts = append(parts, r.Value(d))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, "/")
}

// Compare pairs a with b and judges every metric of every pair.
func Compare(a, b []*query.Row, o Options) *Result {
	res := &Result{Slicing: o.Slicing, PairOn: o.PairOn, Counts: map[string]int{}, Alpha: DefaultAlpha, MinRuns: DefaultMinRuns, NoisyHostPct: DefaultNoisyHostPct}
	if o.Policy != nil && o.Policy.NoisyHostPct != nil {
		res.NoisyHostPct = *o.Policy.NoisyHostPct
	}
	if o.Policy != nil && o.Policy.Alpha != nil {
		res.Alpha = *o.Policy.Alpha
	}
	if o.Policy != nil && o.Policy.MinRuns != nil {
		res.MinRuns = *o.Policy.MinRuns
	}
	group := func(rows []*query.Row) map[string][]*query.Row {
		g := map[string][]*query.Row{}
		for _, r := range rows {
			k := Key(r, o.PairOn)
			g[k] = append(g[k], r)
		}
		return g
	}
	ga, gb := group(a), group(b)
	keys := map[string]bool{}
	for k := range ga {
		keys[k] = true
	}
	for k := range gb {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		ra, rb := ga[k], gb[k]
		switch {
		case len(ra) == 0:
			res.Deltas = append(res.Deltas, &record.Delta{Subject: k, Metric: "runs", B: float64(len(rb)), Delta: float64(len(rb)), Missing: "a", NB: len(rb)})
			continue
		case len(rb) == 0:
			res.Deltas = append(res.Deltas, &record.Delta{Subject: k, Metric: "runs", A: float64(len(ra)), Delta: -float64(len(ra)), Missing: "b", NA: len(ra)})
			continue
		}
		res.RunsA += len(ra)
		res.RunsB += len(rb)
		var sa, sb []map[string]metrics.Sample
		for _, r := range ra {
			sa = append(sa, r.Metrics)
		}
		for _, r := range rb {
			sb = append(sb, r.Metrics)
		}
		// The host's worst grip on a vCPU over the pair's runs.
		noise := 0.0
		for _, s := range append(append([]map[string]metrics.Sample{}, sa...), sb...) {
			noise = math.Max(noise, s["host_wait_pct"].Value)
		}
		for _, name := range metrics.Names(append(sa, sb...)...) {
			va, na, m := values(sa, name)
			vb, nb, mb := values(sb, name)
			if len(va) == 0 || len(vb) == 0 {
				continue
			}
			if m.Name == "" {
				m = mb
			}
			d := res.judge(k, m, side{va, na}, side{vb, nb}, o.Policy, noise)
			if d == nil {
				continue
			}
			res.Deltas = append(res.Deltas, d)
			res.Counts[d.Verdict]++
		}
	}
	return res
}

// side is one side's values of a metric, as measured and noise-subtracted.
type side struct{ raw, net []float64 }

func values(samples []map[string]metrics.Sample, name string) (raw, net []float64, m metrics.Metric) {
	for _, s := range samples {
		if x, ok := s[name]; ok {
			raw, net = append(raw, x.Value), append(net, x.Net)
			m = x.Metric
		}
	}
	return raw, net, m
}

const eps = 1e-9

// judge decides one metric of one pair; nil when both sides are zero. A
// timing metric with a noise model is judged on its noise-subtracted
// values: each run's own measured host noise is taken off before the sides
// meet, so a noisy host neither hides a change nor makes one.
func (res *Result) judge(subject string, m metrics.Metric, a, b side, p *Policy, noise float64) *record.Delta {
	ma, mb := stats.Mean(a.raw), stats.Mean(b.raw)
	if math.Abs(ma) < eps && math.Abs(mb) < eps {
		return nil
	}
	abs, relGate := p.gate(m, len(a.raw) < res.MinRuns || len(b.raw) < res.MinRuns)
	d := &record.Delta{Subject: subject, Metric: m.Name, A: round(ma), B: round(mb), Delta: round(mb - ma),
		Unit: m.Unit, Polarity: string(m.Polarity), NA: len(a.raw), NB: len(b.raw), AbsGate: abs, RelGate: relGate}
	va, vb := a.raw, b.raw
	netted := m.Timing && m.Noise != ""
	if netted {
		va, vb = a.net, b.net
		na, nb := round(stats.Mean(va)), round(stats.Mean(vb))
		d.NetA, d.NetB = &na, &nb
		ma, mb = stats.Mean(va), stats.Mean(vb)
		d.Delta = round(mb - ma)
	}
	delta := mb - ma
	rel := math.Inf(1)
	if math.Abs(ma) >= eps {
		rel = math.Abs(delta / ma)
		d.Rel = round(rel)
	} else if math.Abs(delta) < eps {
		rel = 0
	}
	if m.Polarity == metrics.Info {
		d.Verdict, d.Why = Info, "never gated"
		d.AbsGate, d.RelGate = 0, 0
		return d
	}
	if math.Abs(delta) < abs || rel < relGate || math.Abs(delta) < eps {
		d.Verdict, d.Why = Unchanged, "within the gate"
		if netted && passesGate(d.B-d.A, d.A, abs, relGate) {
			// Never silent: the measured change was gated, and only the
			// noise subtracted from it keeps it within.
			d.Verdict = Noisy
			d.Why = fmt.Sprintf("the host's measured noise accounts for it: %.4g → %.4g as measured, %.4g → %.4g with each run's noise taken off", d.A, d.B, *d.NetA, *d.NetB)
		}
		return d
	}
	worse := (m.Polarity == metrics.LowerBetter) == (delta > 0)
	d.Verdict = Improvement
	if worse {
		d.Verdict = Regression
	}
	if m.Discrete {
		d.Why = fmt.Sprintf("gate alone: %d+%d runs of a discrete metric", len(va), len(vb))
		return d
	}
	if len(va) >= res.MinRuns && len(vb) >= res.MinRuns {
		var pv float64
		if delta > 0 {
			pv = stats.MannWhitneyGreater(va, vb)
		} else {
			pv = stats.MannWhitneyGreater(vb, va)
		}
		pv = round(pv)
		d.P = &pv
		d.Why = fmt.Sprintf("Mann–Whitney U p=%.3g ≤ %.2g", pv, res.Alpha)
		if pv > res.Alpha {
			d.Verdict = Noisy
			d.Why = fmt.Sprintf("Mann–Whitney U p=%.3g > %.2g", pv, res.Alpha)
		}
		return d
	}
	d.Why = fmt.Sprintf("gate alone: %d+%d runs, too few to test", len(va), len(vb))
	if netted {
		d.Why = fmt.Sprintf("gate alone on the noise-subtracted values: %d+%d runs, too few to test", len(va), len(vb))
	}
	if m.Timing && !netted && noise >= res.NoisyHostPct {
		// Too few runs to test, and the host took enough of a vCPU to
		// move a timing metric by itself: not the scheduler's, as far
		// as these runs can tell.
		d.Verdict = Noisy
		d.Why = fmt.Sprintf("%d+%d runs, too few to test, and the host held a vCPU %.0f%% of a run (≥ %.0f%%)", len(va), len(vb), noise, res.NoisyHostPct)
	}
	return d
}

// passesGate says whether a change delta from a passes the dual gate.
func passesGate(delta, a, abs, rel float64) bool {
	if math.Abs(delta) < eps || math.Abs(delta) < abs {
		return false
	}
	return math.Abs(a) < eps || math.Abs(delta/a) >= rel
}

// round keeps six significant digits, so records and golden files are
// stable across platforms' last-bit differences.
func round(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	mag := math.Pow(10, 5-math.Floor(math.Log10(math.Abs(x))))
	return math.Round(x*mag) / mag
}
