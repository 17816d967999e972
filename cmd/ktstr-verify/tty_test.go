package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// runOnTTY runs ktstr-verify with stdout and stderr on a real
// pseudo-terminal 100 columns wide and returns what it showed.
func runOnTTY(t *testing.T, stdin string, args ...string) (int, string) {
	return ptytest.Run(t, 100, run, stdin, args...)
}

// TestTerminalShowsTheTableOnly (issue 17, items 6 and 7): on a terminal
// ktstr-verify prints its table, not the records; a scenario run's BPF
// program table only with -v; detail cut to the terminal's width, whole
// with -v; --json prints the records.
func TestTerminalShowsTheTableOnly(t *testing.T) {
	b, err := os.ReadFile("testdata/fixture-starve.ndjson") // a real run: fixture starve knob, 1n1l2c1t
	if err != nil {
		t.Fatal(err)
	}
	in := string(b)
	code, out := runOnTTY(t, in)
	if code != 1 || !strings.Contains(out, "SUBJECT") || !strings.Contains(out, "0 pass, 1 fail") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, `"kind":`) {
		t.Errorf("records on the terminal:\n%s", out)
	}
	if strings.Contains(out, "=== BPF programs") {
		t.Errorf("a scenario run's program table printed by default:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line of %d columns on a 100-column terminal: %q", n, l)
		}
	}
	if !strings.Contains(out, "-v prints them whole") {
		t.Errorf("no note that details were cut:\n%s", out)
	}
	_, verbose := runOnTTY(t, in, "-v")
	if !strings.Contains(verbose, "=== BPF programs") || !strings.Contains(verbose, "remainder 63 > limit 35") { // the end of the last detail
		t.Errorf("-v: no program table or the detail still cut:\n%s", verbose)
	}
	_, quiet := runOnTTY(t, in, "-q")
	if strings.TrimSpace(quiet) != "0 pass, 1 fail, 0 error, 0 inconclusive, 0 skip" {
		t.Errorf("-q: %q", quiet)
	}
	_, js := runOnTTY(t, in, "--json")
	if !strings.Contains(js, `"kind":"verdict"`) {
		t.Errorf("--json: no verdict record:\n%s", js)
	}
}

// TestTerminalStdinHint (issue 17, item 10): reading a terminal, the tool
// says what it waits for instead of waiting silently.
func TestTerminalStdinHint(t *testing.T) {
	p, err := ptytest.Open(100)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer p.Output()
	if err := p.Type("\x04"); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := run(context.Background(), p.TTY, &out, &errb, nil)
	if code != 1 || !strings.Contains(errb.String(), "reading run records from stdin (this terminal); end with Ctrl-D") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestDumpOnce (issue 17, item 7): a scheduler that prints the sched_ext
// exit dump itself (the user-space library does) and the kernel's trace copy
// of it show the dump once; a log without it still gets the kernel's.
func TestDumpOnce(t *testing.T) {
	dump := "swapper/0[0] triggered exit kind 1026:\n  runnable task stall (watchdog failed to check in for 5.020s)\n\nBacktrace:\n  scx_tick+0x67/0x72\n  sched_tick+0x140/0x1b2\n"
	var traced []string
	for _, l := range strings.Split(dump, "\n") {
		traced = append(traced, "     <idle>-0  [000] d.h2.  9.1: sched_ext_dump: "+l)
	}
	for _, c := range []struct {
		log  string
		want int
	}{
		{"EXIT: runnable task stall\nDEBUG DUMP\n" + dump, 1},
		{"EXIT: runnable task stall\n", 1},
	} {
		r := &record.Run{ID: "r", Outcome: record.OutcomeSchedulerDied, Job: &record.Job{ID: "j"},
			Scheduler: &record.SchedulerRun{Died: true, Attached: true, Log: c.log, Dump: strings.Join(traced, "\n")}}
		var b strings.Builder
		writeSchedulerLogs(&b, []*record.Run{r}, false)
		if n := strings.Count(b.String(), "scx_tick+0x67/0x72"); n != c.want {
			t.Errorf("log %q: the dump shown %d times, want %d:\n%s", c.log, n, c.want, b.String())
		}
	}
}

// TestDiffOnTerminal (issue 25, item 3): --diff on a terminal prints its
// table and no delta records; --json prints the records.
func TestDiffOnTerminal(t *testing.T) {
	a := verifierRun(t, "default", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 150})
	b := verifierRun(t, "default", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 160})
	files := writeTemp(t, "a.ndjson", a) + "," + writeTemp(t, "b.ndjson", b)
	code, out := runOnTTY(t, "", "--diff", files)
	if code != 0 || !strings.Contains(out, "PROGRAM") || !strings.Contains(out, "+10") || strings.Contains(out, `"kind":`) {
		t.Errorf("terminal: exit %d:\n%s", code, out)
	}
	if _, out := runOnTTY(t, "", "--diff", files, "--json", "-q"); !strings.HasPrefix(out, `{"kind":"delta"`) {
		t.Errorf("--json: %s", out)
	}
}
