package verifier

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/record"
)

// InsnLimit is the verifier's per-program instruction budget.
const InsnLimit = 1_000_000

// WarnFraction is where a program counts as close to the limit.
const WarnFraction = 0.75

// Stats is the verifier's summary of one program load.
type Stats struct {
	ProcessedInsns int
	TotalStates    int
	PeakStates     int
	TimeUS         int
	StackDepth     int
}

var (
	processedRE = regexp.MustCompile(`processed (\d+) insns \(limit \d+\) max_states_per_insn \d+ total_states (\d+) peak_states (\d+)`)
	timeRE      = regexp.MustCompile(`verification time (\d+) usec`)
	stackRE     = regexp.MustCompile(`stack depth ([\d+]+)`)
)

// ParseStats reads the statistics lines of a verifier log (the last
// occurrence wins, as the verifier prints them at the end).
func ParseStats(log string) (Stats, bool) {
	var s Stats
	found := false
	for _, l := range strings.Split(log, "\n") {
		if m := processedRE.FindStringSubmatch(l); m != nil {
			s.ProcessedInsns, _ = strconv.Atoi(m[1])
			s.TotalStates, _ = strconv.Atoi(m[2])
			s.PeakStates, _ = strconv.Atoi(m[3])
			found = true
		}
		if m := timeRE.FindStringSubmatch(l); m != nil {
			s.TimeUS, _ = strconv.Atoi(m[1])
		}
		if m := stackRE.FindStringSubmatch(l); m != nil {
			s.StackDepth = 0
			for _, part := range strings.Split(m[1], "+") {
				n, _ := strconv.Atoi(part)
				s.StackDepth += n
			}
		}
	}
	return s, found
}

func (s Stats) String() string {
	return fmt.Sprintf("processed=%d states=%d/%d time=%dus stack=%d", s.ProcessedInsns, s.PeakStates, s.TotalStates, s.TimeUS, s.StackDepth)
}

// NearLimit reports whether a program used WarnFraction of the budget.
func NearLimit(insns uint32) bool { return float64(insns) >= WarnFraction*InsnLimit }

// Delta is one program's verified-instruction count in two runs.
type Delta struct {
	Program string
	A, B    uint32
	// InA, InB say whether the program was seen in that run.
	InA, InB bool
}

// Diff is B − A.
func (d Delta) Diff() int64 { return int64(d.B) - int64(d.A) }

// Compare pairs programs by name across two sets of runs, using each
// program's largest count in a set (profiles and topologies can differ).
func Compare(a, b []record.BPFProgram) []Delta {
	largest := func(ps []record.BPFProgram) map[string]uint32 {
		m := map[string]uint32{}
		for _, p := range ps {
			m[p.Name] = max(m[p.Name], p.VerifiedInsns)
		}
		return m
	}
	ma, mb := largest(a), largest(b)
	var names []string
	for n := range ma {
		names = append(names, n)
	}
	for n := range mb {
		if _, ok := ma[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []Delta
	for _, n := range names {
		va, ina := ma[n]
		vb, inb := mb[n]
		out = append(out, Delta{Program: n, A: va, B: vb, InA: ina, InB: inb})
	}
	return out
}
