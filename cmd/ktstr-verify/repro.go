package main

import (
	"io"

	"github.com/ktstr-go/ktstr/lib/judge/repro"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// writeRepros prints every repro as a timeline: the repro records on the
// input (raw lines), and the reruns among runs (a run of a repro job) that
// no repro record covered, reported with lib/judge/repro.
func writeRepros(w io.Writer, raws [][]byte, runs []*record.Run, verdicts []*record.Verdict, raw bool) {
	var reps []*record.Repro
	seen := map[string]bool{}
	for _, b := range raws {
		var r record.Repro
		if record.Unmarshal(b, &r) == nil {
			reps = append(reps, &r)
			seen[r.ReproRunID] = true
		}
	}
	byRun := map[string]*record.Verdict{}
	for _, v := range verdicts {
		byRun[v.RunID] = v
	}
	for _, r := range runs {
		if r.Job != nil && r.Job.ReproOf != nil && !seen[r.ID] {
			reps = append(reps, repro.Report(r, byRun[r.ID]))
		}
	}
	for _, r := range reps {
		repro.WriteTimeline(w, r, raw)
	}
}
