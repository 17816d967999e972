package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func budgetJob(id string, cpus int, sched string, flags ...string) *record.Job {
	j := &record.Job{ID: id, Topology: &record.Topology{Name: id, NUMANodes: 1, LLCs: 1, CoresPerLLC: cpus, ThreadsPerCore: 1, CPUs: cpus},
		DurationS: 3, Workers: 2, Scenario: json.RawMessage(`{"name":"cgroup_steady"}`)}
	if sched != "" {
		j.Scheduler = &record.Scheduler{Name: sched, Flags: flags}
	}
	return j
}

func TestFeaturesHashArbitraryFlagNames(t *testing.T) {
	base := Features(budgetJob("a", 2, "my_sched"))
	with := Features(budgetJob("a", 2, "my_sched", "my_own_flag"))
	if with == base || with&^base == 0 {
		t.Errorf("a custom flag adds no feature: %b vs %b", with, base)
	}
	if Features(budgetJob("a", 2, "")) == Features(budgetJob("a", 200, "")) {
		t.Error("the CPU bucket is not a feature")
	}
	if with>>FeatureBits != 0 {
		t.Errorf("bits beyond FeatureBits: %b", with)
	}
}

func TestSelectGreedyCoveragePerSecond(t *testing.T) {
	jobs := []*record.Job{
		budgetJob("small", 2, ""),                   // cheap, the base features
		budgetJob("small-dup", 2, ""),               // same features: nothing new
		budgetJob("big", 200, "scx_qmap", "x", "y"), // many new bits, costly
		budgetJob("flag", 2, "", "z"),               // one flag bit more than small
	}
	cost := func(j *record.Job) float64 { return EstimateS(j, 2) }
	// Enough for everything: all chosen (a second round takes the dup).
	all := Select(jobs, 1e6, cost)
	if len(all.Chosen) != 4 || len(all.Left) != 0 || all.Covered != all.Coverable {
		t.Errorf("unbounded: %+v", all)
	}
	// Room for the cheap ones only: the duplicate comes last.
	s := Select(jobs, 2*cost(jobs[0])+1, cost)
	got := fmt.Sprint(s.Chosen)
	if got != "[0 3]" && got != "[0 1]" || s.CostS > 2*cost(jobs[0])+1 {
		t.Errorf("tight budget chose %v (cost %.0f)", s.Chosen, s.CostS)
	}
	if got == "[0 1]" {
		t.Error("the duplicate was preferred over a job with a new flag")
	}
	if none := Select(jobs, 1, cost); len(none.Chosen) != 0 || len(none.Left) != 4 {
		t.Errorf("a budget below every cost chose %v", none.Chosen)
	}
}

func TestSelectStreamWritesSkipsForTheRest(t *testing.T) {
	var in bytes.Buffer
	w := record.NewWriter(&in)
	w.Write(budgetJob("a", 2, ""))
	w.Write(&record.Error{Source: "x", Message: "passes"})
	w.Write(budgetJob("b", 2, ""))
	w.Write(budgetJob("c", 64, "s", "f"))
	var out bytes.Buffer
	cost := func(*record.Job) float64 { return 10 }
	b, err := SelectStream(&in, record.NewWriter(&out), "test", 20, cost)
	if err != nil {
		t.Fatal(err)
	}
	o := out.String()
	if len(b.Chosen) != 2 || strings.Count(o, `"reason":"budget"`) != 1 || !strings.Contains(o, `"passes"`) ||
		strings.Count(o, `"kind":"job"`) != 2 {
		t.Errorf("%s\n%s", b, o)
	}
	if !strings.Contains(b.String(), "2/3 jobs, 20/20s used") {
		t.Errorf("summary %q", b)
	}
}
