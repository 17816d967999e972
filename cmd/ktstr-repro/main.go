//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/judge/repro"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

const name = "ktstr-repro"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type options struct {
	OnlyFailures bool `name:"only-failures" help:"Write only repro jobs, skips and repro records: drop passing runs, verdicts and other records instead of passing them on."`
	PerCPU       int  `name:"per-cpu" default:"64" help:"Events each CPU keeps before the trigger."`
	Quiet        bool `short:"q" help:"No summary on stderr."`
	cli.Output
}

func main() { cli.Main(run) }

// input is one run of the input with its verdict, if one came.
type input struct {
	line int
	run  *record.Run
	raw  []byte
}

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	if _, code, done := cli.Parse(name, help, &o, args, stdout, stderr); done {
		return code
	}
	if o.PerCPU < 1 || o.PerCPU > 4096 {
		return cli.Report(stderr, name, cli.Usagef("--per-cpu must be 1..4096, not %d", o.PerCPU))
	}
	// On a terminal people read what happened (the lines that otherwise go
	// to stderr, and each repro's timeline) on stdout, and the records go
	// nowhere; piped, or with --json, the records go to stdout.
	human := o.Human(stdout)
	records, say := stdout, stderr
	if human {
		records, say = io.Discard, stdout
	}
	tell := !o.Quiet || human // the per-run lines: the output itself on a terminal
	out := record.NewWriter(records)
	// Verdicts may come after their runs (cat runs verdicts): read all
	// first, then decide.
	var runs []input
	verdicts := map[string]*record.Verdict{}
	loop := record.Loop{Source: name, Out: out}
	if human {
		loop.Tell = func(err error) { fmt.Fprintf(say, "error: %v\n", err) }
	}
	bad, err := loop.Run(ctx, stdin, func(line record.Line) error {
		switch line.Kind {
		case record.KindRun:
			var r record.Run
			if err := line.Decode(&r); err != nil {
				return record.Reject(err)
			}
			runs = append(runs, input{line.Num, &r, line.Raw})
		case record.KindVerdict:
			var v record.Verdict
			if err := line.Decode(&v); err == nil && v.RunID != "" {
				verdicts[v.RunID] = &v
			}
			if !o.OnlyFailures {
				return record.Pass
			}
		default:
			if !o.OnlyFailures || line.Err != nil {
				return record.Pass
			}
		}
		return nil
	})
	switch {
	case ctx.Err() != nil:
		return cli.ExitInterrupted
	case err != nil:
		return cli.Report(stderr, name, err)
	}
	var jobs, skips, reports, reproduced int
	for _, in := range runs {
		r, v := in.run, verdicts[in.run.ID]
		if r.Job != nil && r.Job.ReproOf != nil {
			rep := repro.Report(r, v)
			reports++
			if rep.Reproduced {
				reproduced++
			}
			if err := out.Write(rep); err != nil {
				return cli.Report(stderr, name, err)
			}
			if !o.OnlyFailures {
				out.WriteRaw(in.raw)
			}
			switch {
			case human:
				repro.WriteTimeline(say, rep, false)
			case tell:
				fmt.Fprintf(say, "%s: %s: %s\n", name, rep.Subject, rep.Detail)
			}
			continue
		}
		j, err := repro.Derive(r, v)
		var skip *record.SkipError
		switch {
		case errors.As(err, &skip):
			skips++
			subject := r.ID
			if r.Job != nil {
				subject = r.Job.ID
			}
			sk := skip.Record(name, subject, nil)
			sk.Detail = "no repro of run " + r.ID + ": " + sk.Detail
			out.Write(sk)
			if human {
				fmt.Fprintf(say, "skip %s (%s): %s\n", sk.Subject, sk.Reason, sk.Detail)
			}
		case err != nil:
			return cli.Report(stderr, name, err)
		case j == nil:
			if !o.OnlyFailures {
				out.WriteRaw(in.raw)
			}
		default:
			jobs++
			j.Probes.PerCPU = o.PerCPU
			if err := out.Write(j); err != nil {
				return cli.Report(stderr, name, err)
			}
			if tell {
				fmt.Fprintf(say, "%s: %s: rerun for %s with %d kernel probes %v and BPF programs %v\n",
					name, j.ID, j.ReproOf.Class, len(j.Probes.Functions), j.Probes.Functions, j.Probes.BPF)
			}
		}
	}
	if !o.Quiet {
		fmt.Fprintf(say, "%s: %d runs: %d repro jobs, %d skipped; %d reruns reported, %d reproduced\n",
			name, len(runs), jobs, skips, reports, reproduced)
	}
	if human && jobs+skips+reports > 0 {
		fmt.Fprintf(say, "%s: the records are not written on a terminal: pipe them (ktstr-repro < runs.ndjson | ktstr-boot | ktstr-repro | ktstr-verify) or add --json\n", name)
	}
	if bad > 0 {
		return cli.Report(stderr, name, cli.BadLines(bad))
	}
	return cli.ExitOK
}
