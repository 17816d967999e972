package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/judge/bpfverifier"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// logLines is how much of a dead scheduler's log the report shows.
const logLines = 40

// writePrograms prints, per run with a scheduler, its BPF programs and
// their verifier cost; "!" marks ≥ 75 % of the 1M instruction limit. Only
// runs that did nothing else (--job verifier: no scenario, no command)
// unless all; a scenario run's programs are in its record.
func writePrograms(w io.Writer, runs []*record.Run, all bool) {
	for _, r := range runs {
		if !all && !verifierJob(r) {
			continue
		}
		if r.Scheduler != nil && len(r.Scheduler.Programs) > 0 {
			programTable(w, fmt.Sprintf("%s (%s)", r.Job.ID, r.ID), r.Scheduler.Programs)
		}
		for _, o := range r.BPFObjects {
			if len(o.Programs) > 0 {
				programTable(w, fmt.Sprintf("%s in %s (%s)", o.Path, r.Job.ID, r.ID), o.Programs)
			}
		}
	}
}

func programTable(w io.Writer, title string, progs []record.BPFProgram) {
	fmt.Fprintf(w, "=== BPF programs: %s ===\n", title)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tTYPE\tVERIFIED_INSNS\tLIMIT%\tRUNS\tVERIFIER")
	for _, p := range progs {
		mark := ""
		if bpfverifier.NearLimit(p.VerifiedInsns) {
			mark = " !"
		}
		stats := "-"
		if s, ok := bpfverifier.ParseStats(strings.ReplaceAll(p.VerifierStats, "; ", "\n")); ok {
			stats = s.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f%s\t%d\t%s\n", p.Name, p.Type, p.VerifiedInsns, float64(p.VerifiedInsns)/bpfverifier.InsnLimit*100, mark, p.RunCount, stats)
	}
	tw.Flush()
}

// writeSchedulerLogs prints the (cycle-collapsed) log tail of every
// scheduler that died and every BPF object the verifier rejected.
func writeSchedulerLogs(w io.Writer, runs []*record.Run, raw bool) {
	for _, r := range runs {
		for _, o := range r.BPFObjects {
			if o.Error != "" {
				writeLog(w, fmt.Sprintf("verifier log: %s in %s (%s): %s", o.Path, r.Job.ID, r.ID, o.Error), o.Log, raw)
			}
		}
		s := r.Scheduler
		if s == nil || (!s.Died && s.Attached) || s.Log == "" {
			continue
		}
		writeLog(w, fmt.Sprintf("scheduler log: %s (%s): %s", r.Job.ID, r.ID, s.Reason), s.Log, raw)
		if s.Dump != "" && !contains(s.Log, s.Dump) {
			writeLog(w, fmt.Sprintf("sched_ext dump: %s (%s)", r.Job.ID, r.ID), s.Dump, raw)
		}
	}
}

// verifierJob reports whether r only loaded BPF programs (--job verifier).
func verifierJob(r *record.Run) bool {
	return r.Job != nil && len(r.Job.Scenario) == 0 && r.Job.Exec == ""
}

// contains reports whether log already holds dump: a scheduler that prints
// its exit dump (the sched_ext user-space library does) and the kernel's
// trace copy of it would show the same dump twice. It compares the dump's
// first lines, trimmed, as the two copies prefix them differently.
func contains(log, dump string) bool {
	seen, found := 0, 0
	for _, l := range strings.Split(dump, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "sched_ext_dump: "); i >= 0 {
			l = strings.TrimSpace(l[i+len("sched_ext_dump: "):])
		}
		if len(l) < 8 {
			continue
		}
		seen++
		if strings.Contains(log, l) {
			found++
		}
		if seen == 10 {
			break
		}
	}
	return seen > 0 && found*2 > seen
}

// writeLog prints the last logLines lines of a log, cycle-collapsed
// unless raw.
func writeLog(w io.Writer, title, log string, raw bool) {
	if !raw {
		log = bpfverifier.Collapse(log)
	}
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > logLines {
		lines = lines[len(lines)-logLines:]
	}
	fmt.Fprintf(w, "--- %s ---\n%s\n--- end ---\n", title, strings.Join(lines, "\n"))
}

// readRuns reads the run records of a file.
func readRuns(path string) ([]*record.Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cli.Usage(err)
	}
	defer f.Close()
	var runs []*record.Run
	loop := record.Loop{Source: name, Input: path}
	if _, err := loop.Run(context.Background(), f, func(line record.Line) error {
		if line.Kind == record.KindRun {
			var r record.Run
			if err := line.Decode(&r); err == nil {
				runs = append(runs, &r)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return runs, nil
}

// diff compares the verified-instruction counts per program between two
// files of run records: delta records on stdout; unless quiet, a table of
// the paired programs and a summary of what could not be paired on stderr.
func diff(a, b string, quiet bool, stdout, stderr io.Writer) error {
	ra, err := readRuns(a)
	if err != nil {
		return err
	}
	rb, err := readRuns(b)
	if err != nil {
		return err
	}
	sa, sb := bpfverifier.Samples(ra), bpfverifier.Samples(rb)
	if len(sa) == 0 || len(sb) == 0 {
		return cli.Usagef("--diff: no BPF programs in %s", map[bool]string{true: a, false: b}[len(sa) == 0])
	}
	c := bpfverifier.Compare(sa, sb)
	out := record.NewWriter(stdout)
	for _, d := range c.Deltas {
		rec := &record.Delta{Subject: d.Key.String(), Metric: "verified_insns", A: float64(d.A), B: float64(d.B), Delta: float64(d.Diff())}
		switch {
		case !d.InA:
			rec.Missing = "a"
		case !d.InB:
			rec.Missing = "b"
		}
		if err := out.Write(rec); err != nil {
			return err
		}
	}
	if quiet {
		return nil
	}
	for _, x := range c.Across {
		fmt.Fprintf(stderr, "comparing across %s (each file has one)\n", x)
	}
	tw := tabwriter.NewWriter(stderr, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tPROFILE\tTOPOLOGY\tKERNEL\tA\tB\tDELTA (B-A)")
	paired := 0
	for _, d := range c.Deltas {
		if d.Paired() {
			paired++
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%d\t%d\t%+d\n", d.Source, d.Program, dash(d.Profile), dash(d.Topology), dash(d.Kernel), d.A, d.B, d.Diff())
		}
	}
	if paired > 0 {
		tw.Flush()
	} else {
		fmt.Fprintf(stderr, "no program pairs up: the files share no (program, profile, topology, kernel)\n")
	}
	writeUnpaired(stderr, c.Deltas, a, b)
	return nil
}

// writeUnpaired says, per side and per (profile, topology, kernel), how
// many programs had no counterpart on the other side.
func writeUnpaired(w io.Writer, deltas []bpfverifier.Delta, a, b string) {
	type group struct{ side, file, source, profile, topology, kernel string }
	counts := map[group]int{}
	var order []group
	for _, d := range deltas {
		if d.Paired() {
			continue
		}
		g := group{"A", a, d.Source, d.Profile, d.Topology, d.Kernel}
		if !d.InA {
			g.side, g.file = "B", b
		}
		if counts[g] == 0 {
			order = append(order, g)
		}
		counts[g]++
	}
	for _, g := range order {
		fmt.Fprintf(w, "not paired: only in %s (%s): %s profile %s, topology %s, kernel %s: %d program(s)\n",
			g.side, g.file, g.source, dash(g.profile), dash(g.topology), dash(g.kernel), counts[g])
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
