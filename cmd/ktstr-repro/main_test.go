package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/sched"
)

func line(t *testing.T, r record.Record) string {
	b, err := record.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func kinds(t *testing.T, out string) []string {
	var ks []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var h struct{ Kind string }
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("bad output line %q: %v", l, err)
		}
		ks = append(ks, h.Kind)
	}
	return ks
}

// streamOf makes the runs the stream tests feed: r1 (job a) the fixture
// scheduler died, r2 (job b) the fixture passed, r3 (job c) EEVDF, with
// the verdict that it stalled.
func streamOf(t *testing.T) (died, passed, stalled *record.Run, stallVerdict *record.Verdict) {
	img := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(img, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := func(id string, s *record.Scheduler) *record.Job {
		return &record.Job{ID: id, Topology: &record.Topology{Name: "1n1l2c1t"}, Kernel: &record.Kernel{Image: img}, Scheduler: s}
	}
	fx := &record.Scheduler{Name: "ktstr-fixture", Binary: sched.FixtureBinary, Args: []string{"--error-after=500"}, Ops: "ktstr"}
	died = &record.Run{ID: "r1", Job: job("a", fx), Outcome: record.OutcomeSchedulerDied, Reason: "died"}
	passed = &record.Run{ID: "r2", Job: job("b", fx), Outcome: record.OutcomeCompleted}
	stalled = &record.Run{ID: "r3", Job: job("c", nil), Outcome: record.OutcomeCompleted}
	stallVerdict = &record.Verdict{RunID: "r3", Status: record.StatusFail, Checks: []record.Check{{Name: "stall", Status: record.StatusFail}}}
	return died, passed, stalled, stallVerdict
}

// TestStream: a failed run becomes a job, a passing run and a topology pass
// through, an EEVDF stall is a skip, a verdict arriving after its run
// decides; --only-failures keeps jobs and skips only.
func TestStream(t *testing.T) {
	died, passed, stalled, stallVerdict := streamOf(t)
	in := line(t, &record.Topology{Name: "x"}) + line(t, died) + line(t, passed) + line(t, stalled) + line(t, stallVerdict)

	var out, errb bytes.Buffer
	if code := run(context.Background(), strings.NewReader(in), &out, &errb, nil); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := strings.Join(kinds(t, out.String()), " "); got != "topology verdict job run skip" {
		t.Errorf("kinds %q", got)
	}
	if !strings.Contains(out.String(), `"id":"a/repro"`) || !strings.Contains(out.String(), `"reason":"eevdf"`) {
		t.Errorf("output:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), strings.NewReader(in), &out, &errb, []string{"--only-failures"}); code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Join(kinds(t, out.String()), " "); got != "job skip" {
		t.Errorf("--only-failures kinds %q", got)
	}

	// The rerun of a repro job becomes a repro record, and the run goes on.
	var j record.Job
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, `{"kind":"job"`) {
			record.Unmarshal([]byte(l), &j)
		}
	}
	rerun := &record.Run{ID: "r4", Job: &j, Outcome: record.OutcomeCompleted}
	out.Reset()
	if code := run(context.Background(), strings.NewReader(line(t, rerun)), &out, &errb, nil); code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Join(kinds(t, out.String()), " "); got != "repro run" || !strings.Contains(out.String(), `"reproduced":false`) {
		t.Errorf("rerun output:\n%s", out.String())
	}
	errb.Reset()
	if code := run(context.Background(), strings.NewReader("{bad\n"), &out, &errb, []string{"-q"}); code != cli.ExitUsage || errb.String() != "ktstr-repro: 1 bad input line(s); see the error records\n" {
		t.Errorf("a bad line: exit %d, want %d saying so; stderr %q", code, cli.ExitUsage, errb.String())
	}
}
