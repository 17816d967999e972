// Package metrics is ktstr's metric registry: every number ktstr-stats
// summarises and compares, with its polarity, its dual gate and its unit,
// and how it is taken from a run (and its verdict).
//
// The registry is the only definition: `ktstr-stats metrics` prints it, the
// README's list is generated from that output, and a policy file naming a
// metric not in it is rejected.
package metrics

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Polarity says which direction of change is worse.
type Polarity string

// Polarities.
const (
	// LowerBetter: an increase is a regression.
	LowerBetter Polarity = "lower"
	// HigherBetter: a decrease is a regression.
	HigherBetter Polarity = "higher"
	// Info: shown, never gated (host noise: the host's doing, not the
	// scheduler's).
	Info Polarity = "info"
)

// Metric is one registry entry.
type Metric struct {
	Name     string   `json:"name"`
	Polarity Polarity `json:"polarity"`
	// Abs and Rel are the dual gate: a change counts only when |B−A| ≥ Abs
	// and |B−A|/|A| ≥ Rel (a fraction). A change away from A = 0 has an
	// infinite relative size, so the absolute gate alone decides it.
	Abs  float64 `json:"abs"`
	Rel  float64 `json:"rel"`
	Unit string  `json:"unit,omitempty"`
	// Source is where the value comes from: "scenario" (guest telemetry),
	// "check" (a verdict's check value), "run", "verifier", "host",
	// "monitor" (the host-side monitor), "exec" (benchmark output) or
	// "payload" (a scenario payload's output, lib/model/payload).
	Source string `json:"source"`
	// Family marks a metric with one instance per name in brackets, e.g.
	// verified_insns[enqueue]; the gate applies to each instance.
	Family bool `json:"family,omitempty"`
	// Timing marks a metric the host's noise moves: under emulation the
	// guest charges time its vCPU spent descheduled to whatever ran. With
	// too few runs to test, a change of a timing metric on a noisy host is
	// not taken as the scheduler's.
	Timing bool `json:"timing,omitempty"`
	// Noise says how the host's measured share is taken off a timing
	// metric's value (Sample.Net): NoiseCheck, the check's own per-party
	// remainder; NoiseDuration, × (1 − host wait); NoiseRate, ÷ (1 − host
	// wait); NoisePolarity, a duration when lower is better, else a rate;
	// "" when no model is known (a ratio, a depth): then the value itself
	// is judged, and with too few runs to test a gated change on a noisy
	// host is noisy.
	Noise string `json:"noise,omitempty"`
	// Discrete marks a metric of a few possible values per run (a verdict
	// score, a count of starved workers): a rank test on such values is
	// all ties and can never reach significance at a few runs, so the gate
	// alone decides, at any number of runs — more runs must never make a
	// pass-rate drop harder to flag than one run each.
	Discrete bool   `json:"discrete,omitempty"`
	Doc      string `json:"doc"`
}

// Noise models of timing metrics (Metric.Noise).
const (
	NoiseCheck    = "check"
	NoiseDuration = "duration"
	NoiseRate     = "rate"
	NoisePolarity = "polarity"
)

// Registry lists every metric, in a stable order.
var Registry = []Metric{
	{Name: "passed", Polarity: HigherBetter, Abs: 0.5, Rel: 0.5, Source: "check", Discrete: true, Doc: "1 when the verdict passed, 0.5 when it was inconclusive (neither a pass nor a fail: pass → inconclusive is a change), 0 when it failed or errored (skip runs have no value)"},
	{Name: "completed", Polarity: HigherBetter, Abs: 0.5, Rel: 0.5, Source: "run", Discrete: true, Doc: "1 when the run's outcome is completed, else 0"},
	{Name: "worst_spread", Polarity: LowerBetter, Abs: 5, Rel: 0.25, Unit: "%", Source: "check", Timing: true, Noise: NoiseCheck, Doc: "largest spread check value: not-running share spread among a cohort's workers, in points"},
	{Name: "least_fair_share_pct", Polarity: HigherBetter, Abs: 10, Rel: 0.2, Unit: "%", Source: "check", Timing: true, Noise: NoiseCheck, Doc: "smallest fair_share check value: the least-served CPU-bound worker's work as a share of its cohort's median"},
	{Name: "worst_gap_ms", Polarity: LowerBetter, Abs: 500, Rel: 0.5, Unit: "ms", Source: "check", Timing: true, Noise: NoiseCheck, Doc: "largest gap check value: a worker's longest off-CPU gap, the wait from its release to its first run included"},
	{Name: "starved_workers", Polarity: LowerBetter, Abs: 0.5, Rel: 0.5, Source: "check", Discrete: true, Doc: "workers the starvation checks found starved, summed over cgroups"},
	{Name: "worst_cgroup_spread_pct", Polarity: LowerBetter, Abs: 10, Rel: 0.25, Unit: "%", Source: "check", Timing: true, Noise: NoiseCheck, Doc: "largest cgroup_fairness check value: CPU-share spread among cgroups of equal weight and demand"},
	{Name: "min_busy_pct", Polarity: HigherBetter, Abs: 10, Rel: 0.1, Unit: "%", Source: "check", Doc: "smallest work_conservation check value: busy share of the CPUs runnable CPU-bound workers could use"},
	{Name: "stall_count", Polarity: LowerBetter, Abs: 0.5, Rel: 0.5, Source: "scenario", Discrete: true, Doc: "1 when the agent stopped the scenario early because every worker was stuck, else 0"},
	{Name: "total_migrations", Polarity: LowerBetter, Abs: 10, Rel: 0.3, Source: "scenario", Timing: true, Doc: "migrations of all workers"},
	{Name: "worst_migration_ratio", Polarity: LowerBetter, Abs: 0.05, Rel: 0.2, Source: "scenario", Timing: true, Doc: "largest per-cgroup migrations per iteration"},
	{Name: "worst_p99_wake_latency_us", Polarity: LowerBetter, Abs: 50, Rel: 0.25, Unit: "µs", Source: "scenario", Timing: true, Noise: NoiseDuration, Doc: "largest per-cgroup p99 of the wake-latency samples"},
	{Name: "worst_median_wake_latency_us", Polarity: LowerBetter, Abs: 20, Rel: 0.25, Unit: "µs", Source: "scenario", Timing: true, Noise: NoiseDuration, Doc: "largest per-cgroup median wake latency"},
	{Name: "worst_wake_latency_cv", Polarity: LowerBetter, Abs: 0.1, Rel: 0.25, Source: "scenario", Timing: true, Doc: "largest per-cgroup coefficient of variation of wake latency"},
	{Name: "worst_wake_latency_tail_ratio", Polarity: LowerBetter, Abs: 0.5, Rel: 0.25, Unit: "x", Source: "scenario", Timing: true, Doc: "largest per-cgroup p99/median wake latency, over cgroups with at least 100 samples"},
	{Name: "worst_run_delay_pct", Polarity: LowerBetter, Abs: 5, Rel: 0.25, Unit: "%", Source: "scenario", Timing: true, Noise: NoiseDuration, Doc: "largest share of a worker's wall time spent runnable but waiting (schedstat run delay)"},
	{Name: "total_iterations", Polarity: HigherBetter, Abs: 100, Rel: 0.1, Source: "scenario", Timing: true, Noise: NoiseRate, Doc: "outer-loop iterations of all workers"},
	{Name: "worst_iterations_per_worker", Polarity: HigherBetter, Abs: 10, Rel: 0.1, Source: "scenario", Timing: true, Noise: NoiseRate, Doc: "fewest iterations of any worker"},
	{Name: "work_rate", Polarity: HigherBetter, Abs: 0, Rel: 0.1, Unit: "units/s", Source: "scenario", Timing: true, Noise: NoiseRate, Doc: "work units of all workers per second of scenario wall time: the built-in workloads' benchmark number"},
	{Name: "max_imbalance_ratio", Polarity: LowerBetter, Abs: 1, Rel: 0.25, Unit: "x", Source: "monitor", Timing: true, Doc: "largest max(nr_running)/max(1, min(nr_running)) across CPUs held for 5 consecutive monitor samples inside the scenario (the monitor check's sustained window)"},
	{Name: "max_dsq_depth", Polarity: LowerBetter, Abs: 10, Rel: 0.5, Source: "monitor", Timing: true, Doc: "deepest local DSQ the monitor saw"},
	{Name: "verified_insns", Polarity: LowerBetter, Abs: 100, Rel: 0.05, Unit: "insns", Source: "verifier", Family: true, Doc: "instructions the BPF verifier processed, per program (scheduler programs and verified objects)"},
	{Name: "wall_s", Polarity: LowerBetter, Abs: 5, Rel: 0.25, Unit: "s", Source: "run", Timing: true, Noise: NoiseDuration, Doc: "wall time of the whole run, QEMU start to exit"},
	{Name: "boot_s", Polarity: LowerBetter, Abs: 1, Rel: 0.25, Unit: "s", Source: "run", Timing: true, Noise: NoiseDuration, Doc: "QEMU start to the guest agent's first message"},
	{Name: "host_wait_pct", Polarity: Info, Unit: "%", Source: "host", Doc: "largest share of the run a vCPU thread waited for a host CPU: host noise, never gated"},
	{Name: "exec", Polarity: HigherBetter, Abs: 0, Rel: 0.1, Source: "exec", Family: true, Timing: true, Noise: NoisePolarity, Doc: `benchmark numbers the --exec command printed as JSON lines {"metric":NAME,"value":X,"unit":U,"polarity":"lower"|"higher"}; exec[NAME] takes the line's polarity and unit`},
	{Name: "payload", Polarity: HigherBetter, Abs: 0, Rel: 0.1, Source: "payload", Family: true, Timing: true, Noise: NoisePolarity, Doc: "a scenario payload's metrics (lib/model/payload: hackbench, cyclictest, stress-ng, perf bench), payload[PAYLOAD.METRIC] (PAYLOAD@CGROUP when it ran in several cgroups), with the polarity and unit its definition gives"},
}

// Lookup returns the registry entry for a metric name; an instance of a
// family (verified_insns[dispatch]) resolves to the family's entry under
// the instance's name.
func Lookup(name string) (Metric, bool) {
	base := name
	if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		base = name[:i]
	}
	for _, m := range Registry {
		if m.Name == base && (m.Family == (base != name)) {
			m.Name = name
			return m, true
		}
	}
	return Metric{}, false
}

// familyEntry is the registry entry of a family by its bare name (Lookup
// resolves only its instances).
func familyEntry(name string) Metric {
	for _, m := range Registry {
		if m.Family && m.Name == name {
			return m
		}
	}
	panic("metrics: no family " + name)
}

// Sample is one metric's value in one run, with the metric as it applies
// (an exec metric's polarity and unit come from the benchmark's output).
type Sample struct {
	Metric Metric
	Value  float64
	// Net is, for a timing metric, Value with the run's measured host
	// noise taken off: a check's own per-party remainder (Check.Net) where
	// the value is a check's, else Value scaled by the share of the run
	// its vCPUs were running (a duration × (1 − wait), a rate ÷ (1 −
	// wait)): what the scheduler would have shown on a host that never
	// held a vCPU. Equal to Value for other metrics and without host
	// samples (bare metal). ktstr-stats compare judges timing metrics on it.
	Net float64
}

// Extract takes every metric the run (and its verdict, when one is given)
// carries. The checks' values are computed from the run with the default
// and job limits, as ktstr-verify would; a verdict alone (no run) gives
// its own checks' values.
func Extract(r *record.Run, v *record.Verdict) map[string]Sample {
	out := map[string]Sample{}
	set := func(name string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		if m, ok := Lookup(name); ok {
			out[name] = Sample{Metric: m, Value: x, Net: x}
		}
	}
	// Timing metrics' Net: the checks' own remainders where the value is
	// a check's, else scaled by the run's host wait. Deferred: the
	// returns below come at several points.
	nets := map[string]float64{}
	defer func() { subtractNoise(out, nets, r) }()
	// The checks' values come from the run itself when there is one: a
	// stored verdict may have been judged with other limits, which turn
	// checks off or on, and the values must be comparable between runs.
	// Whether the run passed is the stored verdict's word, when there is one.
	judged := v
	if r != nil {
		judged = verdict.Judge(r, nil)
	}
	if judged != nil {
		fromChecks(judged, set, func(name string, x float64) { nets[name] = x })
	}
	if v != nil {
		setPassed(v, set)
	}
	if r == nil {
		return out
	}
	set("completed", b2f(r.Outcome == record.OutcomeCompleted))
	set("wall_s", r.Timings.WallS)
	if r.Timings.AgentStartS > 0 {
		set("boot_s", r.Timings.AgentStartS)
	}
	if r.Timings.WallS > 0 && len(r.VCPUs) > 0 {
		worst := 0.0
		for _, c := range r.VCPUs {
			worst = max(worst, c.RunDelayS/r.Timings.WallS*100)
		}
		set("host_wait_pct", worst)
	}
	if r.Scenario != nil {
		fromScenario(r.Scenario, set)
		for name, s := range PayloadMetrics(r.Scenario.Payloads) {
			out[name] = s
		}
	}
	progs := func(ps []record.BPFProgram) {
		for _, p := range ps {
			if p.Name != "" && p.VerifiedInsns > 0 {
				set("verified_insns["+p.Name+"]", float64(p.VerifiedInsns))
			}
		}
	}
	if r.Scheduler != nil {
		progs(r.Scheduler.Programs)
	}
	for _, o := range r.BPFObjects {
		progs(o.Programs)
	}
	if r.Monitor != nil {
		fromMonitor(r, set)
	}
	if r.Exec != nil {
		for name, s := range ExecMetrics(r.Exec.Stdout) {
			out[name] = s
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// checkValue is a check's numeric value, if it has one.
func checkValue(c record.Check) (float64, bool) {
	switch x := c.Value.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func checkBase(name string) string {
	if i := strings.IndexByte(name, '['); i > 0 {
		return name[:i]
	}
	return name
}

func setPassed(v *record.Verdict, set func(string, float64)) {
	switch v.Status {
	case record.StatusPass:
		set("passed", 1)
	case record.StatusInconclusive:
		// Neither a pass nor a fail, and never silent: its own value.
		set("passed", 0.5)
	case record.StatusFail, record.StatusError:
		set("passed", 0)
	}
}

// fromChecks sets the check-derived metrics, and through setNet the
// aggregate of their checks' noise-subtracted values (Check.Net, or the
// value where a check subtracted nothing).
func fromChecks(v *record.Verdict, set, setNet func(string, float64)) {
	setPassed(v, set)
	agg, aggNet := map[string]float64{}, map[string]float64{}
	seen := map[string]bool{}
	for _, c := range v.Checks {
		x, ok := checkValue(c)
		if !ok {
			continue
		}
		var name string
		combine := math.Max
		switch checkBase(c.Name) {
		case "spread":
			name = "worst_spread"
		case "fair_share":
			name, combine = "least_fair_share_pct", math.Min
		case "gap":
			name = "worst_gap_ms"
		case "starvation":
			name, combine = "starved_workers", func(a, b float64) float64 { return a + b }
		case "cgroup_fairness":
			name = "worst_cgroup_spread_pct"
		case "work_conservation":
			name, combine = "min_busy_pct", math.Min
		default:
			continue
		}
		net := x
		if c.Net != nil {
			net = *c.Net
		}
		if seen[name] {
			agg[name], aggNet[name] = combine(agg[name], x), combine(aggNet[name], net)
		} else {
			agg[name], aggNet[name], seen[name] = x, net, true
		}
	}
	for n, x := range agg {
		set(n, x)
		setNet(n, aggNet[n])
	}
}

// runWait is the mean share of the run its vCPU threads waited on the host
// for a CPU (0 without vCPU samples: bare metal).
func runWait(r *record.Run) float64 {
	if r == nil || r.Timings.WallS <= 0 || len(r.VCPUs) == 0 {
		return 0
	}
	var sum float64
	for _, c := range r.VCPUs {
		sum += c.RunDelayS / r.Timings.WallS
	}
	return min(0.99, max(0, sum/float64(len(r.VCPUs))))
}

// subtractNoise sets the Net of every timing metric in out: the check's
// own remainder where nets has one, else the value scaled by the run's
// host wait — a duration or a count of bad events shrinks by the share the
// vCPUs waited, a rate or a count of work grows by it.
func subtractNoise(out map[string]Sample, nets map[string]float64, r *record.Run) {
	w := runWait(r)
	for name, s := range out {
		model := s.Metric.Noise
		if model == NoisePolarity {
			model = NoiseRate
			if s.Metric.Polarity == LowerBetter {
				model = NoiseDuration
			}
		}
		switch {
		case !s.Metric.Timing:
			s.Net = s.Value
		case model == NoiseCheck && hasKey(nets, name):
			s.Net = nets[name]
		case model == NoiseRate:
			s.Net = s.Value / (1 - w)
		case model == NoiseDuration:
			s.Net = s.Value * (1 - w)
		default:
			s.Net = s.Value
		}
		out[name] = s
	}
}

func hasKey(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

func fromScenario(sc *record.ScenarioResult, set func(string, float64)) {
	set("stall_count", b2f(sc.Stalled != nil))
	var migrations, iterations, units float64
	worstIter := math.Inf(1)
	worstRatio, p99, p50, cv, tail, runDelay := -1.0, -1.0, -1.0, -1.0, -1.0, -1.0
	for _, cg := range sc.Cgroups {
		var mig, it float64
		var lat []float64
		for _, w := range cg.Workers {
			if w.WorkType == "Custom" || w.Error != "" {
				continue
			}
			mig += float64(w.Migrations)
			it += float64(w.Iterations)
			units += float64(w.WorkUnits)
			worstIter = min(worstIter, float64(w.Iterations))
			lat = append(lat, w.WakeLatencyUS...)
			if w.WallS > 0 {
				runDelay = max(runDelay, w.RunDelayS/w.WallS*100)
			}
		}
		migrations += mig
		iterations += it
		if it > 0 {
			worstRatio = max(worstRatio, mig/it)
		}
		if len(lat) > 0 {
			// One sort for both quantiles: a run holds up to 100 000
			// samples per worker.
			sort.Float64s(lat)
			q99, q50 := sortedQuantile(lat, 0.99), sortedQuantile(lat, 0.5)
			p99, p50 = max(p99, q99), max(p50, q50)
			cv = max(cv, verdict.CoefVar(lat))
			if len(lat) >= 100 && q50 > 0 {
				tail = max(tail, q99/q50)
			}
		}
	}
	set("total_migrations", migrations)
	set("total_iterations", iterations)
	if !math.IsInf(worstIter, 1) {
		set("worst_iterations_per_worker", worstIter)
	}
	if sc.WallS > 0 {
		set("work_rate", units/sc.WallS)
	}
	for name, x := range map[string]float64{"worst_migration_ratio": worstRatio, "worst_p99_wake_latency_us": p99,
		"worst_median_wake_latency_us": p50, "worst_wake_latency_cv": cv, "worst_wake_latency_tail_ratio": tail,
		"worst_run_delay_pct": runDelay} {
		if x >= 0 {
			set(name, x)
		}
	}
}

// fromMonitor sets the monitor's metrics. The imbalance is the one the
// monitor check judges: inside the scenario (when the run has one), held
// for MonitorSustainedSamples consecutive samples (the largest ratio that
// many samples in a row all reached). A single sample's ratio is one
// moment of a wake-up burst or of a vCPU the host held: as a maximum over
// a run it moved 2–10x between identical runs under TCG.
func fromMonitor(r *record.Run, set func(string, float64)) {
	m := r.Monitor
	samples := append(append([]record.MonitorSample{}, m.Timeline...), m.Last...)
	if t0, t1, ok := verdict.ScenarioWindow(r); ok {
		var in []record.MonitorSample
		for _, s := range samples {
			if s.T >= t0 && s.T <= t1 {
				in = append(in, s)
			}
		}
		samples = in
	}
	sustain := 5
	if n := verdict.Defaults().MonitorSustainedSamples; n != nil {
		sustain = max(1, *n)
	}
	depth := -1.0
	var ratios []float64
	for _, s := range samples {
		if len(s.CPUs) == 0 {
			continue
		}
		lo, hi := uint32(math.MaxUint32), uint32(0)
		for _, c := range s.CPUs {
			lo, hi = min(lo, c.Nr), max(hi, c.Nr)
			if c.DSQ != nil {
				depth = max(depth, float64(*c.DSQ))
			}
		}
		ratios = append(ratios, float64(hi)/float64(max(1, lo)))
	}
	imbalance := sustainedMax(ratios, sustain)
	for _, c := range m.PerCPU {
		if c.MaxDSQ != nil {
			depth = max(depth, float64(*c.MaxDSQ))
		}
	}
	if imbalance >= 0 {
		set("max_imbalance_ratio", imbalance)
	}
	if depth >= 0 {
		set("max_dsq_depth", depth)
	}
}

// sustainedMax is the largest x such that n consecutive values are all at
// least x (the largest of the minima of every n-value window); with fewer
// than n values, their minimum; -1 for none.
func sustainedMax(v []float64, n int) float64 {
	if len(v) == 0 {
		return -1
	}
	n = min(n, len(v))
	best := -1.0
	for i := 0; i+n <= len(v); i++ {
		lo := v[i]
		for _, x := range v[i+1 : i+n] {
			lo = min(lo, x)
		}
		best = max(best, lo)
	}
	return best
}

// sortedQuantile is verdict.Percentile (nearest rank) of an already sorted
// sample, without its copy and sort.
func sortedQuantile(s []float64, p float64) float64 {
	i := int(math.Ceil(float64(len(s))*p)) - 1
	return s[max(0, min(i, len(s)-1))]
}

// execLine is one benchmark number an --exec command printed.
type execLine struct {
	Metric   string   `json:"metric"`
	Value    *float64 `json:"value"`
	Unit     string   `json:"unit"`
	Polarity Polarity `json:"polarity"`
}

// ExecMetrics reads the benchmark numbers in an exec command's output: JSON
// lines with "metric" and "value" (other lines are ignored). The polarity
// hint decides the direction of a regression; without one, higher is
// better. Names must be simple words, so a hostile line cannot collide
// with another family.
func ExecMetrics(stdout string) map[string]Sample {
	out := map[string]Sample{}
	family := familyEntry("exec")
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var e execLine
		if json.Unmarshal([]byte(l), &e) != nil || e.Value == nil || !payload.SimpleName(e.Metric) {
			continue
		}
		m := family
		m.Name = "exec[" + e.Metric + "]"
		m.Unit = e.Unit
		if e.Polarity == LowerBetter {
			m.Polarity = LowerBetter
		}
		if !math.IsNaN(*e.Value) && !math.IsInf(*e.Value, 0) {
			out[m.Name] = Sample{Metric: m, Value: *e.Value, Net: *e.Value}
		}
	}
	return out
}

// PayloadMetrics are the metrics of a scenario's payload runs, each
// payload[PAYLOAD.METRIC] (PAYLOAD@CGROUP when one payload ran in several
// cgroups; the last run counts when it ran twice in one) with the polarity
// and unit its run recorded.
func PayloadMetrics(runs []record.PayloadResult) map[string]Sample {
	out := map[string]Sample{}
	family := familyEntry("payload")
	cgroups := map[string]map[string]bool{}
	for _, p := range runs {
		if cgroups[p.Name] == nil {
			cgroups[p.Name] = map[string]bool{}
		}
		cgroups[p.Name][p.Cgroup] = true
	}
	for _, p := range runs {
		label := p.Name
		if len(cgroups[p.Name]) > 1 {
			label += "@" + p.Cgroup
		}
		for _, pm := range p.Metrics {
			if !payload.SimpleName(pm.Name) || math.IsNaN(pm.Value) || math.IsInf(pm.Value, 0) {
				continue
			}
			m := family
			m.Name = "payload[" + label + "." + pm.Name + "]"
			m.Unit = pm.Unit
			if Polarity(pm.Polarity) == LowerBetter {
				m.Polarity = LowerBetter
			}
			out[m.Name] = Sample{Metric: m, Value: pm.Value, Net: pm.Value}
		}
	}
	return out
}

// Names returns the metric names in samples, sorted in registry order,
// then by instance name.
func Names(samples ...map[string]Sample) []string {
	rank := map[string]int{}
	for i, m := range Registry {
		rank[m.Name] = i
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range samples {
		for n := range s {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank[checkBase(names[i])], rank[checkBase(names[j])]
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

// Format prints a value with its unit, for tables.
func Format(x float64, unit string) string {
	s := fmt.Sprintf("%.4g", x)
	if a := math.Abs(x); a >= 1e4 && a < 1e15 {
		// Counts read better whole than as 7e+04.
		s = fmt.Sprintf("%.0f", x)
	}
	switch {
	case unit == "":
		return s
	case utf8.RuneCountInString(unit) > 2:
		// A word (insns, units/s) reads better apart.
		return s + " " + unit
	}
	return s + unit
}
