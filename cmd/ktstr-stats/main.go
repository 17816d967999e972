//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/internal/fileutil"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/compare"
	"github.com/ktstr-go/ktstr/lib/results/query"
	"github.com/ktstr-go/ktstr/lib/results/store"
)

const name = "ktstr-stats"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type options struct {
	Store string `help:"Store directory (default: $XDG_DATA_HOME/ktstr/runs, else ~/.local/share/ktstr/runs)." type:"path"`
	Quiet bool   `short:"q" help:"No table or summary on stderr."`

	StoreCmd struct {
		Label         []string `help:"Label kept with every run of this session (repeatable)." sep:"none"`
		ProjectCommit string   `name:"project-commit" help:"Project commit to record (default: git HEAD of the working directory, -dirty when changed)."`
		cli.Output
	} `cmd:"" name:"store" help:"Pass every record through (on a terminal, unless --json: say what was stored instead); keep run and verdict records in the store."`
	List struct {
		Filter []string `arg:"" optional:"" help:"KEY=VALUE filters."`
		From   string   `help:"Read runs from this NDJSON file (- for stdin) or store directory instead of the store." type:"path"`
		cli.Format
	} `cmd:"" help:"Stored run and verdict records that match the filters (on a terminal: a table)."`
	Metrics struct {
		Format string `default:"text" enum:"text,json,markdown" help:"text: a table; json: one JSON array; markdown: the README's table."`
	} `cmd:"" help:"The metric registry."`
	Summary struct {
		Filter []string `arg:"" optional:"" help:"KEY=VALUE filters."`
		From   string   `help:"Read runs from this NDJSON file (- for stdin) or store directory instead of the store." type:"path"`
		cli.Format
	} `cmd:"" help:"Per group and metric: n, mean, median, p95, CV and 2σ outliers (stats records; on a terminal: a table)."`
	Compare struct {
		A      []string `name:"a" help:"Side A filter KEY=VALUE (repeatable)." sep:"none"`
		B      []string `name:"b" help:"Side B filter KEY=VALUE (repeatable)." sep:"none"`
		AFrom  string   `name:"a-from" help:"Read side A from this NDJSON file or store directory (default: the store)." type:"path"`
		BFrom  string   `name:"b-from" help:"Read side B from this NDJSON file or store directory (default: the store)." type:"path"`
		PairOn []string `name:"pair-on" help:"Dimensions to pair runs on (default: scenario,topology,scheduler,profile,kernel less the slicing ones)."`
		Policy string   `help:"JSON policy file: gates per metric, alpha, min_runs." type:"existingfile"`
		// Threshold sets every metric's relative gate, as ktstr's --threshold.
		Threshold float64 `help:"Relative gate for every metric, in percent (a policy's per-metric values still win)."`
		All       bool    `help:"List unchanged metrics in the table too."`
		cli.Output
	} `cmd:"" help:"Compare side A with side B: delta records and a table on stderr (on a terminal: the table only), exit 1 iff a regression."`
	Report struct {
		Output string   `short:"o" required:"" help:"HTML file to write." type:"path"`
		Filter []string `arg:"" optional:"" help:"KEY=VALUE filters for the heat-map and the run charts."`
		From   string   `help:"Read runs from this NDJSON file (- for stdin) or store directory instead of the store." type:"path"`
		A      []string `name:"a" help:"Side A filter of the A/B chart." sep:"none"`
		B      []string `name:"b" help:"Side B filter of the A/B chart." sep:"none"`
		PairOn []string `name:"pair-on" help:"Dimensions to pair A and B on (see compare)."`
		Run    string   `help:"Run id for the wake-latency and host-wait charts (default: the latest run with a scenario)."`
	} `cmd:"" help:"Write one self-contained HTML report with SVG charts."`
	Prune struct {
		Before string `required:"" help:"Remove segments stored before this time (RFC 3339, a date, or a duration back from now: 720h, 30d, 4w)."`
	} `cmd:"" help:"Remove old segments from the store (the only way anything leaves it)."`
}

func main() { cli.Main(run) }

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	kctx, code, done := cli.Parse(name, help, &o, args, stdout, stderr)
	if done {
		return code
	}
	t := &tool{o: &o, stdin: stdin, stdout: stdout, stderr: stderr}
	var err error
	switch cmd := kctx.Command(); {
	case cmd == "store":
		code, err = t.store(ctx)
	case strings.HasPrefix(cmd, "list"):
		code, err = t.list()
	case cmd == "metrics":
		err = writeMetrics(stdout, o.Metrics.Format)
	case strings.HasPrefix(cmd, "summary"):
		code, err = t.summary()
	case cmd == "compare":
		code, err = t.compare()
	case strings.HasPrefix(cmd, "report"):
		code, err = t.report()
	case cmd == "prune":
		err = t.prune()
	default:
		err = cli.Usagef("unknown command %q", cmd)
	}
	if err != nil {
		return cli.Report(stderr, name, err)
	}
	if ctx.Err() != nil {
		return cli.ExitInterrupted
	}
	return code
}

type tool struct {
	o              *options
	stdin          io.Reader
	stdout, stderr io.Writer
}

// openStore opens the store; only the store command creates it, so that a
// mistyped --store on a reading command says so instead of reading nothing.
func (t *tool) openStore(create bool) (*store.Store, error) {
	dir := t.o.Store
	if dir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if !create {
		if _, err := os.Stat(dir); err != nil {
			return nil, cli.Usagef("no store at %s (ktstr-stats store makes one): %w", dir, err)
		}
	}
	return store.Open(dir)
}

// rows reads the runs of from ("" the store, "-" stdin, else a file or a
// store directory).
func (t *tool) rows(from string) ([]*query.Row, []*record.Error, error) {
	switch from {
	case "":
		s, err := t.openStore(false)
		if err != nil {
			return nil, nil, err
		}
		return query.FromStore(s)
	case "-":
		return query.FromReader(t.stdin, "stdin")
	}
	rows, errs, err := query.FromPath(from)
	if err != nil {
		return nil, nil, cli.Usage(err)
	}
	return rows, errs, nil
}

// problems writes error records for what could not be read, and says so on
// stderr (always when human: there are no records then); reading problems
// are failures (a store that silently lost runs would hide them).
func (t *tool) problems(out *record.Writer, errs []*record.Error, human bool) int {
	for _, e := range errs {
		out.Write(e)
		if !t.o.Quiet || human {
			fmt.Fprintf(t.stderr, "%s: %s\n", name, e.Message)
		}
	}
	if len(errs) > 0 {
		return cli.ExitFail
	}
	return cli.ExitOK
}

func filter(terms []string) (query.Filter, error) {
	f, err := query.ParseFilter(terms)
	if err != nil {
		return nil, cli.Usage(err)
	}
	return f, nil
}

// storedRun and storedVerdict overlay the Stored field on a record kept in
// the store, leaving every other field as it came.
type storedRun struct {
	Stored *record.Stored `json:"stored"`
}

func (storedRun) Kind() record.Kind { return record.KindRun }

type storedVerdict struct {
	Stored *record.Stored `json:"stored"`
}

func (storedVerdict) Kind() record.Kind { return record.KindVerdict }

// store passes stdin to stdout unchanged and keeps the run and verdict
// records in one new segment.
func (t *tool) store(ctx context.Context) (int, error) {
	s, err := t.openStore(true)
	if err != nil {
		return 0, err
	}
	commit := t.o.StoreCmd.ProjectCommit
	if commit == "" {
		commit = projectCommit(ctx)
	}
	var w *store.Writer
	defer func() {
		if w != nil {
			w.Abort()
		}
	}()
	// On a terminal the records are not echoed (people read the summary
	// line, on stdout); piped, they go on downstream.
	human := t.o.StoreCmd.Human(t.stdout)
	echo, report := t.stdout, t.stderr
	if human {
		echo, report = io.Discard, t.stdout
	}
	out := record.NewWriter(echo)
	hashes := map[string]string{}
	byRun := map[string]*record.Stored{}
	runs, verdicts := 0, 0
	loop := record.Loop{Source: name, Out: out}
	if human {
		loop.Tell = func(err error) { fmt.Fprintf(t.stderr, "%s: %v\n", name, err) }
	}
	bad, err := loop.Run(ctx, t.stdin, func(line record.Line) (err error) {
		if line.Kind != record.KindRun && line.Kind != record.KindVerdict {
			return record.Pass
		}
		// Downstream first: the store must never hold a pipeline up.
		if err := out.WriteRaw(line.Raw); err != nil {
			return err
		}
		if w == nil {
			if w, err = s.Create(t.o.StoreCmd.Label); err != nil {
				return err
			}
		}
		st := &record.Stored{Segment: w.ID(), StoredAt: w.StoredAt().Format(time.RFC3339Nano), Labels: t.o.StoreCmd.Label, ProjectCommit: commit}
		var kept []byte
		if line.Kind == record.KindRun {
			var r record.Run
			if err := line.Decode(&r); err != nil {
				return record.Reject(fmt.Errorf("not stored: %w", err))
			}
			st.KernelHash, st.SchedulerHash = kernelHash(r.Job), schedulerHash(r.Job, hashes)
			byRun[r.ID] = st
			kept, err = record.Overlay(line.Raw, storedRun{st})
			runs++
		} else {
			var v record.Verdict
			if err := line.Decode(&v); err != nil {
				return record.Reject(fmt.Errorf("not stored: %w", err))
			}
			if r, ok := byRun[v.RunID]; ok {
				st = r
			}
			kept, err = record.Overlay(line.Raw, storedVerdict{st})
			verdicts++
		}
		if err != nil {
			return err
		}
		return w.Append(kept)
	})
	// Interrupted, what arrived is kept (below); anything else stops here.
	if err != nil && ctx.Err() == nil {
		return 0, err
	}
	if w == nil {
		if !t.o.Quiet || human {
			fmt.Fprintf(report, "%s: no run or verdict records; nothing stored in %s\n", name, s.Dir)
		}
	} else {
		// Close even when interrupted: what arrived is kept.
		e, err := w.Close()
		w = nil
		if err != nil {
			return 0, err
		}
		if !t.o.Quiet || human {
			fmt.Fprintf(report, "%s: stored %d runs and %d verdicts in %s segment %s\n", name, runs, verdicts, s.Dir, e.ID)
		}
	}
	if bad > 0 && ctx.Err() == nil {
		return 0, cli.BadLines(bad)
	}
	return cli.ExitOK, nil
}

// kernelHash identifies a kernel's source: a clean tree's git head, a
// tarball's sha256, else the cache key.
func kernelHash(j *record.Job) string {
	if j == nil || j.Kernel == nil {
		return ""
	}
	k := j.Kernel
	switch {
	case k.Source.GitHead != "":
		if k.Source.Dirty {
			return k.Source.GitHead + "-dirty"
		}
		return k.Source.GitHead
	case k.Source.SHA256 != "":
		return k.Source.SHA256
	}
	return k.Key
}

// schedulerHash is the sha256 of the scheduler binary, when the host still
// has it.
func schedulerHash(j *record.Job, cache map[string]string) string {
	if j == nil || j.Scheduler == nil || j.Scheduler.Binary == "" {
		return ""
	}
	b := j.Scheduler.Binary
	if h, ok := cache[b]; ok {
		return h
	}
	h, err := fileutil.SHA256(b)
	if err != nil {
		h = ""
	}
	cache[b] = h
	return h
}

// projectCommit is git HEAD of the working directory (12 hex digits),
// "-dirty" when the tree has changes, "" outside a repository.
func projectCommit(ctx context.Context) string {
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(head))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}

func (t *tool) prune() error {
	before, err := parseTime(t.o.Prune.Before)
	if err != nil {
		return cli.Usage(err)
	}
	s, err := t.openStore(false)
	if err != nil {
		return err
	}
	removed, err := s.Prune(before)
	if err != nil {
		return err
	}
	for _, e := range removed {
		fmt.Fprintf(t.stderr, "%s: removed segment %s (%d records, stored %s)\n", name, e.ID, e.Records, e.StoredAt.Format(time.RFC3339))
	}
	fmt.Fprintf(t.stderr, "%s: pruned %d segments from %s\n", name, len(removed), s.Dir)
	return nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	// A duration needs its unit: 2026 alone would be a year to people and
	// 2026 seconds to a bare-number rule, and prune removes data.
	if d, err := units.ParseDuration(s, 0); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want an RFC 3339 time, a date (2006-01-02) or a duration back from now (720h, 30d, 4w)", s)
}

// compare gates side B against side A.
func (t *tool) compare() (int, error) {
	c := &t.o.Compare
	if len(c.A) == 0 && len(c.B) == 0 && c.AFrom == "" && c.BFrom == "" {
		return 0, cli.Usagef("compare needs two sides: --a/--b filters or --a-from/--b-from sources")
	}
	fa, err := filter(c.A)
	if err != nil {
		return 0, err
	}
	fb, err := filter(c.B)
	if err != nil {
		return 0, err
	}
	var policy *compare.Policy
	if c.Policy != "" {
		if policy, err = compare.LoadPolicy(c.Policy); err != nil {
			return 0, cli.Usage(err)
		}
	}
	if c.Threshold > 0 {
		if policy == nil {
			policy = &compare.Policy{}
		}
		if policy.DefaultPercent == nil {
			policy.DefaultPercent = &c.Threshold
		}
	}
	// On a terminal people read the table (and the warnings) on stdout
	// and the delta records go nowhere; piped, the records go to stdout
	// and the table to stderr.
	human := c.Human(t.stdout)
	records, report := t.stdout, t.stderr
	if human {
		records, report = io.Discard, t.stdout
	}
	out := record.NewWriter(records)
	rowsA, errsA, err := t.rows(c.AFrom)
	if err != nil {
		return 0, err
	}
	var rowsB []*query.Row
	var errsB []*record.Error
	if c.BFrom == c.AFrom {
		rowsB = rowsA
	} else if rowsB, errsB, err = t.rows(c.BFrom); err != nil {
		return 0, err
	}
	problems := t.problems(out, append(errsA, errsB...), human)
	a, b := query.Select(rowsA, fa), query.Select(rowsB, fb)
	if len(a) == 0 || len(b) == 0 {
		return 0, cli.Usagef("side A (%s) has %d runs and side B (%s) %d: nothing to compare", fa, len(a), fb, len(b))
	}
	slicing := compare.SlicingDims(fa, fb)
	if len(slicing) == 0 && c.AFrom == c.BFrom {
		return 0, cli.Usagef("the A and B filters are the same (%s): nothing tells the sides apart", fa)
	}
	if shared := compare.SharedRuns(a, b); len(shared) > 0 {
		return 0, cli.Usagef("side A (%s) and side B (%s) share %d runs (%s): a run cannot be compared with itself; narrow the filters so that no run is on both sides (kernel=LABEL names one kernel, kernel=VERSION every kernel of the release)",
			fa, fb, len(shared), fewRuns(shared))
	}
	pairOn := c.PairOn
	if len(pairOn) == 0 {
		pairOn = compare.PairOn(slicing)
	}
	for _, d := range pairOn {
		if !known(d) {
			return 0, cli.Usagef("--pair-on %s: unknown dimension (use %s)", d, strings.Join(compare.DefaultPairOn, ", "))
		}
	}
	if len(slicing) > 1 && !t.o.Quiet {
		fmt.Fprintf(report, "%s: warning: the sides differ on %d dimensions (%s); a change cannot be put down to one of them\n", name, len(slicing), strings.Join(slicing, ", "))
	}
	res := compare.Compare(a, b, compare.Options{Policy: policy, Slicing: slicing, PairOn: pairOn})
	// Runs made by different ktstr versions are still compared; the
	// table says so and so does every delta record.
	va, vb := compare.Versions(a), compare.Versions(b)
	compare.MarkVersions(res.Deltas, va, vb)
	for _, d := range res.Deltas {
		if err := out.Write(d); err != nil {
			return 0, err
		}
	}
	if !t.o.Quiet {
		if note := compare.VersionNote(va, vb); note != "" {
			fmt.Fprintf(report, "%s: note: %s\n", name, note)
		}
		compare.WriteTable(report, res, c.All)
	}
	if res.RunsA == 0 {
		return 0, cli.Usagef("no run of A pairs with a run of B on %s (see --pair-on)", strings.Join(pairOn, ", "))
	}
	if len(res.Regressions()) > 0 {
		return cli.ExitFail, nil
	}
	if problems != cli.ExitOK {
		return cli.ExitUsage, nil
	}
	return cli.ExitOK, nil
}

// fewRuns names the first three runs and how many more there are.
func fewRuns(ids []string) string {
	const few = 3
	if len(ids) <= few {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:few], ", "), len(ids)-few)
}

func known(dim string) bool {
	for _, d := range query.Dims {
		if d == dim && d != "since" {
			return true
		}
	}
	return false
}

// CompletionWords gives shell completion the dimensions --pair-on and the
// filters name (filters complete as KEY=, then label= with the store's
// labels and kernel= with the kernel cache's), and --label the store's
// labels (asked for at Tab time: see CompletionValues).
func (*options) CompletionWords() map[string][]string {
	var dims, keys []string
	for _, d := range query.Dims {
		keys = append(keys, d+"=")
		if d != "since" {
			dims = append(dims, d)
		}
	}
	keys = append(keys, cli.KeyValues("label=", "label"), cli.KeyValues("kernel=", "kernel"))
	return map[string][]string{"pair-on": dims, "a": keys, "b": keys, "label": {cli.Values("label")}}
}

// CompletionValues lists, at Tab time, the default store's labels (label)
// and the kernel cache's labels (kernel) (cli.ValueLister).
func (*options) CompletionValues(kind string) ([]string, error) {
	switch kind {
	case "label":
		dir, err := store.DefaultDir()
		if err != nil {
			return nil, err
		}
		return store.Labels(dir)
	case "kernel":
		return kernel.CachedLabels()
	}
	return nil, fmt.Errorf("no values of %q", kind)
}
