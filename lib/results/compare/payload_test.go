package compare

import (
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/query"
)

// payloadRows are runs whose payload hackbench (or stress-ng) gave one
// metric with polarity.
func payloadRows(name, polarity string, vals ...float64) []*query.Row {
	var out []*query.Row
	for _, v := range vals {
		s := metrics.PayloadMetrics([]record.PayloadResult{{Name: "bench", Cgroup: "b",
			Metrics: []record.PayloadMetric{{Name: name, Value: v, Polarity: polarity, Unit: "s"}}}})
		out = append(out, &query.Row{Scenario: "hackbench_steady", Topology: "1n2l2c1t", Scheduler: "s", Profile: "default", Kernel: "6.12", Metrics: s})
	}
	return out
}

// A payload metric is judged with its own polarity: a lower-is-better one
// that rises and a higher-is-better one that drops are regressions, the
// opposite moves improvements; the delta says which way is better.
func TestPayloadPolarity(t *testing.T) {
	for _, c := range []struct {
		polarity string
		a, b     []float64
		want     string
	}{
		{"lower", []float64{1.0, 1.1, 1.0}, []float64{2.0, 2.1, 2.2}, Regression},
		{"lower", []float64{2.0, 2.1, 2.2}, []float64{1.0, 1.1, 1.0}, Improvement},
		{"higher", []float64{1000, 1010, 990}, []float64{500, 510, 490}, Regression},
		{"higher", []float64{500, 510, 490}, []float64{1000, 1010, 990}, Improvement},
		{"lower", []float64{1.0, 1.02, 1.01}, []float64{1.01, 1.0, 1.02}, Unchanged},
	} {
		res := Compare(payloadRows("time_s", c.polarity, c.a...), payloadRows("time_s", c.polarity, c.b...), Options{PairOn: DefaultPairOn})
		if len(res.Deltas) != 1 {
			t.Fatalf("%d deltas", len(res.Deltas))
		}
		d := res.Deltas[0]
		if d.Metric != "payload[bench.time_s]" || d.Verdict != c.want || d.Polarity != c.polarity || d.Unit != "s" {
			t.Errorf("%s %v → %v: %+v, want %s", c.polarity, c.a, c.b, d, c.want)
		}
	}
}
