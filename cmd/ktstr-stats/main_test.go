package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/internal/golden"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func runStats(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), strings.NewReader(stdin), &out, &errb, args)
	return code, out.String(), errb.String()
}

// synthRun is a completed run of one cgroup with two CPU-bound workers
// whose longest gap is gapMS.
func synthRun(id, sched string, gapMS float64, units uint64) *record.Run {
	w := func(pid int, u uint64) record.WorkerReport {
		return record.WorkerReport{PID: pid, Cgroup: "cg0", WorkType: "CpuSpin", WorkUnits: u, Iterations: u / 10, CPUS: 2.8, WallS: 3,
			OffCPUPct: 6, MaxGapMS: gapMS, Migrations: 4, RunDelayS: 0.2, CPUsUsed: "0-1", CPUBound: true,
			WakeLatencyUS: []float64{50, 60, 70, 80, gapMS}, WakeSamples: 5}
	}
	return &record.Run{ID: id, Outcome: record.OutcomeCompleted,
		Job: &record.Job{ID: "1n1l2c1t/cgroup_steady/" + sched, Topology: &record.Topology{Name: "1n1l2c1t"},
			Kernel: &record.Kernel{Version: "6.12.117"}, Scheduler: &record.Scheduler{Name: sched, Profile: "default"},
			Scenario: []byte(`{"name":"cgroup_steady"}`)},
		Timings:  record.Timings{WallS: 12, AgentStartS: 4},
		Scenario: &record.ScenarioResult{Name: "cgroup_steady", DurationS: 3, WallS: 3, Cgroups: []record.CgroupResult{{Name: "cg0", Workers: []record.WorkerReport{w(10, units), w(11, units+units/20)}}}}}
}

func ndjson(t *testing.T, recs ...record.Record) string {
	var b strings.Builder
	for _, r := range recs {
		l, err := record.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func writeTemp(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompareGolden: 3 runs per side, the gap tripled on B with a clear
// separation (a regression), the work units a little lower (unchanged),
// pass rate equal; and two real runs of this machine, the fixture healthy
// vs its long-slice knob (1 run per side: the gate alone).
func TestCompareGolden(t *testing.T) {
	a := ndjson(t, synthRun("a1", "scx_x", 100, 1000), synthRun("a2", "scx_x", 110, 1010), synthRun("a3", "scx_x", 120, 990),
		&record.Verdict{RunID: "a1", Status: record.StatusPass}, &record.Verdict{RunID: "a2", Status: record.StatusPass}, &record.Verdict{RunID: "a3", Status: record.StatusPass})
	b := ndjson(t, synthRun("b1", "scx_x", 900, 980), synthRun("b2", "scx_x", 950, 1000), synthRun("b3", "scx_x", 990, 970),
		&record.Verdict{RunID: "b1", Status: record.StatusPass}, &record.Verdict{RunID: "b2", Status: record.StatusPass}, &record.Verdict{RunID: "b3", Status: record.StatusFail})
	code, out, errOut := runStats(t, "", "compare", "--a-from", writeTemp(t, "a.ndjson", a), "--b-from", writeTemp(t, "b.ndjson", b))
	golden.Compare(t, "compare-synthetic.golden", fmt.Appendf(nil, "exit %d\n--- stdout\n%s--- stderr\n%s", code, out, errOut))
	if code != cli.ExitFail || !strings.Contains(errOut, "REGRESSION cgroup_steady/1n1l2c1t/scx_x/default/kernel_6_12_117 worst_gap_ms") {
		t.Errorf("exit %d; the gap regression is not named", code)
	}

	code, out, errOut = runStats(t, "", "compare", "--a-from", "testdata/fixture-healthy.ndjson", "--b-from", "testdata/fixture-long-slice.ndjson",
		"--pair-on", "scenario,topology,scheduler")
	golden.Compare(t, "compare-fixture.golden", fmt.Appendf(nil, "exit %d\n--- stdout\n%s--- stderr\n%s", code, out, errOut))
	if code != cli.ExitFail {
		t.Errorf("long-slice vs healthy: exit %d", code)
	}
}

func TestCompareExitStatus(t *testing.T) {
	dir := t.TempDir()
	a := ndjson(t, synthRun("a1", "scx_x", 100, 1000), synthRun("a2", "scx_x", 110, 1010), synthRun("a3", "scx_x", 120, 990))
	same := ndjson(t, synthRun("b1", "scx_x", 115, 1000), synthRun("b2", "scx_x", 100, 1000), synthRun("b3", "scx_x", 105, 995))
	// Store both sides with labels, as the README's flow does.
	for label, in := range map[string]string{"a": a, "b": same} {
		if code, out, errOut := runStats(t, in, "--store", dir, "store", "--label", label); code != 0 || out != in {
			t.Fatalf("store %s: exit %d, passthrough changed: %s", label, code, errOut)
		}
	}
	if code, _, errOut := runStats(t, "", "--store", dir, "compare", "--a", "label=a", "--b", "label=b"); code != cli.ExitOK ||
		!strings.Contains(errOut, "pairing on: scenario, topology, scheduler, profile, kernel") || !strings.Contains(errOut, "summary: 0 regressions") {
		t.Errorf("same scheduler twice: exit %d\n%s", code, errOut)
	}
	policy := writeTemp(t, "p.json", `{"per_metric_percent": {"worst_gapms": 5}}`)
	cases := []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"compare", "--a", "label=a", "--b", "label=zzz"}, cli.ExitUsage, "0: nothing to compare"},
		{[]string{"compare", "--a", "label=a", "--b", "label=a"}, cli.ExitUsage, "the same"},
		{[]string{"compare", "--a", "colour=a", "--b", "label=b"}, cli.ExitUsage, "unknown key"},
		{[]string{"compare", "--a", "label=a", "--b", "label=b", "--policy", policy}, cli.ExitUsage, `unknown metric "worst_gapms"`},
		{[]string{"compare", "--a", "label=a", "--b", "label=b", "--pair-on", "colour"}, cli.ExitUsage, "unknown dimension"},
		{[]string{"compare"}, cli.ExitUsage, "two sides"},
		{[]string{"--store", filepath.Join(dir, "typo"), "list"}, cli.ExitUsage, "no store at"},
		// A 1% relative gate and a 1 ms absolute one make the small gap
		// change count, but 3 runs per side do not tell them apart: noisy.
		{[]string{"compare", "--a", "label=a", "--b", "label=b", "--policy", writeTemp(t, "q.json", `{"default_percent": 1, "per_metric_abs": {"worst_gap_ms": 1}}`)}, cli.ExitOK, "NOISY"},
	}
	for _, c := range cases {
		code, _, errOut := runStats(t, "", append([]string{"--store", dir}, c.args...)...)
		if code != c.want || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.want, c.msg, errOut)
		}
	}
}

// TestStorePassthrough: every line comes out as it went in (a malformed
// one as an error record), run and verdict records are stored with their
// labels, and list gives them back.
func TestStorePassthrough(t *testing.T) {
	dir := t.TempDir()
	r := synthRun("r1", "scx_x", 100, 1000)
	in := ndjson(t, &record.Topology{Name: "1n1l2c1t"}, r) + "not json\n" + ndjson(t, &record.Verdict{RunID: "r1", Subject: "s", Status: record.StatusPass})
	code, out, errOut := runStats(t, in, "--store", dir, "store", "--label", "nightly", "--label", "k=v", "--project-commit", "abc123")
	if code != cli.ExitUsage || !strings.HasSuffix(errOut, "ktstr-stats: 1 bad input line(s); see the error records\n") {
		t.Errorf("a malformed line: exit %d, want %d saying so; stderr %q", code, cli.ExitUsage, errOut)
	}
	inLines, outLines := strings.Split(in, "\n"), strings.Split(out, "\n")
	if len(inLines) != len(outLines) {
		t.Fatalf("%d lines in, %d out", len(inLines), len(outLines))
	}
	for i := range inLines {
		if i == 2 {
			if !strings.Contains(outLines[i], `"kind":"error"`) || !strings.Contains(outLines[i], `"line":3`) {
				t.Errorf("malformed line became %s", outLines[i])
			}
		} else if inLines[i] != outLines[i] {
			t.Errorf("line %d changed:\n%s\n%s", i+1, inLines[i], outLines[i])
		}
	}
	if !strings.Contains(errOut, "stored 1 runs and 1 verdicts") {
		t.Errorf("stderr: %s", errOut)
	}
	code, out, _ = runStats(t, "", "--store", dir, "list", "label=k=v")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("list: exit %d, %d lines:\n%s", code, len(lines), out)
	}
	var got record.Run
	if err := record.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.Stored == nil || got.Stored.ProjectCommit != "abc123" || strings.Join(got.Stored.Labels, ",") != "nightly,k=v" || got.Scenario == nil {
		t.Errorf("stored run: %+v", got.Stored)
	}
	if code, out, _ := runStats(t, "", "--store", dir, "list", "--format", "text", "scheduler=scx_x"); code != 0 || !strings.Contains(out, "nightly,k=v") || !strings.Contains(out, "1 runs") {
		t.Errorf("list text: %d\n%s", code, out)
	}
	if code, out, _ := runStats(t, "", "--store", dir, "list", "scheduler=other"); code != 0 || out != "" {
		t.Errorf("filtered out: %d %q", code, out)
	}
	// A summary per group and metric.
	code, out, _ = runStats(t, "", "--store", dir, "summary", "-q")
	if code != 0 || !strings.Contains(out, `"kind":"stats"`) || !strings.Contains(out, `"metric":"worst_gap_ms","unit":"ms","n":1,"mean":100`) {
		t.Errorf("summary: %d\n%s", code, out)
	}
}

// TestCorruptStoreIsAFailure: list reports the corrupt segment as an error
// record, still lists the rest, and exits 1.
func TestCorruptStoreIsAFailure(t *testing.T) {
	dir := t.TempDir()
	runStats(t, ndjson(t, synthRun("good", "scx_x", 1, 1)), "--store", dir, "store")
	runStats(t, ndjson(t, synthRun("bad", "scx_x", 1, 1)), "--store", dir, "store")
	segs, _ := filepath.Glob(filepath.Join(dir, "segments", "*"))
	if len(segs) != 2 {
		t.Fatal(segs)
	}
	os.WriteFile(segs[1], []byte("garbage"), 0o644)
	code, out, _ := runStats(t, "", "--store", dir, "list", "-q")
	if code != cli.ExitFail || !strings.Contains(out, `"kind":"error"`) || !strings.Contains(out, filepath.Base(strings.TrimSuffix(segs[1], ".ndjson.zst"))) || !strings.Contains(out, `"id":"good"`) || strings.Contains(out, `"id":"bad"`) {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// TestREADMEMetricsAreTheRegistry: the README's metric table is the
// registry's own output (ktstr-stats metrics --format markdown).
func TestREADMEMetricsAreTheRegistry(t *testing.T) {
	_, table, _ := runStats(t, "", "metrics", "--format", "markdown")
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), table) {
		t.Errorf("README.md does not hold the metric table; paste the output of `ktstr-stats metrics --format markdown`:\n%s", table)
	}
}

// TestConcurrentStoreCommands: four store commands writing to one store at
// once (as four pipelines of a CI job would) lose no run.
func TestConcurrentStoreCommands(t *testing.T) {
	dir := t.TempDir()
	const writers, each = 4, 25
	var wg sync.WaitGroup
	codes := make([]int, writers)
	for w := 0; w < writers; w++ {
		var in strings.Builder
		for i := 0; i < each; i++ {
			in.WriteString(ndjson(t, synthRun(fmt.Sprintf("w%d-%d", w, i), "scx_x", 100, 1000)))
		}
		wg.Add(1)
		go func(w int, in string) {
			defer wg.Done()
			var out, errb bytes.Buffer
			codes[w] = run(context.Background(), strings.NewReader(in), &out, &errb, []string{"--store", dir, "store", "--label", fmt.Sprint("w", w)})
		}(w, in.String())
	}
	wg.Wait()
	for w, c := range codes {
		if c != 0 {
			t.Errorf("writer %d: exit %d", w, c)
		}
	}
	code, out, _ := runStats(t, "", "--store", dir, "list", "-q")
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r record.Run
		if err := record.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if seen[r.ID] {
			t.Errorf("run %s twice", r.ID)
		}
		seen[r.ID] = true
	}
	if code != 0 || len(seen) != writers*each {
		t.Errorf("exit %d, %d runs back, want %d", code, len(seen), writers*each)
	}
}

// withKernel makes r a run on the kernel of that release and label.
func withKernel(r *record.Run, version, label string) *record.Run {
	r.Job.Kernel = &record.Kernel{Version: version, Label: label}
	r.Job.ID += "@" + label
	return r
}

// TestCompareSlicesOnTheKernel: the runs of two kernels of one release (a
// second config fragment) stored together; compare --a kernel=X --b
// kernel=Y pairs them on everything but the kernel, finds the gap that
// tripled on Y, and finds nothing between two kernels that ran alike.
func TestCompareSlicesOnTheKernel(t *testing.T) {
	dir := t.TempDir()
	const x, y, z = "kernel_6_12_117", "kernel_6_12_117_variant", "kernel_6_12_117_same"
	in := ndjson(t,
		withKernel(synthRun("x1", "scx_x", 100, 1000), "6.12.117", x), withKernel(synthRun("x2", "scx_x", 110, 1010), "6.12.117", x),
		withKernel(synthRun("x3", "scx_x", 120, 990), "6.12.117", x),
		withKernel(synthRun("y1", "scx_x", 900, 1000), "6.12.117-variant", y), withKernel(synthRun("y2", "scx_x", 950, 1010), "6.12.117-variant", y),
		withKernel(synthRun("y3", "scx_x", 990, 990), "6.12.117-variant", y),
		withKernel(synthRun("z1", "scx_x", 115, 1000), "6.12.117", z), withKernel(synthRun("z2", "scx_x", 100, 1010), "6.12.117", z),
		withKernel(synthRun("z3", "scx_x", 105, 990), "6.12.117", z))
	if code, _, errOut := runStats(t, in, "--store", dir, "store"); code != 0 {
		t.Fatalf("store: exit %d %s", code, errOut)
	}
	// Filters: a label is one kernel, a release every kernel of it.
	for filter, want := range map[string]int{"kernel=" + x: 3, "kernel=" + y: 3, "kernel=6.12.117": 9, "kernel=6.12.117-variant": 3} {
		code, out, errOut := runStats(t, "", "--store", dir, "list", filter)
		if n := strings.Count(out, `"kind":"run"`); code != 0 || n != want {
			t.Errorf("list %s: exit %d, %d runs, want %d: %s", filter, code, n, want, errOut)
		}
	}
	code, out, errOut := runStats(t, "", "--store", dir, "compare", "--a", "kernel="+x, "--b", "kernel="+y)
	if code != cli.ExitFail || !strings.Contains(errOut, "pairing on: scenario, topology, scheduler, profile\n") ||
		!strings.Contains(errOut, "REGRESSION cgroup_steady/1n1l2c1t/scx_x/default worst_gap_ms") {
		t.Errorf("x vs y: exit %d, want 1 with the gap regression on the pair without the kernel:\n%s", code, errOut)
	}
	if !strings.Contains(out, `"kind":"delta"`) {
		t.Errorf("x vs y: no delta records: %s", out)
	}
	if code, _, errOut := runStats(t, "", "--store", dir, "compare", "--a", "kernel="+x, "--b", "kernel="+z); code != cli.ExitOK ||
		!strings.Contains(errOut, "summary: 0 regressions") {
		t.Errorf("x vs z (alike): exit %d\n%s", code, errOut)
	}
}

// TestCompareSidesMustNotShareRuns: filters that differ as text but match
// the same runs are a usage error naming them — a release filter takes in
// every kernel of the release (A averages x and y, B is y), a version and
// a label can be the same kernel (one run compared with itself) — while
// sides apart still compare.
func TestCompareSidesMustNotShareRuns(t *testing.T) {
	dir := t.TempDir()
	const x, y = "kernel_6_12_117", "kernel_6_12_117_variant"
	in := ndjson(t,
		withKernel(synthRun("x1", "scx_x", 100, 1000), "6.12.117", x), withKernel(synthRun("x2", "scx_x", 110, 1010), "6.12.117", x),
		withKernel(synthRun("y1", "scx_x", 900, 1000), "6.12.117-variant", y), withKernel(synthRun("y2", "scx_x", 950, 1010), "6.12.117-variant", y))
	if code, _, errOut := runStats(t, in, "--store", dir, "store"); code != 0 {
		t.Fatalf("store: exit %d %s", code, errOut)
	}
	for _, sides := range [][2]string{{"kernel=6.12", "kernel=" + y}, {"kernel=6.12.117-variant", "kernel=" + y}} {
		code, out, errOut := runStats(t, "", "--store", dir, "compare", "--a", sides[0], "--b", sides[1])
		if code != cli.ExitUsage || !strings.Contains(errOut, "share 2 runs") || !strings.Contains(errOut, "y1") || strings.Contains(out, `"kind":"delta"`) {
			t.Errorf("--a %s --b %s: exit %d, want %d naming the shared runs y1, y2:\n%s%s", sides[0], sides[1], code, cli.ExitUsage, errOut, out)
		}
	}
	if code, _, errOut := runStats(t, "", "--store", dir, "compare", "--a", "kernel="+x, "--b", "kernel="+y); code == cli.ExitUsage {
		t.Errorf("sides apart: exit %d\n%s", code, errOut)
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if code, _, errOut := runStats(t, "", "--store", dir, "report", "-o", html, "--a", "kernel=6.12", "--b", "kernel="+y); code != cli.ExitUsage || !strings.Contains(errOut, "share 2 runs") {
		t.Errorf("report with sides that share runs: exit %d\n%s", code, errOut)
	}
}

// TestPruneBeforeUnits (issue 25, item 2): --before takes a duration with
// days or weeks; a bare number is refused (it could be a year), in one
// line with status 2.
func TestPruneBeforeUnits(t *testing.T) {
	dir := t.TempDir()
	runStats(t, ndjson(t, synthRun("r1", "scx_x", 1, 1)), "--store", dir, "store")
	if code, _, errOut := runStats(t, "", "--store", dir, "prune", "--before", "1w"); code != 0 || !strings.Contains(errOut, "pruned 0 segments") {
		t.Errorf("--before 1w: exit %d: %s", code, errOut)
	}
	code, _, errOut := runStats(t, "", "--store", dir, "prune", "--before", "2026")
	if want := `ktstr-stats: --before "2026": want an RFC 3339 time, a date (2006-01-02) or a duration back from now (720h, 30d, 4w)`; code != 2 || strings.TrimSpace(errOut) != want {
		t.Errorf("--before 2026: exit %d, %q; want %q", code, errOut, want)
	}
}
