package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/compare"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/report"
)

// report writes the HTML report of the matching runs.
func (t *tool) report() (int, error) {
	o := &t.o.Report
	f, err := filter(o.Filter)
	if err != nil {
		return 0, err
	}
	rows, errs, err := t.rows(o.From)
	if err != nil {
		return 0, err
	}
	// What could not be read: error records when piped, said on stderr on
	// a terminal (the report itself is the file).
	out := record.NewWriter(t.stdout)
	human := cli.Human(false, t.stdout)
	if human {
		out = record.NewWriter(io.Discard)
	}
	code := t.problems(out, errs, human)
	sel := query.Select(rows, f)
	in := report.Input{Rows: sel, Now: time.Now()}
	if len(o.A) > 0 || len(o.B) > 0 {
		fa, err := filter(o.A)
		if err != nil {
			return 0, err
		}
		fb, err := filter(o.B)
		if err != nil {
			return 0, err
		}
		in.A, in.B = query.Select(rows, fa), query.Select(rows, fb)
		if len(in.A) == 0 || len(in.B) == 0 {
			return 0, cli.Usagef("report: side A (%s) has %d runs and side B (%s) %d", fa, len(in.A), fb, len(in.B))
		}
		if shared := compare.SharedRuns(in.A, in.B); len(shared) > 0 {
			return 0, cli.Usagef("report: side A (%s) and side B (%s) share %d runs (%s): narrow the filters so that no run is on both sides", fa, fb, len(shared), fewRuns(shared))
		}
		slicing := compare.SlicingDims(fa, fb)
		pairOn := o.PairOn
		if len(pairOn) == 0 {
			pairOn = compare.PairOn(slicing)
		}
		in.Compare = compare.Compare(in.A, in.B, compare.Options{Slicing: slicing, PairOn: pairOn})
	}
	in.Run = pickRun(sel, o.Run)
	if o.Run != "" && in.Run == nil {
		return 0, cli.Usagef("report: no run %q among the %d selected", o.Run, len(sel))
	}
	var b bytes.Buffer
	counts, err := report.Write(&b, in)
	if err != nil {
		return 0, err
	}
	// Write beside the target and rename: a reader never sees half a file.
	tmp, err := os.CreateTemp(filepath.Dir(o.Output), ".ktstr-report-*")
	if err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), o.Output); err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	if !t.o.Quiet {
		fmt.Fprintf(t.stderr, "%s: wrote %s: %d runs, %d heat-maps (%d cells), %d A/B charts, %d CDF charts, %d timeline charts\n",
			name, o.Output, len(sel), counts.HeatMaps, counts.Cells, counts.ABCharts, counts.CDFCharts, counts.TimelineCharts)
	}
	return code, nil
}

// pickRun is the run whose wake latencies and host wait the report draws:
// the one named, else the latest with wake-latency samples, else the latest
// with a scenario.
func pickRun(rows []*query.Row, id string) *record.Run {
	var withScenario *record.Run
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i].Run
		switch {
		case r == nil:
		case id != "":
			if r.ID == id {
				return r
			}
		case r.Scenario != nil:
			for _, cg := range r.Scenario.Cgroups {
				for _, w := range cg.Workers {
					if len(w.WakeLatencyUS) > 0 {
						return r
					}
				}
			}
			if withScenario == nil {
				withScenario = r
			}
		}
	}
	return withScenario
}
