package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/stats"
)

// list writes the stored records of the matching runs, or a table.
func (t *tool) list() (int, error) {
	f, err := filter(t.o.List.Filter)
	if err != nil {
		return 0, err
	}
	rows, errs, err := t.rows(t.o.List.From)
	if err != nil {
		return 0, err
	}
	human, err := t.o.List.Human(t.stdout)
	if err != nil {
		return 0, err
	}
	out := record.NewWriter(t.stdout)
	if human {
		out = record.NewWriter(io.Discard) // read problems are said on stderr
	}
	code := t.problems(out, errs, human)
	sel := query.Select(rows, f)
	if human {
		writeRows(t.stdout, sel)
		return code, nil
	}
	for _, r := range sel {
		for _, l := range r.Lines {
			if err := out.WriteRaw(l); err != nil {
				return 0, err
			}
		}
	}
	if !t.o.Quiet {
		fmt.Fprintf(t.stderr, "%s: %d of %d runs match %s\n", name, len(sel), len(rows), f)
	}
	return code, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeRows(w io.Writer, rows []*query.Row) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STORED\tRUN\tSCENARIO\tTOPOLOGY\tSCHEDULER\tPROFILE\tKERNEL\tOUTCOME\tVERDICT\tLABELS")
	for _, r := range rows {
		at := r.StoredAt
		if len(at) > 19 {
			at = at[:19]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(at), dash(r.RunID), r.Scenario, r.Topology, r.Scheduler,
			r.Profile, r.Kernel, dash(r.Outcome), dash(r.Status), dash(strings.Join(r.Labels, ",")))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d runs\n", len(rows))
}

// writeMetrics prints the registry.
func writeMetrics(w io.Writer, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(metrics.Registry, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "markdown":
		fmt.Fprintln(w, "| metric | better | abs gate | rel gate | unit | source | host noise | what |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, m := range metrics.Registry {
			n := m.Name
			if m.Family {
				n += "[NAME]"
			}
			fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", n, m.Polarity, gate(m.Abs, m), relGate(m), m.Unit, m.Source, noiseOf(m), strings.ReplaceAll(m.Doc, "|", "\\|"))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tBETTER\tABS\tREL\tUNIT\tSOURCE\tNOISE\tWHAT")
	for _, m := range metrics.Registry {
		n := m.Name
		if m.Family {
			n += "[NAME]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, m.Polarity, gate(m.Abs, m), relGate(m), dash(m.Unit), m.Source, noiseOf(m), m.Doc)
	}
	return tw.Flush()
}

// noiseOf says how compare treats a metric's host noise: "-" for one the
// host cannot move, the model a timing metric's noise is subtracted by, or
// "none known" (noisy with too few runs on a busy host).
func noiseOf(m metrics.Metric) string {
	switch {
	case !m.Timing:
		return "-"
	case m.Noise == "":
		return "none known"
	}
	return m.Noise
}

func gate(x float64, m metrics.Metric) string {
	if m.Polarity == metrics.Info {
		return "-"
	}
	return fmt.Sprintf("%g", x)
}

func relGate(m metrics.Metric) string {
	if m.Polarity == metrics.Info {
		return "-"
	}
	return fmt.Sprintf("%g%%", m.Rel*100)
}

// summary writes stats records per group and metric.
func (t *tool) summary() (int, error) {
	f, err := filter(t.o.Summary.Filter)
	if err != nil {
		return 0, err
	}
	rows, errs, err := t.rows(t.o.Summary.From)
	if err != nil {
		return 0, err
	}
	human, err := t.o.Summary.Human(t.stdout)
	if err != nil {
		return 0, err
	}
	out := record.NewWriter(t.stdout)
	if human {
		out = record.NewWriter(io.Discard) // read problems are said on stderr
	}
	code := t.problems(out, errs, human)
	sums := summarize(query.Select(rows, f))
	if human {
		writeSummary(t.stdout, sums)
		return code, nil
	}
	for _, s := range sums {
		if err := out.Write(s); err != nil {
			return 0, err
		}
	}
	if !t.o.Quiet {
		writeSummary(t.stderr, sums)
	}
	return code, nil
}

var groupDims = []string{"scenario", "topology", "scheduler", "profile", "kernel"}

func summarize(rows []*query.Row) []*record.Stats {
	groups := map[string][]*query.Row{}
	var keys []string
	for _, r := range rows {
		var parts []string
		for _, d := range groupDims {
			parts = append(parts, r.Value(d))
		}
		k := strings.Join(parts, "\x00")
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.Strings(keys)
	var out []*record.Stats
	for _, k := range keys {
		g := groups[k]
		var samples []map[string]metrics.Sample
		for _, r := range g {
			samples = append(samples, r.Metrics)
		}
		for _, m := range metrics.Names(samples...) {
			var xs []float64
			var ids []string
			unit := ""
			for _, r := range g {
				if s, ok := r.Metrics[m]; ok {
					xs, ids, unit = append(xs, s.Value), append(ids, r.RunID), s.Metric.Unit
				}
			}
			s := stats.Summarize(xs)
			rec := &record.Stats{Scenario: g[0].Scenario, Topology: g[0].Topology, Scheduler: g[0].Scheduler, Profile: g[0].Profile,
				Kernel: g[0].Kernel, Metric: m, Unit: unit, N: s.N, Mean: r6(s.Mean), Median: r6(s.Median), P95: r6(s.P95),
				Min: r6(s.Min), Max: r6(s.Max), Stddev: r6(s.Stddev), CV: r6(s.CV)}
			for _, i := range s.Outliers {
				rec.Outliers = append(rec.Outliers, ids[i])
			}
			out = append(out, rec)
		}
	}
	return out
}

// r6 keeps six significant digits, so records are stable across
// platforms' last-bit differences.
func r6(x float64) float64 {
	var y float64
	fmt.Sscanf(fmt.Sprintf("%.6g", x), "%g", &y)
	return y
}

func writeSummary(w io.Writer, sums []*record.Stats) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTOPOLOGY\tSCHEDULER\tPROFILE\tKERNEL\tMETRIC\tN\tMEAN\tMEDIAN\tP95\tCV\tOUTLIERS")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.2f\t%s\n", s.Scenario, s.Topology, s.Scheduler, s.Profile, s.Kernel,
			s.Metric, s.N, metrics.Format(s.Mean, s.Unit), metrics.Format(s.Median, s.Unit), metrics.Format(s.P95, s.Unit), s.CV,
			dash(strings.Join(s.Outliers, ",")))
	}
	tw.Flush()
}
