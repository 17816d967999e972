package metrics

import (
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestPayloadMetrics(t *testing.T) {
	runs := []record.PayloadResult{
		{Name: "hackbench", Cgroup: "bench", Metrics: []record.PayloadMetric{{Name: "time_s", Value: 1.5, Polarity: "lower", Unit: "s"}}},
		{Name: "stress-ng", Cgroup: "a", Metrics: []record.PayloadMetric{{Name: "switch.bogo_ops", Value: 9, Polarity: "higher"}}},
		{Name: "stress-ng", Cgroup: "b", Metrics: []record.PayloadMetric{{Name: "switch.bogo_ops", Value: 7, Polarity: "higher"}, {Name: "bad name", Value: 1}}},
	}
	got := PayloadMetrics(runs)
	if len(got) != 3 {
		t.Fatalf("%v", got)
	}
	hb := got["payload[hackbench.time_s]"]
	if hb.Value != 1.5 || hb.Metric.Polarity != LowerBetter || hb.Metric.Unit != "s" || !hb.Metric.Timing {
		t.Errorf("%+v", hb)
	}
	if s := got["payload[stress-ng@b.switch.bogo_ops]"]; s.Value != 7 || s.Metric.Polarity != HigherBetter {
		t.Errorf("%+v", s)
	}
	// The whole run goes through Extract.
	r := &record.Run{Outcome: record.OutcomeCompleted, Scenario: &record.ScenarioResult{Payloads: runs[:1]}}
	if s, ok := Extract(r, nil)["payload[hackbench.time_s]"]; !ok || s.Value != 1.5 {
		t.Errorf("Extract: %+v %v", s, ok)
	}
	if _, ok := Lookup("payload[hackbench.time_s]"); !ok {
		t.Error("Lookup of a payload instance")
	}
}
