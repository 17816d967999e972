//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

const name = "ktstr-verify"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type options struct {
	Quiet             bool     `short:"q" help:"Only the summary line: no table, logs or program tables."`
	Verbose           bool     `short:"v" help:"Also every run's BPF program table (by default only --job verifier runs'), and table details uncut."`
	JSON              bool     `name:"json" help:"Verdict (or --diff's delta) records on stdout even when it is a terminal (there, by default, stdout gets the table instead)."`
	Thresholds        string   `help:"JSON file of check limits; overrides the defaults and the job's (fields: see --show-thresholds)." type:"existingfile"`
	ShowThresholds    bool     `name:"show-thresholds" help:"Print the merged limits (defaults, then --thresholds) and exit."`
	Raw               bool     `help:"Do not collapse repeated cycles in scheduler logs."`
	Diff              []string `help:"Compare BPF verifier cost per program between two files of run records (A,B), paired by program, flag profile, topology and kernel (a dimension with one value per file that differs between them is compared across): delta records on stdout, a table and what could not be paired on stderr (on a terminal, unless --json: the table on stdout, no records)." sep:","`
	AllowInconclusive bool     `name:"allow-inconclusive" help:"Exit 0 instead of 3 when the worst verdict is inconclusive."`
}

func main() { cli.Main(run) }

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	if _, code, done := cli.Parse(name, help, &o, args, stdout, stderr); done {
		return code
	}
	var override *record.Thresholds
	if o.Thresholds != "" {
		t, err := verdict.LoadThresholds(o.Thresholds)
		if err != nil {
			return cli.Report(stderr, name, cli.Usage(err))
		}
		override = t
	}
	if o.ShowThresholds {
		if err := verdict.WriteThresholds(stdout, verdict.Merge(override)); err != nil {
			return cli.Report(stderr, name, err)
		}
		return cli.ExitOK
	}
	if len(o.Diff) > 0 {
		if len(o.Diff) != 2 {
			return cli.Report(stderr, name, cli.Usagef("--diff takes two files: --diff A,B"))
		}
		// As for verdicts: on a terminal the table on stdout and no
		// records; piped, delta records on stdout and the table on stderr.
		records, report := stdout, stderr
		if cli.Human(o.JSON, stdout) {
			records, report = io.Discard, stdout
		}
		return cli.Report(stderr, name, diff(o.Diff[0], o.Diff[1], o.Quiet && records != io.Discard, records, report))
	}
	// On a terminal (unless --json) people read stdout: the table goes
	// there and the records nowhere; piped, records go to stdout and the
	// report to stderr.
	human := cli.Human(o.JSON, stdout)
	report, records := stderr, stdout
	if human {
		report, records = stdout, io.Discard
	}
	out := record.NewWriter(records)
	if cli.StdinIsTerminal(stdin) {
		fmt.Fprintf(stderr, "%s: reading run records from stdin (this terminal); end with Ctrl-D.\n  e.g.  ktstr-boot --topology 1,1,2,1 | %s    or    %s < runs.ndjson\n", name, name, name)
	}
	var verdicts []*record.Verdict
	var runs []*record.Run
	var repros [][]byte
	// Malformed lines come as their error records: error verdicts.
	loop := record.Loop{Source: name, Out: out}
	_, err := loop.Run(ctx, stdin, func(line record.Line) error {
		var v *record.Verdict
		switch line.Kind {
		case record.KindRun:
			var r record.Run
			if err := line.Decode(&r); err != nil {
				v = verdict.InputErrorVerdict(fmt.Sprintf("line %d", line.Num), err.Error())
			} else {
				v = verdict.Judge(&r, override)
				runs = append(runs, &r)
			}
		case record.KindError:
			var e record.Error
			line.Decode(&e)
			v = verdict.ErrorVerdict(&e)
		case record.KindSkip:
			var s record.Skip
			line.Decode(&s)
			v = verdict.SkipVerdict(&s)
		default:
			if line.Kind == record.KindRepro {
				repros = append(repros, line.Raw)
			}
			return record.Pass
		}
		v.KtstrVersion = version.String()
		verdicts = append(verdicts, v)
		return out.Write(v)
	})
	if err != nil && ctx.Err() == nil {
		return cli.Report(stderr, name, err)
	}
	if o.Quiet {
		writeSummary(report, verdicts)
	} else {
		writeSchedulerLogs(report, runs, o.Raw)
		writeMonitorTails(report, runs)
		writePrograms(report, runs, o.Verbose)
		writePayloads(report, runs, verdicts)
		writeRepros(report, repros, runs, verdicts, o.Raw)
		width := 0
		if !o.Verbose {
			width = cli.TerminalWidth(report)
		}
		writeTable(report, verdicts, width)
	}
	if ctx.Err() != nil {
		return cli.ExitInterrupted
	}
	return status(verdicts, o.AllowInconclusive, stderr)
}

// status is the exit status for verdicts: fail or error beat inconclusive,
// which beats pass and skip; inconclusive exits 0 only when allowed.
func status(verdicts []*record.Verdict, allowInconclusive bool, stderr io.Writer) int {
	if len(verdicts) == 0 {
		fmt.Fprintf(stderr, "%s: nothing to judge: no run, error or skip records on stdin\n", name)
		return cli.ExitFail
	}
	inconclusive := false
	for _, v := range verdicts {
		switch v.Status {
		case record.StatusFail, record.StatusError:
			return cli.ExitFail
		case record.StatusInconclusive:
			inconclusive = true
		}
	}
	if inconclusive && !allowInconclusive {
		return cli.ExitInconclusive
	}
	return cli.ExitOK
}

// writeTable prints one row per verdict and the summary line. With width
// > 0 (a terminal's), every line fits it: a row's detail is cut to the
// room left, or, when the other columns leave too little, printed cut on
// its own line below the row; the verdict records keep the full text.
func writeTable(w io.Writer, verdicts []*record.Verdict, width int) {
	if len(verdicts) == 0 {
		return
	}
	rows := [][4]string{{"SUBJECT", "RUN", "STATUS", "DETAIL"}}
	for _, v := range verdicts {
		var details []string
		for _, c := range verdict.Failed(v.Checks) {
			details = append(details, fmt.Sprintf("%s: %s", c.Name, c.Detail))
		}
		if v.Status == record.StatusSkip && len(v.Checks) > 0 {
			details = append(details, v.Checks[0].Detail)
		}
		run := v.RunID
		if run == "" {
			run = "-"
		}
		rows = append(rows, [4]string{v.Subject, run, strings.ToUpper(string(v.Status)), strings.Join(details, "; ")})
	}
	var cols [3]int
	for _, r := range rows {
		for c := range cols {
			cols[c] = max(cols[c], utf8.RuneCountInString(r[c]))
		}
	}
	lead := cols[0] + cols[1] + cols[2] + 6
	const minDetail, indent = 30, "    "
	cut := false
	for i, r := range rows {
		if i == 0 && width > 0 && width-lead < minDetail {
			r[3] = "" // the details go on lines of their own
		}
		prefix := fmt.Sprintf("%s  %s  %s  ", pad(r[0], cols[0]), pad(r[1], cols[1]), pad(r[2], cols[2]))
		d := r[3]
		switch {
		case width <= 0 || d == "":
		case width-lead >= minDetail:
			d, cut = cutTo(d, width-lead, cut)
		default:
			fmt.Fprintln(w, strings.TrimRight(prefix, " "))
			prefix = indent
			d, cut = cutTo(d, width-len(indent), cut)
		}
		fmt.Fprintln(w, strings.TrimRight(prefix+d, " "))
	}
	if cut {
		note, _ := cutTo("(details cut to fit: -v prints them whole, --json the records)", max(width, 20), false)
		fmt.Fprintln(w, note)
	}
	writeSummary(w, verdicts)
}

// pad right-pads s with spaces to n columns.
func pad(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s)))
}

// cutTo shortens s to n runes, the last an ellipsis; cut becomes true
// when it did.
func cutTo(s string, n int, cut bool) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, cut
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…", true
}

// writeSummary prints the verdict counts in one line.
func writeSummary(w io.Writer, verdicts []*record.Verdict) {
	counts := map[record.Status]int{}
	for _, v := range verdicts {
		counts[v.Status]++
	}
	fmt.Fprintf(w, "%d pass, %d fail, %d error, %d inconclusive, %d skip\n", counts[record.StatusPass], counts[record.StatusFail],
		counts[record.StatusError], counts[record.StatusInconclusive], counts[record.StatusSkip])
}
