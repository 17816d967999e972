// Package query turns stored run and verdict records into rows — one per
// run, with the dimensions that identify it and its metrics — and selects
// rows with filters. ktstr-stats list, summary, compare and report all read
// through it, from a store or from NDJSON files.
package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/metrics"
	"github.com/ktstr-go/ktstr/lib/results/store"
)

// Row is one run: its identity, its outcome and verdict, and its metrics.
type Row struct {
	RunID    string
	Segment  string
	StoredAt string
	Labels   []string
	// The dimensions runs are grouped and paired on. Kernel is the
	// kernel's label (kernel_6_12_117, kernel_6_12_117_preempt: two
	// configurations of one release are two kernels); KernelVersion its
	// release, which filters also match (kernel=6.12).
	Scenario, Topology, Scheduler, Profile, Kernel string
	KernelVersion                                  string
	KernelHash, SchedulerHash, Commit              string
	// Outcome is the run's; Status the verdict's, or for a run stored
	// without one, ktstr-verify's judgement with the default and job limits.
	Outcome string
	Status  string
	Run     *record.Run
	Verdict *record.Verdict
	// Lines are the stored record lines of the row (run, then verdict).
	Lines   [][]byte
	Metrics map[string]metrics.Sample
}

// Dims are the dimensions a filter or a pairing can name.
var Dims = []string{"scenario", "topology", "scheduler", "profile", "kernel", "label", "kernel_hash",
	"scheduler_hash", "commit", "status", "outcome", "segment", "run", "since"}

// Values returns the row's values of a dimension (labels have several).
func (r *Row) Values(dim string) []string {
	switch dim {
	case "scenario":
		return []string{r.Scenario}
	case "topology":
		return []string{r.Topology}
	case "scheduler":
		return []string{r.Scheduler}
	case "profile":
		return []string{r.Profile}
	case "kernel":
		return []string{r.Kernel}
	case "label":
		return r.Labels
	case "kernel_hash":
		return []string{r.KernelHash}
	case "scheduler_hash":
		return []string{r.SchedulerHash}
	case "commit":
		return []string{r.Commit}
	case "status":
		return []string{r.Status}
	case "outcome":
		return []string{r.Outcome}
	case "segment":
		return []string{r.Segment}
	case "run":
		return []string{r.RunID}
	case "since":
		return []string{r.StoredAt}
	}
	return nil
}

// Value is Values joined, for keys and tables.
func (r *Row) Value(dim string) string { return strings.Join(r.Values(dim), ",") }

// Builder collects record lines into rows, joining each verdict to its run
// by run id.
type Builder struct {
	rows  []*Row
	byRun map[string]*Row
	// Problems are lines that could not be decoded, as error records.
	Problems []*record.Error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{byRun: map[string]*Row{}} }

// Add takes one record line; kinds other than run and verdict are ignored.
// where names the line's origin in error records.
func (b *Builder) Add(line []byte, where string) {
	var h struct {
		Kind record.Kind `json:"kind"`
	}
	if err := json.Unmarshal(line, &h); err != nil {
		b.problem(where, fmt.Errorf("not a record: %w", err), line)
		return
	}
	switch h.Kind {
	case record.KindRun:
		var r record.Run
		if err := record.Unmarshal(line, &r); err != nil {
			b.problem(where, err, line)
			return
		}
		row := b.byRun[r.ID]
		if row == nil || row.Run != nil {
			row = &Row{}
			b.rows = append(b.rows, row)
			if r.ID != "" {
				b.byRun[r.ID] = row
			}
		}
		row.Run = &r
		row.Lines = append([][]byte{line}, row.Lines...)
	case record.KindVerdict:
		var v record.Verdict
		if err := record.Unmarshal(line, &v); err != nil {
			b.problem(where, err, line)
			return
		}
		row := b.byRun[v.RunID]
		if row == nil || row.Verdict != nil || v.RunID == "" {
			row = &Row{}
			b.rows = append(b.rows, row)
			if v.RunID != "" {
				b.byRun[v.RunID] = row
			}
		}
		row.Verdict = &v
		row.Lines = append(row.Lines, line)
	}
}

func (b *Builder) problem(where string, err error, line []byte) {
	in := string(line)
	if len(in) > 120 {
		in = in[:120] + "…"
	}
	b.Problems = append(b.Problems, &record.Error{Source: "ktstr-stats", Message: fmt.Sprintf("%s: %v", where, err), Input: in})
}

// Rows finishes the rows: dimensions and metrics, sorted by storage time
// then run id.
func (b *Builder) Rows() []*Row {
	for _, r := range b.rows {
		r.fill()
	}
	sort.SliceStable(b.rows, func(i, j int) bool {
		if b.rows[i].StoredAt != b.rows[j].StoredAt {
			return b.rows[i].StoredAt < b.rows[j].StoredAt
		}
		return b.rows[i].RunID < b.rows[j].RunID
	})
	return b.rows
}

func (r *Row) fill() {
	var st *record.Stored
	if r.Run != nil && r.Run.Stored != nil {
		st = r.Run.Stored
	} else if r.Verdict != nil && r.Verdict.Stored != nil {
		st = r.Verdict.Stored
	}
	if st != nil {
		r.Segment, r.StoredAt, r.Labels = st.Segment, st.StoredAt, st.Labels
		r.KernelHash, r.SchedulerHash, r.Commit = st.KernelHash, st.SchedulerHash, st.ProjectCommit
	}
	if r.Verdict != nil {
		r.Status = string(r.Verdict.Status)
		r.RunID = r.Verdict.RunID
		if r.RunID == "" {
			r.RunID = r.Verdict.Subject
		}
	}
	r.Scheduler, r.Profile, r.Kernel, r.Scenario, r.Topology = "eevdf", "default", "unknown", "boot", "unknown"
	if r.Run == nil {
		if r.Verdict != nil {
			r.Topology = r.Verdict.Subject
		}
		r.Metrics = metrics.Extract(nil, r.Verdict)
		return
	}
	run := r.Run
	r.RunID, r.Outcome = run.ID, string(run.Outcome)
	if j := run.Job; j != nil {
		if j.Topology != nil {
			r.Topology = j.Topology.Name
		}
		if j.Scheduler != nil {
			r.Scheduler = j.Scheduler.Name
			if j.Scheduler.Profile != "" {
				r.Profile = j.Scheduler.Profile
			}
		}
		if k := j.Kernel; k != nil && (k.Version != "" || k.Label != "") {
			r.KernelVersion, r.Kernel = k.Version, k.Label
			// A label not of the label form (a hand-written record) is
			// no dimension value: made from the record instead.
			if !kernel.LabelRE.MatchString(r.Kernel) {
				r.Kernel = kernel.Label(k)
			}
		}
		switch {
		case len(j.Scenario) > 0:
			var s struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(j.Scenario, &s) == nil && s.Name != "" {
				r.Scenario = s.Name
			}
		case j.Exec != "":
			r.Scenario = "exec"
		case len(j.BPFObjects) > 0:
			r.Scenario = "verifier"
		}
	}
	if run.Scenario != nil && run.Scenario.Name != "" {
		r.Scenario = run.Scenario.Name
	}
	if r.Kernel == "unknown" && run.Guest != nil && run.Guest.KernelRelease != "" {
		r.KernelVersion = run.Guest.KernelRelease
		r.Kernel = kernel.Label(&record.Kernel{Version: r.KernelVersion})
	}
	v := r.Verdict
	if v == nil {
		// A run stored before ktstr-verify: judge it as ktstr-verify
		// would with the default and job limits.
		v = verdict.Judge(run, nil)
		r.Status = string(v.Status)
	}
	r.Metrics = metrics.Extract(run, v)
}

// FromStore reads every row of a store; unreadable manifest lines and
// corrupt segments become error records naming them.
func FromStore(s *store.Store) ([]*Row, []*record.Error, error) {
	segs, problems, err := s.Read()
	if err != nil {
		return nil, nil, err
	}
	b := NewBuilder()
	var errs []*record.Error
	for _, p := range problems {
		errs = append(errs, &record.Error{Source: "ktstr-stats", Message: fmt.Sprintf("store %s: %s", s.Dir, p)})
	}
	for _, seg := range segs {
		for i, l := range seg.Lines {
			b.Add(l, fmt.Sprintf("store %s: segment %s record %d", s.Dir, seg.Entry.ID, i+1))
		}
	}
	rows := b.Rows()
	return rows, append(errs, b.Problems...), nil
}

// FromPath reads rows from an NDJSON file of run and verdict records
// (zstd-compressed when it ends in .zst), or from a store when path is a
// directory.
func FromPath(path string) ([]*Row, []*record.Error, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		s, err := store.Open(path)
		if err != nil {
			return nil, nil, err
		}
		return FromStore(s)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(path, ".zst") {
		d, err := zstd.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		defer d.Close()
		in = d
	}
	return FromReader(in, path)
}

// FromReader reads rows from NDJSON; malformed lines become error records.
func FromReader(in io.Reader, name string) ([]*Row, []*record.Error, error) {
	b := NewBuilder()
	var errs []*record.Error
	loop := record.Loop{Source: "ktstr-stats", Input: name}
	_, err := loop.Run(context.Background(), in, func(l record.Line) error {
		if l.Err != nil {
			errs = append(errs, &record.Error{Source: "ktstr-stats", Line: l.Num, Message: fmt.Sprintf("%s: %v", name, l.Err)})
		} else {
			b.Add(l.Raw, fmt.Sprintf("%s line %d", name, l.Num))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return b.Rows(), append(errs, b.Problems...), nil
}

// Filter selects rows: every named dimension must match one of its values
// (values of one dimension are alternatives, dimensions are all required).
type Filter map[string][]string

// ParseFilter reads KEY=VALUE terms; a term may carry several values
// separated by commas.
func ParseFilter(terms []string) (Filter, error) {
	f := Filter{}
	for _, t := range terms {
		k, v, ok := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		if !ok || v == "" {
			return nil, fmt.Errorf("filter %q: want KEY=VALUE with KEY one of %s", t, strings.Join(Dims, ", "))
		}
		if !known(k) {
			return nil, fmt.Errorf("filter %q: unknown key %q (keys: %s)", t, k, strings.Join(Dims, ", "))
		}
		for _, x := range strings.Split(v, ",") {
			if k == "since" {
				if _, err := parseSince(x, time.Now()); err != nil {
					return nil, fmt.Errorf("filter %q: %w", t, err)
				}
			}
			f[k] = append(f[k], x)
		}
	}
	return f, nil
}

func known(k string) bool {
	for _, d := range Dims {
		if d == k {
			return true
		}
	}
	return false
}

// String is the filter in KEY=VALUE form, keys sorted.
func (f Filter) String() string {
	var keys []string
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(f[k], ","))
	}
	if len(parts) == 0 {
		return "(all)"
	}
	return strings.Join(parts, " ")
}

// Match reports whether the row passes the filter.
func (f Filter) Match(r *Row) bool {
	for k, want := range f {
		ok := false
		for _, w := range want {
			if matchOne(k, w, r) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchOne(k, want string, r *Row) bool {
	switch k {
	case "since":
		t, err := parseSince(want, time.Now())
		if err != nil {
			return false
		}
		at, err := time.Parse(time.RFC3339Nano, r.StoredAt)
		return err == nil && !at.Before(t)
	case "kernel":
		// A label matches itself; 6.12 matches every 6.12.x release, a
		// full version itself and its local versions (6.12.117-rc1).
		v := r.KernelVersion
		if v == "" {
			v = r.Kernel
		}
		return r.Kernel == want || v == want || strings.HasPrefix(v, want+".") || strings.HasPrefix(v, want+"-")
	case "kernel_hash", "scheduler_hash", "commit", "segment":
		// Hashes and ids match by prefix, as git abbreviates them.
		v := r.Value(k)
		return v != "" && strings.HasPrefix(v, want)
	}
	for _, v := range r.Values(k) {
		if v == want {
			return true
		}
	}
	return false
}

// parseSince reads an RFC 3339 time, a date (2006-01-02) or a duration
// back from now (24h, 7d: lib/base/units).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	// A duration needs its unit: since=2026 is not 2026 seconds.
	if d, err := units.ParseDuration(s, 0); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since %q: want an RFC 3339 time, a date (2006-01-02) or a duration back from now (24h, 7d, 2w)", s)
}

// Select returns the rows that pass f.
func Select(rows []*Row, f Filter) []*Row {
	var out []*Row
	for _, r := range rows {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	return out
}
