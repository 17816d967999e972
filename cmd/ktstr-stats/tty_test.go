package main

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// runOnTTY runs ktstr-stats with stdout and stderr on a real
// pseudo-terminal and returns what a person saw.
func runOnTTY(t *testing.T, stdin string, args ...string) (int, string) {
	return ptytest.Run(t, 200, run, stdin, args...)
}

// storeOf makes a store with side a (3 runs) and side b (3 runs, the gap
// tripled), ktstr versions va and vb.
func storeOf(t *testing.T, va, vb string) string {
	t.Helper()
	dir := t.TempDir()
	for label, side := range map[string][]*record.Run{
		"a": {synthRun("a1", "scx_x", 100, 1000), synthRun("a2", "scx_x", 110, 1010), synthRun("a3", "scx_x", 120, 990)},
		"b": {synthRun("b1", "scx_x", 300, 1000), synthRun("b2", "scx_x", 330, 1000), synthRun("b3", "scx_x", 360, 995)},
	} {
		var recs []record.Record
		for _, r := range side {
			r.KtstrVersion = map[string]string{"a": va, "b": vb}[label]
			recs = append(recs, r)
		}
		if code, _, errOut := runStats(t, ndjson(t, recs...), "--store", dir, "store", "--label", label); code != 0 {
			t.Fatalf("store %s: exit %d: %s", label, code, errOut)
		}
	}
	return dir
}

// TestOutputSwitch (issue 25, item 3): list, summary, compare and store
// print for people on a terminal and NDJSON when piped or with --json;
// --format text and --format json still work, --json with --format text is
// a usage error.
func TestOutputSwitch(t *testing.T) {
	dir := storeOf(t, "v1", "v1")
	for _, args := range [][]string{
		{"list", "label=a"},
		{"summary", "label=a"},
		{"compare", "--a", "label=a", "--b", "label=b"},
	} {
		argv := append([]string{"--store", dir}, args...)
		_, human := runOnTTY(t, "", argv...)
		if strings.Contains(human, `"kind":`) {
			t.Errorf("%q on a terminal: records:\n%s", args, human)
		}
		wantTable := map[string]string{"list": "STORED", "summary": "SCENARIO", "compare": "pairing on"}[args[0]]
		if !strings.Contains(human, wantTable) {
			t.Errorf("%q on a terminal: no %q:\n%s", args, wantTable, human)
		}
		_, piped, _ := runStats(t, "", argv...)
		_, forced := runOnTTY(t, "", append(argv, "--json")...)
		for what, out := range map[string]string{"piped": piped, "--json on a terminal": forced} {
			first, _, _ := strings.Cut(out, "\n")
			if !strings.HasPrefix(first, `{"kind":`) {
				t.Errorf("%q %s: not NDJSON: %q", args, what, first)
			}
		}
	}
	if _, out, _ := runStats(t, "", "--store", dir, "list", "label=a", "--format", "text"); !strings.Contains(out, "STORED") || !strings.Contains(out, "3 runs") {
		t.Errorf("--format text piped: %s", out)
	}
	if _, out := runOnTTY(t, "", "--store", dir, "summary", "--format", "json"); !strings.HasPrefix(out, `{"kind":"stats"`) {
		t.Errorf("--format json on a terminal: %s", out)
	}
	code, _, errOut := runStats(t, "", "--store", dir, "list", "--json", "--format", "text")
	if code != cli.ExitUsage || strings.TrimSpace(errOut) != "ktstr-stats: --json and --format text exclude each other" {
		t.Errorf("--json --format text: exit %d, %q", code, errOut)
	}
	// store: on a terminal the summary line instead of the records.
	in := ndjson(t, synthRun("c1", "scx_x", 1, 1))
	code, out := runOnTTY(t, in, "--store", dir, "store", "--label", "c")
	if code != 0 || strings.Contains(out, `"kind":`) || !strings.Contains(out, "stored 1 runs and 0 verdicts") {
		t.Errorf("store on a terminal: exit %d:\n%s", code, out)
	}
	if _, out := runOnTTY(t, in, "--store", dir, "store", "--json"); !strings.HasPrefix(out, `{"kind":"run"`) {
		t.Errorf("store --json on a terminal: %s", out)
	}
}

// TestCompareSaysVersionsDiffer (issue 25, item 4): sides made by
// different ktstr versions are still compared; the table says so in a
// line and every delta record names both sides' versions. Sides of one
// version say nothing.
func TestCompareSaysVersionsDiffer(t *testing.T) {
	dir := storeOf(t, "v1", "")
	code, out, errOut := runStats(t, "", "--store", dir, "compare", "--a", "label=a", "--b", "label=b")
	note := "ktstr-stats: note: side A was made by ktstr v1 and side B by ktstr unknown: a change may come from the harness, not from what is compared"
	if code != cli.ExitFail || !strings.Contains(errOut, note+"\n") || !strings.Contains(errOut, "REGRESSION") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d record.Delta
		if err := record.Unmarshal([]byte(l), &d); err != nil || strings.Join(d.KtstrVersionsA, ",") != "v1" || strings.Join(d.KtstrVersionsB, ",") != "unknown" {
			t.Errorf("delta %s: %v", l, err)
		}
	}
	if _, human := runOnTTY(t, "", "--store", dir, "compare", "--a", "label=a", "--b", "label=b"); !strings.Contains(human, note) {
		t.Errorf("on a terminal: no note:\n%s", human)
	}
	same := storeOf(t, "v2", "v2")
	_, out, errOut = runStats(t, "", "--store", same, "compare", "--a", "label=a", "--b", "label=b")
	if strings.Contains(errOut, "note:") || strings.Contains(out, "ktstr_versions") {
		t.Errorf("one version: a note or fields:\n%s\n%s", errOut, out)
	}
}

// TestCompletionValues (issue 25, item 7): at Tab time the completion
// scripts ask for the default store's labels (store --label, compare
// --a label=) and the kernel cache's (--a kernel=); nothing on error.
func TestCompletionValues(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	if code, _, errOut := runStats(t, ndjson(t, synthRun("r1", "scx_x", 1, 1)), "store", "--label", "nightly", "--label", "a"); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, errOut := runStats(t, "", "--complete-values", "label"); code != 0 || out != "a\nnightly\n" || errOut != "" {
		t.Errorf("labels: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := runStats(t, "", "--complete-values", "kernel"); code != 0 || out != "" || errOut != "" {
		t.Errorf("no kernels: exit %d, %q %q", code, out, errOut)
	}
	_, script, _ := runStats(t, "", "--completion", "bash")
	for _, want := range []string{`"store --label") _ktstr_stats_list "$(_ktstr_stats_values label)"`, `"label=:label kernel=:kernel"`} {
		if !strings.Contains(script, want) {
			t.Errorf("the bash script lacks %s", want)
		}
	}
}

// TestStoreTellsBadLines: on a terminal the store tells each bad line —
// malformed, or a run record it cannot store — naming its line once, and
// says how many there were.
func TestStoreTellsBadLines(t *testing.T) {
	in := "not json\n" + `{"kind":"run","v":1,"id":5}` + "\n"
	code, out := runOnTTY(t, in, "--store", t.TempDir(), "store")
	if code != 2 || !strings.Contains(out, "ktstr-stats: line 1: not a JSON object") ||
		!strings.Contains(out, "ktstr-stats: not stored: line 2: decode run record: ") ||
		strings.Contains(out, "line 1: line 1") || strings.Contains(out, "line 2: not stored") ||
		!strings.Contains(out, "ktstr-stats: 2 bad input line(s)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
