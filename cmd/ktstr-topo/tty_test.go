package main

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
)

// runOnTTY runs the tool with stdout and stderr on a real pseudo-terminal
// and returns what a person saw.
func runOnTTY(t *testing.T, stdin string, args ...string) (int, string) {
	return ptytest.Run(t, 120, run, stdin, args...)
}

// TestOutputSwitch (issue 25, item 3): on a terminal ktstr-topo shows the
// topology for people (skips and bad stdin lines as text); piped, or with
// --json or --format json, it writes records; --format text is the view
// for people when piped.
func TestOutputSwitch(t *testing.T) {
	const view = "LLC 1 (node 0): cpus 8-15  SMT 8-9 10-11 12-13 14-15"
	code, out := runOnTTY(t, "", "1,2,4,2")
	if code != 0 || !strings.Contains(out, view) || strings.Contains(out, `"kind":`) {
		t.Errorf("terminal: exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{{"--json"}, {"--format", "json"}} {
		if _, out := runOnTTY(t, "", append(args, "1,2,4,2")...); !strings.HasPrefix(out, `{"kind":"topology"`) {
			t.Errorf("%q on a terminal: %s", args, out)
		}
	}
	if _, out, _ := runTopo(t, "", "1,2,4,2"); !strings.HasPrefix(out, `{"kind":"topology"`) {
		t.Errorf("piped: %s", out)
	}
	if _, out, _ := runTopo(t, "", "--format", "text", "1,2,4,2"); !strings.Contains(out, view) {
		t.Errorf("--format text piped: %s", out)
	}
	// A bad line on stdin, on a terminal: said in text, status 2.
	code, out = runOnTTY(t, "1,1,1,1\nbogus\n")
	if code != 2 || !strings.Contains(out, "error: line 2: ") || strings.Contains(out, `"kind":`) {
		t.Errorf("bad line on a terminal: exit %d:\n%s", code, out)
	}
	if code, _, errOut := runTopo(t, "", "--json", "--format", "text", "1,1,1,1"); code != 2 || strings.TrimSpace(errOut) != "ktstr-topo: --json and --format text exclude each other" {
		t.Errorf("--json --format text: exit %d, %q", code, errOut)
	}
}
