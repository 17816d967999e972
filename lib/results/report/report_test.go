package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/compare"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/query"
)

func row(sched, topo, scenario, status string, gap float64) *query.Row {
	m, _ := metrics.Lookup("worst_gap_ms")
	return &query.Row{Scheduler: sched, Profile: "default", Topology: topo, Scenario: scenario, Kernel: "6.12", Status: status,
		Metrics: map[string]metrics.Sample{"worst_gap_ms": {Metric: m, Value: gap, Net: gap}}}
}

func TestReport(t *testing.T) {
	var rows []*query.Row
	// scx_a: 2 topologies × 3 scenarios, one cell missing; scx_b: 1 × 1.
	for _, tp := range []string{"1n1l2c1t", "1n2l2c1t"} {
		for _, sc := range []string{"s1", "s2", "s3"} {
			if tp == "1n2l2c1t" && sc == "s3" {
				continue
			}
			rows = append(rows, row("scx_a", tp, sc, "pass", 10), row("scx_a", tp, sc, "fail", 10))
		}
	}
	a := []*query.Row{row("scx_b", "1n1l2c1t", "s1", "pass", 100), row("scx_b", "1n1l2c1t", "s1", "pass", 110), row("scx_b", "1n1l2c1t", "s1", "pass", 120)}
	b := []*query.Row{row("scx_b", "1n1l2c1t", "s1", "fail", 900), row("scx_b", "1n1l2c1t", "s1", "fail", 950), row("scx_b", "1n1l2c1t", "s1", "fail", 990)}
	for i := range b {
		b[i].Labels = []string{"b"}
	}
	rows = append(append(rows, a...), b...)
	rows = append(rows, row("scx_c", "1n1l2c1t", "s1", "pass", 1), row("scx_c", "1n1l2c1t", "s1", "inconclusive", 1), row("scx_c", "1n1l2c1t", "s2", "pass", 1))
	res := compare.Compare(a, b, compare.Options{Slicing: []string{"label"}, PairOn: compare.DefaultPairOn})
	run := &record.Run{ID: "r1", Scenario: &record.ScenarioResult{Name: "s1", Cgroups: []record.CgroupResult{
		{Name: "cg0", Workers: []record.WorkerReport{{WakeLatencyUS: []float64{5, 10, 20, 400}}}},
		{Name: "cg1", Workers: []record.WorkerReport{{WakeLatencyUS: []float64{7, 9}}}},
		{Name: "empty"},
	}}, HostSamples: []record.HostSample{{T: 1, WaitS: []float64{0, 0}}, {T: 1.1, WaitS: []float64{0.05, 0}}, {T: 1.2, WaitS: []float64{0.06, 0.1}}}}
	var out bytes.Buffer
	c, err := Write(&out, Input{Rows: rows, Compare: res, A: a, B: b, Run: run, Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{HeatMaps: 3, Cells: 8, ABCharts: 1, CDFCharts: 1, TimelineCharts: 1}
	if c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	html := out.String()
	if n := strings.Count(html, `<rect class="cell `); n != 8 {
		t.Errorf("%d cells in the HTML", n)
	}
	// Every scx_a cell and the scx_b cell have a failed run; scx_c has an
	// inconclusive cell and a passing one.
	for class, want := range map[string]int{"fail": 6, "inconclusive": 1, "pass": 1} {
		if n := strings.Count(html, `<rect class="cell `+class+`"`); n != want {
			t.Errorf("%d %s cells, want %d", n, class, want)
		}
	}
	for class, n := range map[string]int{"heatmap": 3, "ab": 1, "cdf": 1, "timeline": 1} {
		if got := strings.Count(html, `<figure class="chart `+class+`"`); got != n {
			t.Errorf("%d %s figures, want %d", got, class, n)
		}
	}
	// Self-contained: no scripts, no links, no URL but the SVG namespaces.
	for _, bad := range []string{"<script", "<link", "<img", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, u := range regexp.MustCompile(`(https?:)?//[a-zA-Z0-9.-]+[^"' )]*`).FindAllString(html, -1) {
		if u != "http://www.w3.org/2000/svg" && u != "http://www.w3.org/1999/xlink" {
			t.Errorf("external reference %s", u)
		}
	}
	if !strings.Contains(html, "REGRESSION (p=0.05)") {
		t.Errorf("the A/B chart does not name the regression")
	}
}

func TestEmptyReport(t *testing.T) {
	var out bytes.Buffer
	c, err := Write(&out, Input{Now: time.Unix(0, 0)})
	if err != nil || c != (Counts{}) || !strings.Contains(out.String(), "No runs.") {
		t.Errorf("%+v %v", c, err)
	}
}
