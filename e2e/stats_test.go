package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestStatsGate: the regression gate on real runs, 3 per side, 1,1,2,1 at
// --duration 3. The same healthy fixture scheduler twice (an A/A run by
// scripts/ktstr compare, the sides taking turns) must not fire; the
// fixture's long-slice knob (every second worker gets a 50x slice), stored
// mid-pipeline before ktstr-verify, must fire against the healthy side and
// name the metric. The report of both is then loaded in chromium.
func TestStatsGate(t *testing.T) {
	e2e(t)
	st := filepath.Join(t.TempDir(), "store")
	k := kernelSpec()

	aa := sh(t, fmt.Sprintf("%s compare --store %s --label aa --runs 3 --kernel %s --topology 1,1,2,1 --scenario cgroup_steady --scheduler ktstr-fixture -- --duration 3", driver(t), st, k), "")
	deltas := exactlyAtLeast(t, aa.stdout, record.KindDelta)
	if aa.code != 0 || !strings.Contains(aa.stderr, "averaged across 3 runs (A) and 3 runs (B)") || !strings.Contains(aa.stderr, "summary: 0 regressions") {
		t.Errorf("A/A: exit %d, want 0 with 0 regressions over 3+3 runs", aa.code)
	}
	for _, l := range deltas {
		if strings.Contains(l, `"verdict":"regression"`) {
			t.Errorf("A/A regression: %s", l)
		}
	}
	if r := sh(t, "ktstr-stats --store "+st+" list label=aa-a label=aa-b --format text", ""); r.code != 0 || !strings.Contains(r.stdout, "\n6 runs\n") && !strings.HasSuffix(r.stdout, "6 runs\n") {
		t.Errorf("list: exit %d, want 6 runs:\n%s", r.code, r.stdout)
	}

	// The degraded side, stored mid-pipeline: ktstr-verify still judges
	// every run the store passed on.
	slow := sh(t, fmt.Sprintf("ktstr-topo 1,1,2,1 1,1,2,1 1,1,2,1 | ktstr-boot --kernel %s --scheduler ktstr-fixture --flags long-slice --scenario cgroup_steady --duration 3 | ktstr-stats --store %s store --label slow | ktstr-verify -q", k, st), "")
	exactly(t, slow.stdout, record.KindVerdict, 3)
	if !strings.Contains(slow.stderr, "stored 3 runs and 0 verdicts") {
		t.Errorf("the store did not keep the 3 runs")
	}

	gate := sh(t, "ktstr-stats --store "+st+" compare --a label=aa-a --b label=slow --pair-on scenario,topology,scheduler", "")
	m := regexp.MustCompile(`REGRESSION cgroup_steady/1n1l2c1t/ktstr-fixture (\S+): `).FindAllStringSubmatch(gate.stderr, -1)
	if gate.code != 1 || len(m) == 0 || !strings.Contains(gate.stderr, "averaged across 3 runs (A) and 3 runs (B)") {
		t.Fatalf("long-slice vs healthy: exit %d, %d regressions named; want exit 1 naming the metric", gate.code, len(m))
	}
	var named []string
	for _, x := range m {
		named = append(named, x[1])
	}
	t.Logf("regressions: %s", strings.Join(named, ", "))
	// A discrete metric (passed, starved_workers…) is decided by its gate
	// alone at any number of runs, so that 3+3 is never less sensitive
	// than 1+1; every other regression is decided by the test on 3+3
	// runs, and at least one of them is a timing metric, not only a
	// count.
	regressions, tested := 0, 0
	for _, l := range exactlyAtLeast(t, gate.stdout, record.KindDelta) {
		if !strings.Contains(l, `"verdict":"regression"`) {
			continue
		}
		regressions++
		switch {
		case !strings.Contains(l, `"n_a":3,"n_b":3`):
			t.Errorf("a regression not on 3+3 runs: %s", l)
		case strings.Contains(l, `"p":0.05`):
			tested++
		case !strings.Contains(l, "runs of a discrete metric"):
			t.Errorf("a regression decided neither by the test nor as a discrete metric: %s", l)
		}
	}
	if regressions != len(m) {
		t.Errorf("%d regression records, %d named on stderr", regressions, len(m))
	}
	if tested == 0 {
		t.Errorf("no timing metric regressed by the test on 3+3 runs (named: %s)", strings.Join(named, ", "))
	}

	t.Run("report in chromium", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "report.html")
		r := sh(t, "ktstr-stats --store "+st+" report -o "+out+" --a label=aa-a --b label=slow --pair-on scenario,topology,scheduler", "")
		if r.code != 0 {
			t.Fatalf("report: exit %d", r.code)
		}
		// Two heat-maps (default and long-slice profiles), one cell each;
		// cgroup_steady's CPU-bound workers never sleep: no wake CDF.
		checkInBrowser(t, out, reportCounts(t, r.stderr), 2, 2, 0)
	})
}

// TestStatsReportInChromium loads the report of three real runs of this
// machine (the fixture healthy and with its long-slice knob on
// cgroup_steady, scx_simple on fan_out_wake, whose wake latencies the CDF
// draws) in headless chromium: the heat-map cells and every chart are there
// and drawn, and the page logs no error and asks the network for nothing.
func TestStatsReportInChromium(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	data := filepath.Join(binDir(t), "..", "cmd", "ktstr-stats", "testdata")
	for _, lf := range [][2]string{{"healthy", "fixture-healthy.ndjson"}, {"slow", "fixture-long-slice.ndjson"}, {"wake", "scx_simple-fan_out_wake.ndjson"}} {
		label, f := lf[0], lf[1]
		if r := sh(t, fmt.Sprintf("ktstr-stats --store %s store --label %s < %s > /dev/null", st, label, filepath.Join(data, f)), ""); r.code != 0 {
			t.Fatalf("store %s: exit %d", f, r.code)
		}
	}
	out := filepath.Join(dir, "report.html")
	r := sh(t, "ktstr-stats --store "+st+" report -o "+out+" --a label=healthy --b label=slow --pair-on scenario,topology,scheduler", "")
	if r.code != 0 {
		t.Fatalf("report: exit %d", r.code)
	}
	// Heat-maps: ktstr-fixture default and long-slice, scx_simple; cells:
	// one each.
	checkInBrowser(t, out, reportCounts(t, r.stderr), 3, 3, 1)

	// And the check itself fails on a page that breaks its promises.
	bad := filepath.Join(dir, "bad.html")
	writeFile(t, bad, `<!DOCTYPE html><html><body><script>console.error("boom")</script><img src="http://192.0.2.1/x.png"></body></html>`)
	got := loadInChromium(t, bad)
	if len(got.errors) == 0 || len(got.requests) == 0 {
		t.Errorf("a page with a console error and a remote image passed: errors %q, requests %q", got.errors, got.requests)
	}
}

// exactlyAtLeast returns the lines of kind, failing when there are none.
func exactlyAtLeast(t *testing.T, out string, kind record.Kind) []string {
	t.Helper()
	lines := records(t, out)[kind]
	if len(lines) == 0 {
		t.Errorf("no %s records", kind)
	}
	return lines
}

// reportCounts parses ktstr-stats report's summary line.
func reportCounts(t *testing.T, stderr string) map[string]int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) heat-maps \((\d+) cells\), (\d+) A/B charts, (\d+) CDF charts, (\d+) timeline charts`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no report summary in %q", stderr)
	}
	n := func(i int) int { x, _ := strconv.Atoi(m[i]); return x }
	return map[string]int{"heatmap": n(1), "cells": n(2), "ab": n(3), "cdf": n(4), "timeline": n(5)}
}

// checkInBrowser loads the report and holds it to what ktstr-stats said it
// wrote and to the expected heat-maps and cells.
func checkInBrowser(t *testing.T, path string, said map[string]int, heatMaps, cells, cdfs int) {
	t.Helper()
	if said["heatmap"] != heatMaps || said["cells"] != cells || said["ab"] < 1 || said["cdf"] != cdfs || said["timeline"] != 1 {
		t.Errorf("report summary %v; want %d heat-maps with %d cells, A/B charts, %d CDF and one timeline", said, heatMaps, cells, cdfs)
	}
	got := loadInChromium(t, path)
	want := map[string]int{"heatmap": heatMaps, "cells": cells, "ab": said["ab"], "cdf": cdfs, "timeline": 1}
	for k, v := range want {
		if got.counts[k] != v {
			t.Errorf("in the browser: %d %s, want %d", got.counts[k], k, v)
		}
	}
	if figs := said["heatmap"] + said["ab"] + said["cdf"] + said["timeline"]; got.drawn != figs {
		t.Errorf("%d of %d charts have a drawn SVG wider than 100 px", got.drawn, figs)
	}
	if len(got.errors) > 0 {
		t.Errorf("console errors: %q", got.errors)
	}
	if len(got.requests) > 0 {
		t.Errorf("the report asked the network for %q", got.requests)
	}
}

type pageFacts struct {
	counts   map[string]int
	drawn    int
	errors   []string
	requests []string
}

// chromium returns the browser, installing it the way `make test` does
// (scripts/install-deps.sh) when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	install := filepath.Join(binDir(t), "..", "scripts", "install-deps.sh")
	if r := sh(t, install, ""); r.code != 0 {
		t.Fatalf("install-deps.sh: exit %d", r.code)
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium still missing after install-deps.sh: %v", err)
	}
	return p
}

// loadInChromium opens path in headless chromium and reads the report's
// structure, console errors, uncaught exceptions and network requests.
func loadInChromium(t *testing.T, path string) pageFacts {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var mu sync.Mutex
	var f pageFacts
	chromedp.ListenTarget(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			if e.Type == cdpruntime.APITypeError || e.Type == cdpruntime.APITypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				f.errors = append(f.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
			}
		case *cdpruntime.EventExceptionThrown:
			f.errors = append(f.errors, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError {
				f.errors = append(f.errors, "log: "+e.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
				f.requests = append(f.requests, u)
			}
		}
	})
	var heat, cells, ab, cdf, timeline, drawn int
	count := func(sel string, n *int) chromedp.Action {
		return chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), n)
	}
	err := chromedp.Run(bctx,
		network.Enable(),
		cdplog.Enable(),
		chromedp.Navigate("file://"+path),
		chromedp.WaitReady("body"),
		count("figure.chart.heatmap", &heat),
		count("figure.chart.heatmap rect.cell", &cells),
		count("figure.chart.ab", &ab),
		count("figure.chart.cdf", &cdf),
		count("figure.chart.timeline", &timeline),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("figure.chart > svg")).filter(s => s.getBoundingClientRect().width > 100 && s.querySelectorAll("path,rect,line,polyline").length > 0).length`, &drawn),
		// Let late console messages and requests arrive.
		chromedp.Sleep(500*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	f.counts = map[string]int{"heatmap": heat, "cells": cells, "ab": ab, "cdf": cdf, "timeline": timeline}
	f.drawn = drawn
	t.Logf("%s in chromium: %v, %d drawn, errors %q, requests %q", filepath.Base(path), f.counts, f.drawn, f.errors, f.requests)
	return f
}

// TestStatsDriverUsage: scripts/ktstr compare's own argument errors are one
// line and exit 2 before any tool or VM; its help is in the usage. It runs
// no VM, so it needs no KTSTR_E2E.
func TestStatsDriverUsage(t *testing.T) {
	if r := sh(t, driver(t)+" compare --help", ""); r.code != 0 || !strings.Contains(r.stdout, "ktstr compare ") || !strings.Contains(r.stdout, "--scheduler-a") {
		t.Errorf("compare --help: exit %d, stdout %.200q", r.code, r.stdout)
	}
	usageError(t, "compare --runs 0", "--runs wants a positive number")
	usageError(t, "compare --runs x", "--runs wants a positive number")
	usageError(t, "compare --bogus", "unknown compare option --bogus")
	usageError(t, "compare --kernel-a", "--kernel-a needs a value")
}
