package compare

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
)

// WriteTable prints the comparison for people: the header says what was
// sliced and paired, the table every judged metric (unchanged ones only
// with all), then the runs present on one side only and the summary,
// regressions named.
func WriteTable(w io.Writer, r *Result, all bool) {
	slicing := strings.Join(r.Slicing, ", ")
	if slicing == "" {
		slicing = "(none: the sides are told apart by their sources)"
	}
	fmt.Fprintf(w, "slicing dimensions: %s\n", slicing)
	fmt.Fprintf(w, "pairing on: %s\n", strings.Join(r.PairOn, ", "))
	fmt.Fprintf(w, "averaged across %d runs (A) and %d runs (B); significance: one-sided Mann–Whitney U at %.2g with ≥ %d runs per side, else the gate alone; timing metrics are judged with each run's measured host noise taken off (A and B; the measured values follow WHY), those without a noise model are noisy with too few runs when the host held a vCPU ≥ %.0f%% of a run\n",
		r.RunsA, r.RunsB, r.Alpha, r.MinRuns, r.NoisyHostPct)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tMETRIC\tBETTER\tA\tB\tDELTA\tREL\tN\tVERDICT\tWHY")
	var missing []string
	for _, d := range r.Deltas {
		if d.Missing != "" {
			side, other := "B", "A"
			n := d.NA
			if d.Missing == "a" {
				side, other, n = "A", "B", d.NB
			}
			missing = append(missing, fmt.Sprintf("  %s: %d runs in %s, none in %s", d.Subject, n, other, side))
			continue
		}
		if !all && (d.Verdict == Unchanged || d.Verdict == Info) {
			continue
		}
		rel := "∞"
		if d.A != 0 {
			rel = fmt.Sprintf("%.0f%%", d.Rel*100)
		}
		a, b := judged(d)
		why := d.Why
		if d.NetA != nil && !strings.Contains(why, "as measured") {
			why += fmt.Sprintf(" (measured %s → %s)", metrics.Format(d.A, d.Unit), metrics.Format(d.B, d.Unit))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", d.Subject, d.Metric, better(d.Polarity), metrics.Format(a, d.Unit),
			metrics.Format(b, d.Unit), signed(d.Delta, d.Unit), rel, d.NA, d.NB, strings.ToUpper(d.Verdict), why)
	}
	tw.Flush()
	if len(missing) > 0 {
		fmt.Fprintln(w, "on one side only:")
		for _, m := range missing {
			fmt.Fprintln(w, m)
		}
	}
	fmt.Fprintf(w, "summary: %d regressions, %d improvements, %d unchanged, %d noisy\n",
		r.Counts[Regression], r.Counts[Improvement], r.Counts[Unchanged], r.Counts[Noisy])
	for _, d := range r.Regressions() {
		a, b := judged(d)
		fmt.Fprintf(w, "REGRESSION %s %s: %s → %s (gate ≥ %.4g%s and ≥ %.0f%%)\n", d.Subject, d.Metric,
			metrics.Format(a, d.Unit), metrics.Format(b, d.Unit), d.AbsGate, d.Unit, d.RelGate*100)
	}
}

// judged are the sides' values the verdict rests on: the noise-subtracted
// means of a timing metric with a noise model, else the measured ones.
func judged(d *record.Delta) (a, b float64) {
	if d.NetA != nil && d.NetB != nil {
		return *d.NetA, *d.NetB
	}
	return d.A, d.B
}

// better is the BETTER column: which way the metric improves.
func better(polarity string) string {
	if polarity == "" {
		return "-"
	}
	return polarity
}

// signed formats a change with its sign, as metrics.Format does values.
func signed(x float64, unit string) string {
	if x < 0 {
		return "-" + metrics.Format(-x, unit)
	}
	return "+" + metrics.Format(x, unit)
}
