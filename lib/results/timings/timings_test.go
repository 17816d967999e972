package timings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/store"
)

func job(id string) *record.Job {
	return &record.Job{ID: id, Topology: &record.Topology{Name: id, NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1, CPUs: 2},
		DurationS: 3, Workers: 2, Scenario: json.RawMessage(`{"name":"cgroup_steady"}`)}
}

func TestPastTimingsAreMedianWallTimesOfCompletedRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs")
	if tm, err := Past(dir); err != nil || len(tm) != 0 {
		t.Fatalf("no store: %v %v", tm, err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("reading timings created the store")
	}
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	j := job("1n1l2c1t/cgroup_steady")
	for i, wall := range []float64{30, 10, 20} {
		run := &record.Run{ID: "r" + string(rune('0'+i)), Job: j, Outcome: record.OutcomeCompleted, Timings: record.Timings{WallS: wall}}
		line, _ := record.Marshal(run)
		w.Append(line)
	}
	failed := &record.Run{ID: "rf", Job: j, Outcome: record.OutcomeTimeout, Timings: record.Timings{WallS: 900}}
	line, _ := record.Marshal(failed)
	w.Append(line)
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tm, err := Past(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.Cost(j, 2); got != 20 {
		t.Errorf("cost %v, want the median 20 (the timeout not counted)", got)
	}
	other := job("never-ran")
	if got := tm.Cost(other, 2); got != plan.EstimateS(other, 2) {
		t.Errorf("unknown job cost %v, want the estimate", got)
	}
}
