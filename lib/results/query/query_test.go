package query

import (
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func line(t *testing.T, r record.Record) string {
	b, err := record.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func run(id, sched, kernel string, labels ...string) *record.Run {
	return &record.Run{ID: id, Outcome: record.OutcomeCompleted,
		Job: &record.Job{Topology: &record.Topology{Name: "1n1l2c1t"}, Scenario: []byte(`{"name":"cgroup_steady"}`),
			Kernel: &record.Kernel{Version: kernel}, Scheduler: &record.Scheduler{Name: sched, Profile: "default"}},
		Stored: &record.Stored{Segment: "seg-" + id, StoredAt: "2026-11-29T04:00:00Z", Labels: labels, KernelHash: "abcdef12"}}
}

func TestRowsJoinAndFilter(t *testing.T) {
	in := strings.Join([]string{
		line(t, run("r1", "scx_simple", "6.12.117", "a")),
		line(t, &record.Verdict{RunID: "r1", Subject: "x", Status: record.StatusPass}),
		line(t, run("r2", "scx_qmap", "6.13.1", "b", "nightly")),
		`{"kind":"run","v":1,"id":5}`,
		`garbage`,
		line(t, &record.Verdict{RunID: "gone", Subject: "1n1l2c1t", Status: record.StatusFail}),
	}, "\n")
	rows, errs, err := FromReader(strings.NewReader(in), "in")
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Message, "line 4") && !strings.Contains(errs[1].Message, "line 4") {
		t.Errorf("errors: %+v %+v", errs[0], errs[1])
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	r1 := Select(rows, Filter{"run": {"r1"}})
	if len(r1) != 1 || r1[0].Status != "pass" || r1[0].Scenario != "cgroup_steady" || len(r1[0].Lines) != 2 || r1[0].Metrics["passed"].Value != 1 {
		t.Errorf("r1: %+v", r1)
	}
	cases := []struct {
		terms []string
		want  int
	}{
		{[]string{"kernel=6.12"}, 1},
		{[]string{"kernel=6.1"}, 0},
		{[]string{"kernel=6.12.117,6.13.1"}, 2},
		{[]string{"label=nightly"}, 1},
		{[]string{"label=a", "scheduler=scx_qmap"}, 0},
		{[]string{"kernel_hash=abc"}, 2},
		// r2 has no verdict: judged here, its missing scenario result fails.
		{[]string{"status=fail"}, 2},
		{[]string{"status=pass"}, 1},
		{[]string{"since=2026-11-29"}, 2},
		{[]string{"since=2026-11-29T05:00:00Z"}, 0},
		{nil, 3},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.terms)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(Select(rows, f)); got != c.want {
			t.Errorf("%v: %d rows, want %d", c.terms, got, c.want)
		}
	}
	for _, bad := range []string{"colour=red", "kernel", "since=yesterday", "label="} {
		if _, err := ParseFilter([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestKernelLabels: two configurations of one release are two kernels (by
// label); a release matches both, and a run record without a label gets
// the one its kernel record makes.
func TestKernelLabels(t *testing.T) {
	plain, variant, old := run("p", "s", "6.12.117"), run("v", "s", "6.12.117-variant"), run("o", "s", "6.13.1")
	plain.Job.Kernel.Label, variant.Job.Kernel.Label = "kernel_6_12_117", "kernel_6_12_117_variant"
	rows, _, err := FromReader(strings.NewReader(line(t, plain)+"\n"+line(t, variant)+"\n"+line(t, old)), "in")
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string][]string{
		"kernel=kernel_6_12_117":         {"p"},
		"kernel=kernel_6_12_117_variant": {"v"},
		"kernel=kernel_6_13_1":           {"o"},
		"kernel=6.12.117":                {"p", "v"},
		"kernel=6.12":                    {"p", "v"},
		"kernel=kernel_6_12":             nil,
	} {
		f, err := ParseFilter([]string{filter})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range Select(rows, f) {
			got = append(got, r.RunID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: runs %v, want %v", filter, got, want)
		}
	}
	if v := Select(rows, Filter{"run": {"v"}}); len(v) != 1 || v[0].Value("kernel") != "kernel_6_12_117_variant" || v[0].KernelVersion != "6.12.117-variant" {
		t.Errorf("row of the variant: %+v", v)
	}
}

// TestMalformedKernelLabelIsRecomputed: a run whose kernel record carries a
// label not of the form kernel_[a-z0-9_]+ (a hand-written job record) gets
// the label made from the record, not the text as given.
func TestMalformedKernelLabelIsRecomputed(t *testing.T) {
	bad := run("b", "s", "6.12.117")
	bad.Job.Kernel.Label = "Bad Label/../x"
	rows, _, err := FromReader(strings.NewReader(line(t, bad)), "in")
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %d, %v", len(rows), err)
	}
	if got := rows[0].Value("kernel"); got != "kernel_6_12_117" {
		t.Errorf("kernel dimension %q, want kernel_6_12_117", got)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	if got, _ := parseSince("2h", now); !got.Equal(now.Add(-2 * time.Hour)) {
		t.Errorf("2h: %v", got)
	}
	// Days and weeks (lib/base/units), as every ktstr duration takes them.
	if got, err := parseSince("7d", now); err != nil || !got.Equal(now.Add(-7*24*time.Hour)) {
		t.Errorf("7d: %v, %v", got, err)
	}
	if got, err := parseSince("1w12h", now); err != nil || !got.Equal(now.Add(-7*24*time.Hour-12*time.Hour)) {
		t.Errorf("1w12h: %v, %v", got, err)
	}
	// A bare number is not a duration here (a year, to people).
	if _, err := parseSince("2026", now); err == nil || err.Error() != `since "2026": want an RFC 3339 time, a date (2006-01-02) or a duration back from now (24h, 7d, 2w)` {
		t.Errorf("2026: %v", err)
	}
}
