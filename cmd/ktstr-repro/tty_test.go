package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// runOnTTY runs the tool with stdout and stderr on a real pseudo-terminal
// and returns what a person saw.
func runOnTTY(t *testing.T, stdin string, args ...string) (int, string) {
	return ptytest.Run(t, 200, run, stdin, args...)
}

// TestOutputSwitch (issue 25, item 3): on a terminal ktstr-repro says
// what it would rerun, what it skips and each repro's timeline, and writes
// no records (it says how to get them); piped or with --json, records.
func TestOutputSwitch(t *testing.T) {
	died, _, stalled, stallVerdict := streamOf(t)
	in := line(t, died) + line(t, stalled) + line(t, stallVerdict)

	code, out := runOnTTY(t, in)
	for _, want := range []string{"ktstr-repro: a/repro: rerun for scheduler_died", "skip c (eevdf): no repro of run r3", "ktstr-repro: 2 runs: 1 repro jobs, 1 skipped",
		"the records are not written on a terminal"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal lacks %q:\n%s", want, out)
		}
	}
	if code != 0 || strings.Contains(out, `"kind":`) {
		t.Errorf("terminal: exit %d:\n%s", code, out)
	}
	if _, out := runOnTTY(t, in, "--json", "-q"); !strings.HasPrefix(out, `{"kind":"verdict"`) || !strings.Contains(out, `{"kind":"job"`) {
		t.Errorf("--json on a terminal:\n%s", out)
	}
	// A rerun on a terminal: its timeline.
	var j record.Job
	_, piped := runRepro(t, in)
	for _, l := range strings.Split(piped, "\n") {
		if strings.HasPrefix(l, `{"kind":"job"`) && j.ReproOf == nil {
			record.Unmarshal([]byte(l), &j)
		}
	}
	if j.ReproOf == nil {
		t.Fatalf("piped: no repro job:\n%s", piped)
	}
	_, out = runOnTTY(t, line(t, &record.Run{ID: "r4", Job: &j, Outcome: record.OutcomeCompleted}))
	if !strings.Contains(out, "=== repro of r1 (a): NOT REPRODUCED ===") {
		t.Errorf("rerun on a terminal:\n%s", out)
	}
}

func runRepro(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb strings.Builder
	code := run(context.Background(), strings.NewReader(stdin), &out, &errb, args)
	return code, out.String()
}
