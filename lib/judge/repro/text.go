package repro

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/judge/bpfverifier"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TimelineEvents is how many of each CPU's last events WriteTimeline shows
// (the record keeps them all).
const TimelineEvents = 40

// WriteTimeline prints one repro record for people: the verdict on the
// rerun, the probe chain, and per CPU the last events before the trigger
// (TimelineEvents of them), times relative to it, repeated stretches
// folded unless raw. ktstr-verify and ktstr-repro print repros with it.
func WriteTimeline(w io.Writer, r *record.Repro, raw bool) {
	state := "NOT REPRODUCED"
	switch {
	case r.Reproduced && r.ReasonMatched:
		state = "REPRODUCED (same reason)"
	case r.Reproduced:
		state = "REPRODUCED (other reason)"
	}
	fmt.Fprintf(w, "=== repro of %s (%s): %s ===\n", r.RunID, r.Original.Subject, state)
	fmt.Fprintf(w, "  original: %s: %s\n  rerun %s (tcg %s): %s\n", r.Original.Class, r.Original.Reason, r.ReproRunID, r.TCGThreads, r.Observed)
	if !r.Reproduced {
		fmt.Fprintf(w, "  %s\n", r.Detail)
	}
	var chain []string
	for _, t := range r.Chain {
		s := fmt.Sprintf("%s (%s, %d)", t.Name, strings.TrimSuffix(t.Type+" "+t.Attach, " "), t.Events)
		if t.Error != "" {
			s = fmt.Sprintf("%s (%s: %s)", t.Name, t.Type, t.Error)
		}
		chain = append(chain, s)
	}
	fmt.Fprintf(w, "  probes: %s\n", strings.Join(chain, ", "))
	end, until := uint64(0), "the trigger"
	if f := r.Fired; f != nil {
		end = f.TNS
		fmt.Fprintf(w, "  trigger: %s %s on cpu %d by %s[%d]\n", f.Func, strings.Join(f.Args, " "), f.CPU, f.Comm, f.PID)
	} else if strings.HasPrefix(r.Trigger, "panic") {
		until = "the panic"
		fmt.Fprintf(w, "  trigger: the kernel panic; events from the console's trace dump\n")
	} else {
		until = "the end of the run"
		fmt.Fprintf(w, "  trigger: none fired (%s); events up to the end of the run\n", orDash(r.Trigger))
	}
	if len(r.Events) == 0 {
		fmt.Fprintln(w, "  no events")
		return
	}
	if end == 0 {
		for _, e := range r.Events {
			end = max(end, e.TNS)
		}
	}
	byCPU := map[int][]record.ProbeEvent{}
	for _, e := range r.Events {
		if e.TNS <= end {
			byCPU[e.CPU] = append(byCPU[e.CPU], e)
		}
	}
	cpus := make([]int, 0, len(byCPU))
	for c := range byCPU {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	for _, c := range cpus {
		evs := byCPU[c]
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].TNS < evs[j].TNS })
		shown := evs[max(0, len(evs)-TimelineEvents):]
		fmt.Fprintf(w, "  CPU %d: last %d of %d events before %s\n", c, len(shown), len(evs), until)
		for _, l := range timelineLines(shown, end, raw) {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timeKey is the "<µs before the trigger>: " prefix timeline lines carry
// through the collapse, which ignores it when comparing lines (as it does
// a verifier log's instruction index).
var timeKey = regexp.MustCompile(`^(\d+): (.*)$`)

// timelineLines renders events, oldest first, with repeated stretches
// folded by lib/judge/bpfverifier's cycle collapse.
func timelineLines(evs []record.ProbeEvent, end uint64, raw bool) []string {
	lines := make([]string, len(evs))
	for i, e := range evs {
		what := e.Func
		if e.Exit {
			what += " ret"
		}
		text := fmt.Sprintf("%-24s %s[%d] %s", what, e.Comm, e.PID, strings.Join(e.Args, " "))
		if e.Exit && e.Ret != "" {
			text += " → " + e.Ret
		}
		lines[i] = fmt.Sprintf("%d: %s", (end-min(e.TNS, end))/1000, strings.TrimSpace(text))
	}
	if !raw {
		lines = strings.Split(bpfverifier.Collapse(strings.Join(lines, "\n")), "\n")
	}
	for i, l := range lines {
		if m := timeKey.FindStringSubmatch(l); m != nil {
			us, _ := strconv.ParseUint(m[1], 10, 64)
			lines[i] = fmt.Sprintf("%10s  %s", fmt.Sprintf("-%.3fms", float64(us)/1000), m[2])
		}
	}
	return lines
}
