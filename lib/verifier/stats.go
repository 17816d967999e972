package verifier

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
