package repro

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Report judges a repro run (one whose job has ReproOf) against the failure
// it reruns. v is the rerun's verdict, nil to compute it.
func Report(r *record.Run, v *record.Verdict) *record.Repro {
	o := r.Job.ReproOf
	rep := &record.Repro{RunID: o.RunID, ReproRunID: r.ID, Subject: r.Job.ID, Original: *o, TCGThreads: r.Host.TCGThreads}
	got, failed := Classify(r, v)
	switch {
	case failed:
		rep.Observed = got.Class + ": " + got.Reason
	case r.Outcome == record.OutcomeCompleted:
		rep.Observed = "completed"
	default:
		rep.Observed = string(r.Outcome) + ": " + r.Reason
	}
	rep.Reproduced = failed && got.Class == o.Class
	if rep.Reproduced && o.Class == ClassCheck {
		rep.Reproduced = overlap(o.Checks, got.Checks)
	}
	rep.ReasonMatched = rep.Reproduced && NormalizeReason(got.Reason) == NormalizeReason(o.Reason)
	if rep.Reproduced && o.Class == ClassCheck {
		// The same reason: every check that failed failed again (the
		// rerun under single-threaded TCG may fail more timing checks).
		rep.ReasonMatched = true
		for _, c := range o.Checks {
			rep.ReasonMatched = rep.ReasonMatched && slices.Contains(got.Checks, c)
		}
	}
	switch {
	case !rep.Reproduced && !failed && r.Outcome == record.OutcomeCompleted:
		rep.Detail = fmt.Sprintf("not reproduced: the rerun completed without the original %s (%s)", o.Class, o.Reason)
	case !rep.Reproduced:
		rep.Detail = fmt.Sprintf("not reproduced: the original failed with %s (%s), the rerun with %s", o.Class, o.Reason, rep.Observed)
	case !rep.ReasonMatched:
		rep.Detail = fmt.Sprintf("reproduced with another reason: was %q, now %q", o.Reason, got.Reason)
	default:
		rep.Detail = "reproduced: " + got.Reason
	}
	if p := r.Probe; p != nil {
		rep.Chain, rep.Trigger, rep.Fired = slices.Clone(p.Targets), p.Trigger, p.Fired
		rep.Events = slices.Clone(p.Events)
		if r.Job.Probes != nil && r.Job.Probes.Trigger == TriggerPanic {
			// A panic stops the guest before the probes can flush: the
			// events are the console's trace dump.
			rep.Events = ConsoleEvents(consoleLines(r.ConsoleLog), p.Targets)
			rep.Trigger = "panic (the console's trace dump)"
			counts := map[string]int{}
			for _, e := range rep.Events {
				counts[e.Func]++
			}
			for i := range rep.Chain {
				rep.Chain[i].Events = counts[rep.Chain[i].Name]
			}
		}
		sort.SliceStable(rep.Events, func(i, k int) bool { return rep.Events[i].TNS < rep.Events[k].TNS })
		if len(p.Errors) > 0 {
			rep.Detail += "; probes: " + strings.Join(p.Errors, "; ")
		}
	} else if r.Job.Probes != nil {
		rep.Detail += "; the guest reported no probe result"
		for _, fn := range r.Job.Probes.Functions {
			rep.Chain = append(rep.Chain, record.ProbeTarget{Name: fn, Type: "kernel", Error: "no report"})
		}
	}
	return rep
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
