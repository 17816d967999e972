package compare

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/query"
)

func rows(scenario string, metric string, vals ...float64) []*query.Row {
	var out []*query.Row
	m, _ := metrics.Lookup(metric)
	for _, v := range vals {
		out = append(out, &query.Row{Scenario: scenario, Topology: "1n1l2c1t", Scheduler: "s", Profile: "default", Kernel: "6.12",
			Metrics: map[string]metrics.Sample{metric: {Metric: m, Value: v, Net: v}}})
	}
	return out
}

func verdictOf(t *testing.T, a, b []*query.Row, p *Policy) string {
	t.Helper()
	res := Compare(a, b, Options{PairOn: DefaultPairOn, Policy: p})
	if len(res.Deltas) != 1 {
		t.Fatalf("%d deltas", len(res.Deltas))
	}
	return res.Deltas[0].Verdict
}

func TestDualGateAndSignificance(t *testing.T) {
	cases := []struct {
		name   string
		metric string
		a, b   []float64
		want   string
	}{
		// worst_gap_ms: abs 500, rel 0.5, lower is better.
		{"both gates, separated", "worst_gap_ms", []float64{100, 110, 120}, []float64{900, 950, 1000}, Regression},
		{"both gates, overlapping", "worst_gap_ms", []float64{100, 100, 3000}, []float64{2500, 2600, 90}, Noisy},
		{"relative only", "worst_gap_ms", []float64{10, 10, 10}, []float64{100, 100, 100}, Unchanged},
		{"absolute only", "worst_gap_ms", []float64{2000, 2000, 2000}, []float64{2600, 2600, 2600}, Unchanged},
		{"improvement", "worst_gap_ms", []float64{900, 950, 1000}, []float64{100, 110, 120}, Improvement},
		// From zero only the absolute gate applies (ktstr's rel=0 never fired).
		{"away from zero", "starved_workers", []float64{0, 0, 0}, []float64{2, 3, 2}, Regression},
		// Higher is better.
		{"pass rate drop", "passed", []float64{1, 1, 1}, []float64{0, 0, 0}, Regression},
		// Discrete metrics: more runs must not make a drop harder to flag
		// (a rank test on ties never reaches p ≤ 0.05 at 3+3).
		{"pass rate drop, 1+1", "passed", []float64{1}, []float64{0}, Regression},
		{"two of three fail", "passed", []float64{1, 1, 1}, []float64{1, 0, 0}, Regression},
		{"pass to inconclusive, 1+1", "passed", []float64{1}, []float64{0.5}, Regression},
		{"pass to inconclusive, 3+3", "passed", []float64{1, 1, 1}, []float64{0.5, 0.5, 0.5}, Regression},
		{"inconclusive to fail", "passed", []float64{0.5}, []float64{0}, Regression},
		{"one of three fails", "passed", []float64{1, 1, 1}, []float64{1, 1, 0}, Unchanged},
		{"a stall in two of three", "stall_count", []float64{0, 0, 0}, []float64{1, 1, 0}, Regression},
		// Too few runs: the gate alone decides.
		{"two runs", "worst_gap_ms", []float64{100, 1200}, []float64{900, 950}, Unchanged},
		{"one run", "worst_gap_ms", []float64{100}, []float64{900}, Regression},
		{"host noise never gates", "host_wait_pct", []float64{1, 1, 1}, []float64{90, 90, 90}, Info},
	}
	for _, c := range cases {
		if got := verdictOf(t, rows("x", c.metric, c.a...), rows("x", c.metric, c.b...), nil); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestPolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"default_percent": 5, "per_metric_abs": {"worst_gap_ms": 10}, "per_metric_percent": {"verified_insns": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	// With the absolute gate at 10 ms, 10 → 100 (900%) is a regression.
	if got := verdictOf(t, rows("x", "worst_gap_ms", 10, 10, 10), rows("x", "worst_gap_ms", 100, 100, 100), p); got != Regression {
		t.Errorf("policy abs: %s", got)
	}
	m, _ := metrics.Lookup("verified_insns[enqueue]")
	if abs, rel := p.gate(m, false); abs != 100 || rel != 0.01 {
		t.Errorf("family gate: %v %v", abs, rel)
	}
	if _, err := ParsePolicy([]byte(`{"per_metric_abs": {"worst_gap_ms": "1"}}`)); err == nil || err.Error() != "per_metric_abs.worst_gap_ms: want a number, got a string" {
		t.Errorf("type error: %v", err)
	}
	for _, bad := range []string{`{"per_metric_percent": {"worst_spreed": 5}}`, `{"colour": 1}`, `{"alpha": 2}`,
		`{"per_metric_abs": {"worst_gap_ms": -1}}`, `{"min_runs": 1}`} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPairing(t *testing.T) {
	a := append(rows("x", "worst_gap_ms", 1, 1, 1), rows("only_a", "worst_gap_ms", 1)...)
	b := rows("x", "worst_gap_ms", 1, 1, 1)
	b[0].Scheduler = "other"
	res := Compare(a, b, Options{PairOn: PairOn([]string{"scheduler"})})
	if res.RunsA != 3 || res.RunsB != 3 || len(res.Deltas) != 2 || res.Deltas[0].Missing != "b" {
		t.Errorf("%+v %+v", res, res.Deltas)
	}
	if got := SlicingDims(query.Filter{"label": {"a"}, "kernel": {"6.12"}}, query.Filter{"label": {"b"}, "kernel": {"6.12"}}); len(got) != 1 || got[0] != "label" {
		t.Errorf("slicing %v", got)
	}
}

// TestTimingMetricsOnNoisyHost: a timing metric with a noise model is
// judged on its noise-subtracted values at any number of runs — a busy host
// neither hides a change the noise cannot explain (the audit: every timing
// metric with fewer than 3 runs a side was "noisy" at ≥ 10 % host wait, so
// none could regress in CI) nor makes one it can; a timing metric without
// a model is noisy on a noisy host with too few runs to test; the pass rate
// is never excused.
func TestTimingMetricsOnNoisyHost(t *testing.T) {
	side := func(metric string, host float64, raw, net []float64) []*query.Row {
		m, _ := metrics.Lookup(metric)
		hw, _ := metrics.Lookup("host_wait_pct")
		var out []*query.Row
		for i := range raw {
			out = append(out, &query.Row{Scenario: "x", Topology: "1n1l2c1t", Scheduler: "s", Profile: "default", Kernel: "6.12",
				Metrics: map[string]metrics.Sample{metric: {Metric: m, Value: raw[i], Net: net[i]}, "host_wait_pct": {Metric: hw, Value: host, Net: host}}})
		}
		return out
	}
	one := func(x ...float64) []float64 { return x }
	cases := []struct {
		name       string
		metric     string
		host       float64
		aRaw, aNet []float64
		bRaw, bNet []float64
		want, why  string
	}{
		{"a gap the noise does not explain", "worst_gap_ms", 60, one(100), one(60), one(900), one(850), Regression, "gate alone on the noise-subtracted values: 1+1 runs"},
		{"a gap the noise explains", "worst_gap_ms", 60, one(100), one(60), one(900), one(300), Noisy, "the host's measured noise accounts for it"},
		{"a spread at 70 % host wait", "worst_spread", 70, one(2.1), one(2.1), one(39.5), one(39.5), Regression, ""},
		{"an A/A spread", "worst_spread", 70, one(1.0), one(1.0), one(2.6), one(2.6), Unchanged, "within the gate"},
		{"a work rate halved on an equally busy host", "work_rate", 60, one(1000), one(2500), one(500), one(1250), Regression, ""},
		{"a work rate halved by the host alone", "work_rate", 60, one(1000), one(2500), one(500), one(2450), Noisy, "the host's measured noise accounts for it"},
		{"no noise model: noisy", "max_imbalance_ratio", 60, one(2), one(2), one(6), one(6), Noisy, "too few to test, and the host held a vCPU 60%"},
		{"no noise model, quiet host", "max_imbalance_ratio", 5, one(2), one(2), one(6), one(6), Regression, ""},
		{"the pass rate is never excused", "passed", 60, one(1), one(1), one(0), one(0), Regression, ""},
		{"with enough runs the test decides on the nets", "worst_gap_ms", 60, one(100, 110, 120), one(60, 66, 72), one(900, 950, 990), one(850, 900, 940), Regression, "Mann–Whitney"},
		// A healthy scheduler's A/A pair at 55 % host wait (gate-ab.sh,
		// 2026-12-06): the worst worker's noise-subtracted iterations
		// 11 % apart. At 1+1 a rate must move by FewRunsNetRel.
		{"an A/A rate 11 % apart at 1+1", "worst_iterations_per_worker", 55, one(331135), one(747637), one(293729), one(663988), Unchanged, "within the gate"},
		{"a rate down a fifth at 1+1", "work_rate", 55, one(400), one(1000), one(316), one(790), Regression, "gate alone on the noise-subtracted values"},
		{"with enough runs a rate down 12 % is tested", "work_rate", 55, one(450, 455, 445), one(1000, 1010, 990), one(396, 398, 394), one(880, 885, 875), Regression, "Mann–Whitney"},
	}
	for _, c := range cases {
		res := Compare(side(c.metric, c.host, c.aRaw, c.aNet), side(c.metric, c.host, c.bRaw, c.bNet), Options{PairOn: DefaultPairOn})
		var got *record.Delta
		for _, d := range res.Deltas {
			if d.Metric == c.metric {
				got = d
			}
		}
		if got == nil || got.Verdict != c.want || !strings.Contains(got.Why, c.why) {
			t.Errorf("%s: %+v, want %s (%q)", c.name, got, c.want, c.why)
		}
	}
}

// TestFewRunsNetRelYieldsToAPolicy: a policy that sets a metric's percent
// is applied as written at 1+1.
func TestFewRunsNetRelYieldsToAPolicy(t *testing.T) {
	m, _ := metrics.Lookup("worst_iterations_per_worker")
	row := func(v, net float64) []*query.Row {
		return []*query.Row{{Scenario: "x", Topology: "1n1l2c1t", Scheduler: "s", Profile: "default", Kernel: "6.12",
			Metrics: map[string]metrics.Sample{m.Name: {Metric: m, Value: v, Net: net}}}}
	}
	ten := 10.0
	for _, tc := range []struct {
		name   string
		policy *Policy
		want   string
		gate   float64
	}{
		{"no policy", nil, Unchanged, FewRunsNetRel},
		{"a default percent", &Policy{DefaultPercent: &ten}, Regression, 0.1},
		{"the metric's percent", &Policy{PerMetricPercent: map[string]float64{m.Name: 10}}, Regression, 0.1},
	} {
		res := Compare(row(331135, 747637), row(293729, 663988), Options{PairOn: DefaultPairOn, Policy: tc.policy})
		var got *record.Delta
		for _, d := range res.Deltas {
			if d.Metric == m.Name {
				got = d
			}
		}
		if got == nil || got.Verdict != tc.want || got.RelGate != tc.gate {
			t.Errorf("%s: %+v, want %s at a gate of %v", tc.name, got, tc.want, tc.gate)
		}
	}
}

func TestSharedRuns(t *testing.T) {
	a := []*query.Row{{RunID: "r1"}, {RunID: "r2"}, {RunID: "r3"}}
	anon := &query.Row{}
	b := []*query.Row{{RunID: "r3"}, {RunID: "r4"}, {RunID: "r2"}}
	if got := SharedRuns(a, b); len(got) != 2 || got[0] != "r2" || got[1] != "r3" {
		t.Errorf("SharedRuns = %q, want [r2 r3]", got)
	}
	if got := SharedRuns(a[:1], b); len(got) != 0 {
		t.Errorf("sides apart: %q", got)
	}
	// Rows without a run id: the same row is shared, two rows are not.
	if got := SharedRuns([]*query.Row{anon, {}}, []*query.Row{anon}); len(got) != 1 {
		t.Errorf("a row without an id on both sides: %q", got)
	}
	if got := SharedRuns([]*query.Row{{}}, []*query.Row{{}}); len(got) != 0 {
		t.Errorf("two rows without ids: %q", got)
	}
}
