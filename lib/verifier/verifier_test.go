package verifier

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/record"
)

func loopLog(iterations int) string {
	var b strings.Builder
	b.WriteString("func#0 @0\n0: R1=ctx() R10=fp0\n")
	for i := 0; i < iterations; i++ {
		base := 10 + i*6
		fmt.Fprintf(&b, "%d: (bf) r6 = r1                       ; R1=ctx() R6_w=ctx()\n", base)
		fmt.Fprintf(&b, "%d: (07) r2 += %d                      ; R2_w=%d\n", base+1, 1, i)
		fmt.Fprintf(&b, "%d: (85) call bpf_loop#181           ; R0=scalar()\n", base+2)
		fmt.Fprintf(&b, "%d: (15) if r0 == 0x0 goto pc+2       ; R0=%d\n", base+3, i)
		fmt.Fprintf(&b, "%d: (b7) r0 = 0                        ; R0_w=0\n", base+4)
		fmt.Fprintf(&b, "%d: (05) goto pc-6\n", base+5)
	}
	b.WriteString("processed 6012 insns (limit 1000000) max_states_per_insn 4 total_states 310 peak_states 120 mark_read 7\nverification time 812 usec\nstack depth 16+8\n")
	return b.String()
}

func TestCollapseLoop(t *testing.T) {
	in := loopLog(40)
	out := Collapse(in)
	if !strings.Contains(out, "--- 40x of the following 6 lines ---") || !strings.Contains(out, "--- 38 identical iterations omitted ---") {
		t.Fatalf("not collapsed:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n > 30 {
		t.Errorf("%d lines after collapse", n)
	}
	// The first and last iteration keep their original text.
	if !strings.Contains(out, "R2_w=0") || !strings.Contains(out, "R2_w=39") {
		t.Error("first or last iteration lost")
	}
	if !strings.HasSuffix(out, "stack depth 16+8") {
		t.Error("tail lost")
	}
}

// TestCollapseRealVerifierTrace folds the trace the fixture's verify-loop
// knob produced in a guest (kernel 6.12.117): the loop's iterations differ
// only in register values.
func TestCollapseRealVerifierTrace(t *testing.T) {
	b, err := os.ReadFile("testdata/fixture_verify_loop.log")
	if err != nil {
		t.Fatal(err)
	}
	in := string(b)
	out := Collapse(in)
	if !strings.Contains(out, "identical iterations omitted") {
		t.Fatalf("the verifier loop was not collapsed:\n%s", out[:min(len(out), 2000)])
	}
	before, after := strings.Count(in, "\n"), strings.Count(out, "\n")
	if after*5 > before {
		t.Errorf("%d lines → %d: expected at least a 5x reduction", before, after)
	}
	if !strings.Contains(out, "BPF program is too large. Processed 1000001 insn") {
		t.Error("the verdict line was lost")
	}
}

func TestCollapseLeavesShortOrIrregularLogs(t *testing.T) {
	for _, in := range []string{loopLog(2), "a\nb\nc", strings.Repeat("x\n", 3)} {
		if out := Collapse(in); out != strings.TrimRight(in, "\n") {
			t.Errorf("changed:\n%s", out)
		}
	}
}

func TestParseStats(t *testing.T) {
	s, ok := ParseStats(loopLog(3))
	if !ok || s.ProcessedInsns != 6012 || s.TotalStates != 310 || s.PeakStates != 120 || s.TimeUS != 812 || s.StackDepth != 24 {
		t.Errorf("%+v %v", s, ok)
	}
	if s.String() != "processed=6012 states=120/310 time=812us stack=24" {
		t.Errorf("%s", s)
	}
	if _, ok := ParseStats("nothing here"); ok {
		t.Error("found stats in nothing")
	}
}

func TestCompare(t *testing.T) {
	a := []record.BPFProgram{{Name: "enq", VerifiedInsns: 100}, {Name: "enq", VerifiedInsns: 150}, {Name: "gone", VerifiedInsns: 5}}
	b := []record.BPFProgram{{Name: "enq", VerifiedInsns: 120}, {Name: "new", VerifiedInsns: 9}}
	got := fmt.Sprint(Compare(a, b))
	want := "[{enq 150 120 true true} {gone 5 0 true false} {new 0 9 false true}]"
	if got != want {
		t.Errorf("%s", got)
	}
	if d := Compare(a, b)[0].Diff(); d != -30 {
		t.Errorf("diff %d (B−A)", d)
	}
	if !NearLimit(750_000) || NearLimit(749_999) {
		t.Error("NearLimit")
	}
}

func FuzzCollapse(f *testing.F) {
	f.Add(loopLog(5))
	f.Add("a\n\n\nb")
	f.Fuzz(func(t *testing.T, in string) {
		out := Collapse(in)
		if len(out) > len(in)+400 {
			t.Fatalf("collapse grew the log from %d to %d bytes", len(in), len(out))
		}
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add(loopLog(1))
	f.Fuzz(func(t *testing.T, in string) {
		if s, ok := ParseStats(in); ok && (s.ProcessedInsns < 0 || s.TotalStates < 0) {
			t.Fatalf("%+v", s)
		}
	})
}
