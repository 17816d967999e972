// Package report writes ktstr-stats' HTML report: one self-contained file
// (inline CSS and SVG, no script, no external reference) that works offline.
//
// It holds a verdict heat-map (topology × scenario, one per scheduler and
// profile), the A/B metric bars with 95% intervals of a comparison, the
// wake-latency CDFs per cgroup of one run and that run's per-vCPU host-wait
// timeline. The charts are drawn by gonum.org/v1/plot into SVG; the
// heat-map is a grid of SVG rectangles drawn here, so each cell can carry
// its runs in a tooltip.
package report

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/compare"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/stats"
)

// Input is what a report shows.
type Input struct {
	// Rows feed the heat-map.
	Rows []*query.Row
	// Compare, when set, feeds the A/B bars; A and B are its sides' rows.
	Compare *compare.Result
	A, B    []*query.Row
	// Run feeds the wake-latency CDFs and the host-wait timeline.
	Run *record.Run
	// Now stamps the report.
	Now time.Time
}

// Counts says what a written report holds, for callers and tests.
type Counts struct {
	HeatMaps, Cells, ABCharts, CDFCharts, TimelineCharts int
}

// maxABCharts bounds the A/B section: the changed metrics first.
const maxABCharts = 24

// Write renders the report to w.
func Write(w io.Writer, in Input) (Counts, error) {
	var c Counts
	var b bytes.Buffer
	b.WriteString(head)
	fmt.Fprintf(&b, "<h1>ktstr report</h1>\n<p class=\"meta\">%d runs · generated %s</p>\n", len(in.Rows), in.Now.UTC().Format(time.RFC3339))

	b.WriteString("<h2>Verdicts</h2>\n")
	maps := heatMaps(in.Rows)
	if len(maps) == 0 {
		b.WriteString("<p>No runs.</p>\n")
	}
	for _, hm := range maps {
		c.HeatMaps++
		c.Cells += hm.write(&b)
	}
	b.WriteString(legend)

	if in.Compare != nil {
		b.WriteString("<h2>A/B comparison</h2>\n")
		fmt.Fprintf(&b, "<p class=\"meta\">slicing on %s, paired on %s; %d runs (A) and %d runs (B). Bars: means with 95%% intervals (Student's t).</p>\n",
			html.EscapeString(strings.Join(in.Compare.Slicing, ", ")), html.EscapeString(strings.Join(in.Compare.PairOn, ", ")), in.Compare.RunsA, in.Compare.RunsB)
		n, err := abCharts(&b, in)
		if err != nil {
			return c, err
		}
		c.ABCharts = n
		if n == 0 {
			b.WriteString("<p>No paired metrics.</p>\n")
		}
	}

	if in.Run != nil {
		fmt.Fprintf(&b, "<h2>Run %s</h2>\n", html.EscapeString(in.Run.ID))
		if ok, err := cdfChart(&b, in.Run); err != nil {
			return c, err
		} else if ok {
			c.CDFCharts++
		}
		if ok, err := timelineChart(&b, in.Run); err != nil {
			return c, err
		} else if ok {
			c.TimelineCharts++
		}
	}
	b.WriteString("</body>\n</html>\n")
	_, err := w.Write(b.Bytes())
	return c, err
}

const head = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ktstr report</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.5em; }
.meta { color: #666; font-size: 90%; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figcaption { font-size: 85%; color: #444; max-width: 30em; }
.cell.pass { fill: #3a3; } .cell.fail { fill: #d33; } .cell.inconclusive { fill: #e90; }
.cell.error { fill: #939; } .cell.skip { fill: #aaa; } .cell.none { fill: #eee; }
.legend span { display: inline-block; padding: .1em .6em; margin-right: .4em; color: #fff; font-size: 85%; }
</style>
</head>
<body>
`

const legend = `<p class="legend"><span style="background:#3a3">pass</span><span style="background:#e90">inconclusive</span><span style="background:#d33">fail</span><span style="background:#939">error</span><span style="background:#aaa">skip</span> A cell is the worst verdict of its runs; hover for the counts.</p>
`

// heatMap is one scheduler/profile's grid of topology × scenario.
type heatMap struct {
	title      string
	topologies []string
	scenarios  []string
	cells      map[[2]string]map[string]int // (topology, scenario) → status → runs
}

var statusRank = map[string]int{"": 0, "skip": 1, "pass": 2, "inconclusive": 3, "error": 4, "fail": 5}

func heatMaps(rows []*query.Row) []*heatMap {
	byKey := map[string]*heatMap{}
	var keys []string
	for _, r := range rows {
		k := r.Scheduler + " / " + r.Profile
		hm := byKey[k]
		if hm == nil {
			hm = &heatMap{title: k, cells: map[[2]string]map[string]int{}}
			byKey[k] = hm
			keys = append(keys, k)
		}
		cell := [2]string{r.Topology, r.Scenario}
		if hm.cells[cell] == nil {
			hm.cells[cell] = map[string]int{}
		}
		hm.cells[cell][r.Status]++
	}
	sort.Strings(keys)
	var out []*heatMap
	for _, k := range keys {
		hm := byKey[k]
		ts, ss := map[string]bool{}, map[string]bool{}
		for cell := range hm.cells {
			ts[cell[0]], ss[cell[1]] = true, true
		}
		hm.topologies, hm.scenarios = sortedKeys(ts), sortedKeys(ss)
		out = append(out, hm)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// write draws the grid and returns how many cells it drew.
func (hm *heatMap) write(b *bytes.Buffer) int {
	// Scenario names stand rotated 60° above their column: room for the
	// longest one above and to the right of the grid (≈ 6.5 px a letter).
	longest, longestTopo := 0, 0
	for _, s := range hm.scenarios {
		longest = max(longest, len(s))
	}
	for _, t := range hm.topologies {
		longestTopo = max(longestTopo, len(t))
	}
	const cw, ch = 22, 22
	left := 10 + longestTopo*7
	top := 10 + int(float64(longest)*6.5*0.87)
	w := left + cw*len(hm.scenarios) + int(float64(longest)*6.5*0.5) + 10
	h := top + ch*len(hm.topologies) + 10
	fmt.Fprintf(b, "<figure class=\"chart heatmap\"><figcaption>%s: topology × scenario</figcaption>\n", html.EscapeString(hm.title))
	fmt.Fprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-size=\"11\">\n", w, h, w, h)
	for j, s := range hm.scenarios {
		x := left + j*cw + cw/2
		fmt.Fprintf(b, "<text transform=\"translate(%d,%d) rotate(-60)\">%s</text>\n", x, top-4, html.EscapeString(s))
	}
	n := 0
	for i, t := range hm.topologies {
		y := top + i*ch
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left-4, y+ch*2/3, html.EscapeString(t))
		for j, s := range hm.scenarios {
			counts := hm.cells[[2]string{t, s}]
			worst, parts := "none", []string{}
			best := -1
			for _, st := range []string{"fail", "error", "inconclusive", "pass", "skip", ""} {
				if k := counts[st]; k > 0 {
					name := st
					if name == "" {
						name = "unjudged"
					}
					parts = append(parts, fmt.Sprintf("%d %s", k, name))
					if statusRank[st] > best && st != "" {
						best, worst = statusRank[st], st
					}
				}
			}
			if len(counts) == 0 {
				fmt.Fprintf(b, "<rect class=\"empty\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f6f6f6\"/>\n", left+j*cw, y, cw-2, ch-2)
				continue
			}
			n++
			fmt.Fprintf(b, "<rect class=\"cell %s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"><title>%s × %s: %s</title></rect>\n",
				worst, left+j*cw, y, cw-2, ch-2, html.EscapeString(t), html.EscapeString(s), strings.Join(parts, ", "))
		}
	}
	b.WriteString("</svg></figure>\n")
	return n
}

// svgOf renders a plot to an inline <svg> element.
func svgOf(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("report: svg: %w", err)
	}
	s := b.String()
	// Inline SVG needs no XML prolog; the generator comment goes too.
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return fontFix.ReplaceAllString(s, "font-family:sans-serif;"), nil
}

// fontFix swaps the plot's font name for the browser's generic family: the
// report embeds no fonts.
var fontFix = regexp.MustCompile(`font-family:[^;"]*;`)

func figure(b *bytes.Buffer, class, caption, svg string) {
	fmt.Fprintf(b, "<figure class=\"chart %s\">%s<figcaption>%s</figcaption></figure>\n", class, svg, html.EscapeString(caption))
}

var palette = []color.RGBA{{0x1f, 0x77, 0xb4, 255}, {0xff, 0x7f, 0x0e, 255}, {0x2c, 0xa0, 0x2c, 255}, {0xd6, 0x27, 0x28, 255},
	{0x94, 0x67, 0xbd, 255}, {0x8c, 0x56, 0x4b, 255}, {0xe3, 0x77, 0xc2, 255}, {0x7f, 0x7f, 0x7f, 255}}

// tQuantile975 is Student's t 97.5% quantile for df degrees of freedom.
func tQuantile975(df int) float64 {
	table := []float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086}
	if df <= 0 {
		return math.NaN()
	}
	if df < len(table) {
		return table[df]
	}
	return 1.96 + 2.4/float64(df)
}

// interval is the mean and half-width of a 95% interval of xs (0 with
// one value).
func interval(xs []float64) (mean, half float64) {
	mean = stats.Mean(xs)
	if len(xs) < 2 {
		return mean, 0
	}
	return mean, tQuantile975(len(xs)-1) * stats.Stddev(xs) / math.Sqrt(float64(len(xs)))
}

// errBars are vertical error bars at bar positions.
type errBars struct {
	plotter.XYs
	plotter.YErrors
}

func abCharts(b *bytes.Buffer, in Input) (int, error) {
	var ds []*record.Delta
	for _, d := range in.Compare.Deltas {
		if d.Missing == "" && d.Verdict != compare.Info {
			ds = append(ds, d)
		}
	}
	rank := map[string]int{compare.Regression: 0, compare.Noisy: 1, compare.Improvement: 2, compare.Unchanged: 3}
	sort.SliceStable(ds, func(i, j int) bool { return rank[ds[i].Verdict] < rank[ds[j].Verdict] })
	if len(ds) > maxABCharts {
		ds = ds[:maxABCharts]
	}
	// The bars are what the verdict was reached on: a timing metric's
	// noise-subtracted values where compare used them.
	side := func(rows []*query.Row, d *record.Delta) []float64 {
		var xs []float64
		for _, r := range rows {
			if compare.Key(r, in.Compare.PairOn) != d.Subject {
				continue
			}
			if s, ok := r.Metrics[d.Metric]; ok {
				x := s.Value
				if d.NetA != nil {
					x = s.Net
				}
				xs = append(xs, x)
			}
		}
		return xs
	}
	n := 0
	for _, d := range ds {
		ma, ha := interval(side(in.A, d))
		mb, hb := interval(side(in.B, d))
		p := plot.New()
		p.Title.Text = d.Metric
		if d.NetA != nil {
			p.Title.Text += " (host noise taken off)"
		}
		p.Y.Label.Text = d.Unit
		bars, err := plotter.NewBarChart(plotter.Values{ma, mb}, vg.Points(40))
		if err != nil {
			return n, fmt.Errorf("report: %s: %w", d.Metric, err)
		}
		bars.Color = palette[0]
		if d.Verdict == compare.Regression {
			bars.Color = color.RGBA{0xd6, 0x27, 0x28, 255}
		}
		p.Add(bars)
		eb := &errBars{XYs: plotter.XYs{{X: 0, Y: ma}, {X: 1, Y: mb}}, YErrors: plotter.YErrors{{Low: ha, High: ha}, {Low: hb, High: hb}}}
		yerr, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return n, fmt.Errorf("report: %s: %w", d.Metric, err)
		}
		p.Add(yerr)
		p.NominalX(fmt.Sprintf("A (n=%d)", d.NA), fmt.Sprintf("B (n=%d)", d.NB))
		p.Y.Min = math.Min(0, math.Min(ma-ha, mb-hb))
		p.Y.Max = math.Max(ma+ha, mb+hb) * 1.1
		if p.Y.Max <= p.Y.Min {
			p.Y.Max = p.Y.Min + 1
		}
		svg, err := svgOf(p, 3*vg.Inch, 2.4*vg.Inch)
		if err != nil {
			return n, err
		}
		caption := fmt.Sprintf("%s: %s", d.Subject, strings.ToUpper(d.Verdict))
		if d.P != nil {
			caption += fmt.Sprintf(" (p=%.3g)", *d.P)
		}
		figure(b, "ab", caption, svg)
		n++
	}
	return n, nil
}

// cdfChart draws the wake-latency CDF of each cgroup of the run.
func cdfChart(b *bytes.Buffer, r *record.Run) (bool, error) {
	if r.Scenario == nil {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = "wake latency CDF per cgroup"
	p.X.Label.Text = "µs (log)"
	p.Y.Label.Text = "fraction"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	// The curves rise to the right: the upper left stays free.
	p.Legend.Top = true
	p.Legend.Left = true
	lines := 0
	for _, cg := range r.Scenario.Cgroups {
		var lat []float64
		for _, w := range cg.Workers {
			for _, x := range w.WakeLatencyUS {
				if x > 0 {
					lat = append(lat, x)
				}
			}
		}
		if len(lat) == 0 {
			continue
		}
		sort.Float64s(lat)
		// At most 500 points: the curve, not every sample.
		step := max(1, len(lat)/500)
		var pts plotter.XYs
		for i := 0; i < len(lat); i += step {
			pts = append(pts, plotter.XY{X: lat[i], Y: float64(i+1) / float64(len(lat))})
		}
		pts = append(pts, plotter.XY{X: lat[len(lat)-1], Y: 1})
		l, err := plotter.NewLine(pts)
		if err != nil {
			return false, fmt.Errorf("report: cdf %s: %w", cg.Name, err)
		}
		l.Color = palette[lines%len(palette)]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d)", cg.Name, len(lat)), l)
		lines++
	}
	if lines == 0 {
		return false, nil
	}
	svg, err := svgOf(p, 6*vg.Inch, 3.5*vg.Inch)
	if err != nil {
		return false, err
	}
	figure(b, "cdf", fmt.Sprintf("Wake latency per cgroup, scenario %s: the share of wakeups served within x µs.", r.Scenario.Name), svg)
	return true, nil
}

// timelineChart draws each vCPU's share of time spent waiting for a host
// CPU, per sampling interval.
func timelineChart(b *bytes.Buffer, r *record.Run) (bool, error) {
	if len(r.HostSamples) < 2 {
		return false, nil
	}
	n := 0
	for _, s := range r.HostSamples {
		n = max(n, len(s.WaitS))
	}
	p := plot.New()
	p.Title.Text = "host wait per vCPU"
	p.X.Label.Text = "s since QEMU start"
	p.Y.Label.Text = "% of the interval"
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top = true
	lines := 0
	for cpu := 0; cpu < n; cpu++ {
		var pts plotter.XYs
		for i := 1; i < len(r.HostSamples); i++ {
			s0, s1 := r.HostSamples[i-1], r.HostSamples[i]
			dt := s1.T - s0.T
			if dt <= 0 || cpu >= len(s0.WaitS) || cpu >= len(s1.WaitS) {
				continue
			}
			pts = append(pts, plotter.XY{X: s1.T, Y: math.Max(0, math.Min(100, (s1.WaitS[cpu]-s0.WaitS[cpu])/dt*100))})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return false, fmt.Errorf("report: timeline: %w", err)
		}
		l.Color = palette[cpu%len(palette)]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("vCPU %d", cpu), l)
		lines++
	}
	if lines == 0 {
		return false, nil
	}
	if r.Scenario != nil && r.Timings.AgentClockS != 0 {
		// Shade nothing, but say where the scenario ran on this clock.
		t0 := r.Scenario.StartT + r.Timings.AgentClockS
		p.Title.Text += fmt.Sprintf(" (scenario %.1f–%.1f s)", t0, t0+r.Scenario.WallS)
	}
	svg, err := svgOf(p, 6*vg.Inch, 3*vg.Inch)
	if err != nil {
		return false, err
	}
	figure(b, "timeline", "Time each vCPU thread was runnable on the host but not running: the host starving the guest.", svg)
	return true, nil
}
