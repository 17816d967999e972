package main

import (
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// writeMonitorTails prints, for every run that ended in a timeout, a kernel
// panic or a dead scheduler, the host-side monitor's last samples: what
// each CPU was doing when the guest stopped answering.
func writeMonitorTails(w io.Writer, runs []*record.Run) {
	for _, r := range runs {
		switch r.Outcome {
		case record.OutcomeTimeout, record.OutcomeKernelPanic, record.OutcomeSchedulerDied:
		default:
			continue
		}
		if t := verdict.MonitorLast(r); t != "" {
			id := r.ID
			if r.Job != nil && r.Job.ID != "" {
				id = r.Job.ID + " (" + r.ID + ")"
			}
			fmt.Fprintf(w, "%s: %s, %s", id, r.Outcome, t)
		}
	}
}
