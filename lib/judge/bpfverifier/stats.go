package bpfverifier

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

// Reason is the line of a rejecting verifier log that says why: the last
// line that is neither a statistics line (processed, verification time,
// stack depth) nor the verifier's bookkeeping (mark_precise), nor empty.
// The error's own text ends with whatever line came last, which for a
// statistics-level log is "stack depth N" — no reason at all.
func Reason(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		l := strings.TrimSpace(log[i])
		switch {
		case l == "", processedRE.MatchString(l), timeRE.MatchString(l), strings.HasPrefix(l, "stack depth"),
			strings.HasPrefix(l, "mark_precise"), strings.HasPrefix(l, "verifier log"):
			continue
		}
		return l
	}
	return ""
}

// Explain rewrites a load error's message so that it ends with the
// verifier's reason: msg is the error's text, which ends with the verifier
// error's cause and then the log's last line; that line is replaced.
// Without a reason in the log, or the cause in msg, msg is returned as it is.
func Explain(msg, cause string, log []string) string {
	r := Reason(log)
	i := strings.LastIndex(msg, cause+": ")
	if r == "" || cause == "" || i < 0 {
		return msg
	}
	return msg[:i+len(cause)+2] + r
}
