package bpfverifier

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
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
	k := func(prog, profile string) Key {
		return Key{Source: "s", Program: prog, Profile: profile, Topology: "1n1l2c1t", Kernel: "6.12.117"}
	}
	a := []Sample{{k("enq", "default"), 100}, {k("enq", "default"), 150}, {k("gone", "default"), 5}, {k("enq", "llc"), 9000}}
	b := []Sample{{k("enq", "default"), 120}, {k("new", "default"), 9}}
	c := Compare(a, b)
	var got []string
	for _, d := range c.Deltas {
		got = append(got, fmt.Sprintf("%s %d %d %v %v", d.Key, d.A, d.B, d.InA, d.InB))
	}
	want := []string{
		"s/enq default 1n1l2c1t 6.12.117 150 120 true true",
		"s/enq llc 1n1l2c1t 6.12.117 9000 0 true false",
		"s/gone default 1n1l2c1t 6.12.117 5 0 true false",
		"s/new default 1n1l2c1t 6.12.117 0 9 false true",
	}
	if !slices.Equal(got, want) || len(c.Across) != 0 {
		t.Errorf("got %q, across %v\nwant %q", got, c.Across, want)
	}
	if d := c.Deltas[0].Diff(); d != -30 {
		t.Errorf("diff %d (B−A)", d)
	}
	// One kernel per side, different: compared across, still paired.
	b2 := []Sample{{Key{Source: "s", Program: "enq", Profile: "default", Topology: "1n1l2c1t", Kernel: "6.13"}, 170}}
	c = Compare(a[:2], b2)
	if len(c.Across) != 1 || c.Across[0].String() != "kernel 6.12.117 → 6.13" || len(c.Deltas) != 1 || !c.Deltas[0].Paired() || c.Deltas[0].Diff() != 20 {
		t.Errorf("across kernels: %+v", c)
	}
	if !NearLimit(750_000) || NearLimit(749_999) {
		t.Error("NearLimit")
	}
}

// TestSamplesKeys: a run's scheduler programs carry its profile, topology
// and kernel; a BPF object's programs its file name and no profile.
func TestSamplesKeys(t *testing.T) {
	r := &record.Run{
		Job: &record.Job{Topology: &record.Topology{Name: "1n2l2c1t"}, Kernel: &record.Kernel{Key: "k1"},
			Scheduler: &record.Scheduler{Name: "scx_qmap", Profile: "llc"}},
		Scheduler:  &record.SchedulerRun{Programs: []record.BPFProgram{{Name: "p", VerifiedInsns: 3}}},
		BPFObjects: []record.BPFObject{{Path: "/x/y.bpf.o", Programs: []record.BPFProgram{{Name: "q", VerifiedInsns: 4}}}},
	}
	var got []string
	for _, s := range Samples([]*record.Run{r}) {
		got = append(got, fmt.Sprintf("%q %d", []string{s.Source, s.Program, s.Profile, s.Topology, s.Kernel}, s.VerifiedInsns))
	}
	want := []string{`["scx_qmap" "p" "llc" "1n2l2c1t" "k1"] 3`, `["y.bpf.o" "q" "" "1n2l2c1t" "k1"] 4`}
	if !slices.Equal(got, want) {
		t.Errorf("%s, want %s", got, want)
	}
}

var (
	repeatHead = regexp.MustCompile(`^--- (\d+)x of the following (\d+) lines ---$`)
	repeatMid  = regexp.MustCompile(`^--- (\d+) identical iterations omitted ---$`)
	repeatEnd  = "--- end repeat ---"
)

// expand undoes Collapse up to what it drops: each omitted iteration comes
// back as a copy of the first. It fails on a malformed repeat group.
func expand(lines []string) ([]string, error) {
	var out []string
	for i := 0; i < len(lines); i++ {
		m := repeatHead.FindStringSubmatch(lines[i])
		if m == nil {
			out = append(out, lines[i])
			continue
		}
		n, _ := strconv.Atoi(m[1])
		p, _ := strconv.Atoi(m[2])
		first, mid, last, end := i+1, i+1+p, i+2+p, i+2+2*p
		if n < 2 || end >= len(lines) || lines[end] != repeatEnd {
			return nil, fmt.Errorf("line %d: repeat group of %d×%d lines is not closed", i, n, p)
		}
		if mm := repeatMid.FindStringSubmatch(lines[mid]); mm == nil || mm[1] != strconv.Itoa(n-2) {
			return nil, fmt.Errorf("line %d: %q, want %d omitted iterations", mid, lines[mid], n-2)
		}
		a, err := expand(lines[first:mid])
		if err != nil {
			return nil, err
		}
		b, err := expand(lines[last:end])
		if err != nil {
			return nil, err
		}
		for k := 0; k < n-1; k++ {
			out = append(out, a...)
		}
		out = append(out, b...)
		i = end
	}
	return out, nil
}

func isMarker(l string) bool {
	return repeatHead.MatchString(l) || repeatMid.MatchString(l) || l == repeatEnd
}

// FuzzCollapse: the collapsed log keeps its lines in order and invents none
// (apart from the repeat markers), never grows by more than the markers,
// and expands back to a log that matches the input line for line once
// register states are stripped (blockKey): nothing but repetitions of the
// same code is dropped.
func FuzzCollapse(f *testing.F) {
	f.Add(loopLog(5))
	f.Add(loopLog(40))
	f.Add("a\n\n\nb")
	f.Add(strings.Repeat("outer line number one\n"+strings.Repeat("0: inner loop body line\n1: second body line\n2: third body line\n3: fourth body line\n4: fifth body line\n", 4), 4))
	f.Fuzz(func(t *testing.T, in string) {
		out := Collapse(in)
		if len(out) > len(in)+400 {
			t.Fatalf("collapse grew the log from %d to %d bytes", len(in), len(out))
		}
		inLines := strings.Split(strings.TrimRight(in, "\n"), "\n")
		outLines := strings.Split(out, "\n")
		// Subsequence: every non-marker output line is the next matching
		// input line.
		k := 0
		for _, l := range outLines {
			if isMarker(l) {
				continue
			}
			for k < len(inLines) && inLines[k] != l {
				k++
			}
			if k == len(inLines) {
				t.Fatalf("output line %q is not in the input (in order)\n%s", l, out)
			}
			k++
		}
		for _, l := range inLines {
			if isMarker(l) {
				return // the input imitates the markers: expansion is ambiguous
			}
		}
		back, err := expand(outLines)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(back) != len(inLines) {
			t.Fatalf("expands to %d lines, input has %d\n%s", len(back), len(inLines), out)
		}
		for i := range back {
			if blockKey(back[i]) != blockKey(inLines[i]) {
				t.Fatalf("line %d expands to %q, input %q", i, back[i], inLines[i])
			}
		}
	})
}

// statsBlock is what the kernel's verifier prints at the end of a load
// (kernel/bpf/verifier.c, print_verification_stats).
func statsBlock(processed, total, peak, timeUS uint32, stack []uint16) string {
	parts := make([]string, len(stack))
	for i, d := range stack {
		parts[i] = strconv.Itoa(int(d))
	}
	return fmt.Sprintf("verification time %d usec\nstack depth %s\nprocessed %d insns (limit 1000000) max_states_per_insn 4 total_states %d peak_states %d mark_read 3\n",
		timeUS, strings.Join(parts, "+"), processed, total, peak)
}

var hugeNumber = regexp.MustCompile(`\d{19,}`)

// FuzzParseStats: the kernel's statistics block appended to any log is
// read back exactly (the last block wins); a log read twice in a row gives
// the same statistics as once; and every statistic found is a number the
// input states in its place.
func FuzzParseStats(f *testing.F) {
	f.Add(loopLog(1), uint32(6012), uint32(310), uint32(120), uint32(812), uint16(16), uint16(8))
	f.Add("processed 1 insns (limit 2) max_states_per_insn 3 total_states 4 peak_states 5\nstack depth +", uint32(0), uint32(0), uint32(0), uint32(0), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, in string, processed, total, peak, timeUS uint32, s0, s1 uint16) {
		want := Stats{ProcessedInsns: int(processed), TotalStates: int(total), PeakStates: int(peak), TimeUS: int(timeUS), StackDepth: int(s0) + int(s1)}
		if got, ok := ParseStats(in + "\n" + statsBlock(processed, total, peak, timeUS, []uint16{s0, s1})); !ok || got != want {
			t.Fatalf("appended block read as %+v (found %v), want %+v", got, ok, want)
		}
		once, ok1 := ParseStats(in)
		twice, ok2 := ParseStats(in + "\n" + in)
		if once != twice || ok1 != ok2 {
			t.Fatalf("the log once %+v %v, twice %+v %v", once, ok1, twice, ok2)
		}
		if !ok1 || hugeNumber.MatchString(in) {
			return // numbers beyond int range saturate: no verifier prints them
		}
		for _, field := range []string{
			fmt.Sprintf(`processed 0*%d insns`, once.ProcessedInsns),
			fmt.Sprintf(`total_states 0*%d peak_states 0*%d`, once.TotalStates, once.PeakStates),
		} {
			if !regexp.MustCompile(field).MatchString(in) {
				t.Fatalf("found %+v, but the input has no %q", once, field)
			}
		}
		if once.StackDepth < 0 || once.TimeUS < 0 {
			t.Fatalf("negative statistics %+v from %q", once, in)
		}
	})
}

func TestReason(t *testing.T) {
	log := []string{
		"34: (85) call bpf_task_from_pid#15980         ; R0=ptr_or_null_task_struct(id=3,ref_obj_id=3) refs=3",
		"; n += t->pid; @ fixture.bpf.c:190",
		"35: (61) r6 = *(u32 *)(r0 +1560)",
		"R0 invalid mem access 'ptr_or_null_'",
		"verification time 1686 usec",
		"stack depth 56",
		"processed 24 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 1",
		"",
	}
	if got := Reason(log); got != "R0 invalid mem access 'ptr_or_null_'" {
		t.Errorf("%q", got)
	}
	if got := Reason([]string{"stack depth 8", ""}); got != "" {
		t.Errorf("a log of statistics only: %q", got)
	}
}

func TestExplain(t *testing.T) {
	log := []string{"R0 invalid mem access 'ptr_or_null_'", "verification time 1686 usec", "stack depth 56"}
	msg := "program ktstr_enqueue: load program: permission denied: stack depth 56 (5 line(s) omitted)"
	got := Explain(msg, "permission denied", log)
	if want := "program ktstr_enqueue: load program: permission denied: R0 invalid mem access 'ptr_or_null_'"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := Explain(msg, "not in it", log); got != msg {
		t.Errorf("changed a message without the verifier's text: %q", got)
	}
}
