package compare

import (
	"testing"

	"github.com/ktstr-go/ktstr/lib/metrics"
	"github.com/ktstr-go/ktstr/lib/query"
	"github.com/ktstr-go/ktstr/lib/record"
)

func rows(scenario string, metric string, vals ...float64) []*query.Row {
	var out []*query.Row
	m, _ := metrics.Lookup(metric)
	for _, v := range vals {
		out = append(out, &query.Row{Scenario: scenario, Topology: "1n1l2c1t", Scheduler: "s", Profile: "default", Kernel: "6.12",
			Metrics: map[string]metrics.Sample{metric: {Metric: m, Value: v}}})
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
	if abs, rel := p.gate(m); abs != 100 || rel != 0.01 {
		t.Errorf("family gate: %v %v", abs, rel)
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

// TestNoisyHostWithFewRuns: with fewer than min_runs runs per side, a
// timing metric's gated change on a host that held a vCPU ≥ 10% of a run is
// noisy; a metric the host cannot move (the pass rate) still decides.
func TestNoisyHostWithFewRuns(t *testing.T) {
	noisy := func(rows []*query.Row, pct float64) []*query.Row {
		m, _ := metrics.Lookup("host_wait_pct")
		for _, r := range rows {
			r.Metrics["host_wait_pct"] = metrics.Sample{Metric: m, Value: pct}
		}
		return rows
	}
	cases := []struct {
		metric string
		a, b   []float64
		host   float64
		want   string
	}{
		{"worst_gap_ms", []float64{100}, []float64{900}, 50, Noisy},
		{"worst_gap_ms", []float64{100}, []float64{900}, 5, Regression},
		{"passed", []float64{1}, []float64{0}, 50, Regression},
		// With enough runs the test decides, whatever the host did.
		{"worst_gap_ms", []float64{100, 110, 120}, []float64{900, 950, 990}, 50, Regression},
	}
	for _, c := range cases {
		res := Compare(noisy(rows("x", c.metric, c.a...), c.host), noisy(rows("x", c.metric, c.b...), 0), Options{PairOn: DefaultPairOn})
		var got *record.Delta
		for _, d := range res.Deltas {
			if d.Metric == c.metric {
				got = d
			}
		}
		if got == nil || got.Verdict != c.want || got.Why == "" {
			t.Errorf("%s %v→%v host %v%%: %+v, want %s", c.metric, c.a, c.b, c.host, got, c.want)
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
