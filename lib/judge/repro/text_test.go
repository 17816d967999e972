package repro

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestTimelineCollapse: a stretch of identical events repeated (times
// aside) is folded by the verifier's cycle collapse, keeping the first and
// last iteration with their times; --raw keeps every line.
func TestTimelineCollapse(t *testing.T) {
	var evs []record.ProbeEvent
	ts := uint64(1_000_000)
	for i := 0; i < 6; i++ {
		for _, fn := range []string{"balance_scx", "ktstr_dispatch", "pick_task_scx", "put_prev_task_scx", "set_next_task_scx"} {
			evs = append(evs, record.ProbeEvent{TNS: ts, CPU: 1, Func: fn, PID: 7, Comm: "kt:w", Args: []string{"rq.cpu=1"}})
			ts += 1000 + uint64(i)*7 // times differ between iterations
		}
	}
	evs = append(evs, record.ProbeEvent{TNS: ts, CPU: 1, Func: "scx_claim_exit", PID: 7, Comm: "kt:w", Args: []string{"kind=ERROR_BPF"}})
	lines := timelineLines(evs, ts, false)
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "--- 6x of the following 5 lines ---") || !strings.Contains(text, "--- 4 identical iterations omitted ---") {
		t.Fatalf("not collapsed:\n%s", text)
	}
	if len(lines) != 5+5+4 {
		t.Errorf("%d lines, want two iterations, three markers and the trigger:\n%s", len(lines), text)
	}
	if !strings.HasSuffix(lines[len(lines)-1], "scx_claim_exit           kt:w[7] kind=ERROR_BPF") || !strings.Contains(lines[len(lines)-1], "-0.000ms") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if raw := timelineLines(evs, ts, true); len(raw) != len(evs) {
		t.Errorf("--raw: %d lines for %d events", len(raw), len(evs))
	}

	var out bytes.Buffer
	WriteTimeline(&out, &record.Repro{RunID: "r1", ReproRunID: "r2", Original: record.ReproOrigin{Subject: "s", Class: "scheduler_died"},
		Reproduced: true, ReasonMatched: true, TCGThreads: "single", Fired: &evs[len(evs)-1], Events: evs,
		Chain: []record.ProbeTarget{{Name: "ktstr_dispatch", Type: "bpf", Attach: "fentry+fexit", Events: 6}, {Name: "x", Type: "kernel", Error: "not in BTF"}}}, false)
	for _, want := range []string{"=== repro of r1 (s): REPRODUCED (same reason) ===", "ktstr_dispatch (bpf fentry+fexit, 6)", "x (kernel: not in BTF)",
		"trigger: scx_claim_exit kind=ERROR_BPF on cpu 1 by kt:w[7]", "CPU 1: last 31 of 31 events before the trigger"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline lacks %q:\n%s", want, out.String())
		}
	}
}
