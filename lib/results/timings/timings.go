// Package timings reads past wall times of jobs from a run store: what
// ktstr-boot --select's budget costs a job at, and the progress line's ETA.
// It is apart from lib/host/plan so that the planner (and what imports it,
// bare metal among them) links no store or query code.
package timings

import (
	"fmt"
	"os"
	"slices"

	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/store"
)

// Timings are past wall times of jobs by id, from a run store: what a
// budget costs and an ETA is made of when the store has seen the job.
type Timings map[string]float64

// Past reads the median wall time (boot to power-off, seconds) of
// each job id's completed runs in the store at dir. A store that does not
// exist gives no timings and no error: the store is only read, never
// created.
func Past(dir string) (Timings, error) {
	if dir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			return Timings{}, nil
		}
		dir = d
	}
	if _, err := os.Stat(dir); err != nil {
		return Timings{}, nil
	}
	s, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	rows, _, err := query.FromStore(s)
	if err != nil {
		return nil, fmt.Errorf("past timings: %w", err)
	}
	walls := map[string][]float64{}
	for _, r := range rows {
		run := r.Run
		if run == nil || run.Job == nil || run.Job.ID == "" || run.Outcome != record.OutcomeCompleted || run.Timings.WallS <= 0 {
			continue
		}
		walls[run.Job.ID] = append(walls[run.Job.ID], run.Timings.WallS)
	}
	t := Timings{}
	for id, w := range walls {
		slices.Sort(w)
		t[id] = w[len(w)/2]
	}
	return t, nil
}

// Cost is a job's expected seconds: its past median when known, else
// plan.EstimateS.
func (t Timings) Cost(j *record.Job, hostCPUs int) float64 {
	if s, ok := t[j.ID]; ok {
		return s
	}
	return plan.EstimateS(j, hostCPUs)
}
