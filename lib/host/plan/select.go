package plan

import (
	"context"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Budgeted is how a budget selection went (for the one-line summary).
type Budgeted struct {
	Selection
	Jobs     int
	BudgetS  float64
	BadInput bool
}

func (b Budgeted) String() string {
	return fmt.Sprintf("budget: %d/%d jobs, %.0f/%.0fs used, %d/%d features covered",
		len(b.Chosen), b.Jobs, b.CostS, b.BudgetS, b.Covered, b.Coverable)
}

// SelectStream is the budget stage of a pipeline: it reads job records from
// in (a plan), keeps those Select picks within budgetS seconds, and writes
// them unchanged, in input order, followed by a skip record (reason
// "budget") for each job left out. Other records pass through as they come.
// It reads the whole plan before it writes a job: the choice needs them all.
func SelectStream(in io.Reader, out *record.Writer, source string, budgetS float64, cost func(*record.Job) float64) (Budgeted, error) {
	b := Budgeted{BudgetS: budgetS}
	var jobs []*record.Job
	var raws [][]byte
	loop := record.Loop{Source: source, Out: out}
	bad, err := loop.Run(context.Background(), in, func(line record.Line) error {
		if line.Kind != record.KindJob {
			return record.Pass
		}
		var j record.Job
		if err := line.Decode(&j); err != nil {
			return record.Reject(err)
		}
		jobs = append(jobs, &j)
		raws = append(raws, line.Raw)
		return nil
	})
	b.BadInput = bad > 0
	if err != nil {
		return b, err
	}
	b.Jobs = len(jobs)
	b.Selection = Select(jobs, budgetS, cost)
	for _, i := range b.Chosen {
		if err := out.WriteRaw(raws[i]); err != nil {
			return b, err
		}
	}
	for _, i := range b.Left {
		j := jobs[i]
		err := out.Write(&record.Skip{Source: source, Subject: j.ID, Reason: "budget",
			Detail: fmt.Sprintf("left out by the %.0fs budget (%.0fs expected; %s)", budgetS, cost(j), b), Topology: j.Topology})
		if err != nil {
			return b, err
		}
	}
	return b, nil
}
