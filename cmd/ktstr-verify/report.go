package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/verifier"
)

// logLines is how much of a dead scheduler's log the report shows.
const logLines = 40

// writePrograms prints, per run with a scheduler, its BPF programs and
// their verifier cost; "!" marks ≥ 75 % of the 1M instruction limit.
func writePrograms(w io.Writer, runs []*record.Run) {
	for _, r := range runs {
		if r.Scheduler == nil || len(r.Scheduler.Programs) == 0 {
			continue
		}
		fmt.Fprintf(w, "=== BPF programs: %s (%s) ===\n", r.Job.ID, r.ID)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROGRAM\tTYPE\tVERIFIED_INSNS\tLIMIT%\tRUNS")
		for _, p := range r.Scheduler.Programs {
			mark := ""
			if verifier.NearLimit(p.VerifiedInsns) {
				mark = " !"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f%s\t%d\n", p.Name, p.Type, p.VerifiedInsns, float64(p.VerifiedInsns)/verifier.InsnLimit*100, mark, p.RunCount)
		}
		tw.Flush()
	}
}

// writeSchedulerLogs prints the (cycle-collapsed) log tail of every
// scheduler that died.
func writeSchedulerLogs(w io.Writer, runs []*record.Run, raw bool) {
	for _, r := range runs {
		s := r.Scheduler
		if s == nil || (!s.Died && s.Attached) || s.Log == "" {
			continue
		}
		log := s.Log
		if !raw {
			log = verifier.Collapse(log)
		}
		lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
		if len(lines) > logLines {
			lines = lines[len(lines)-logLines:]
		}
		fmt.Fprintf(w, "--- scheduler log: %s (%s): %s ---\n%s\n--- end scheduler log ---\n", r.Job.ID, r.ID, s.Reason, strings.Join(lines, "\n"))
	}
}

// readRuns reads the run records of a file.
func readRuns(path string) ([]*record.Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	defer f.Close()
	rd := record.NewReader(f, name)
	var runs []*record.Run
	for {
		line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return runs, nil
		}
		if err != nil {
			return nil, err
		}
		if line.Kind == record.KindRun {
			var r record.Run
			if err := line.Decode(&r); err == nil {
				runs = append(runs, &r)
			}
		}
	}
}

// diff compares the verified-instruction counts per program between two
// files of run records: delta records on stdout, a table on stderr.
func diff(a, b string, stdout, stderr io.Writer) error {
	ra, err := readRuns(a)
	if err != nil {
		return err
	}
	rb, err := readRuns(b)
	if err != nil {
		return err
	}
	progs := func(runs []*record.Run) []record.BPFProgram {
		var out []record.BPFProgram
		for _, r := range runs {
			if r.Scheduler != nil {
				out = append(out, r.Scheduler.Programs...)
			}
		}
		return out
	}
	pa, pb := progs(ra), progs(rb)
	if len(pa) == 0 || len(pb) == 0 {
		return cli.Usagef("--diff: no BPF programs in %s", map[bool]string{true: a, false: b}[len(pa) == 0])
	}
	out := record.NewWriter(stdout)
	tw := tabwriter.NewWriter(stderr, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tA\tB\tDELTA (B-A)")
	for _, d := range verifier.Compare(pa, pb) {
		rec := &record.Delta{Subject: d.Program, Metric: "verified_insns", A: float64(d.A), B: float64(d.B), Delta: float64(d.Diff())}
		av, bv := fmt.Sprint(d.A), fmt.Sprint(d.B)
		switch {
		case !d.InA:
			rec.Missing, av = "a", "-"
		case !d.InB:
			rec.Missing, bv = "b", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+d\n", d.Program, av, bv, d.Diff())
		if err := out.Write(rec); err != nil {
			return err
		}
	}
	return tw.Flush()
}
