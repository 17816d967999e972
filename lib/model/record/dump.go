package record

import (
	"regexp"
	"strings"
)

// dumpHeader starts one of the kernel's sched_ext dumps: "Debug dump
// triggered by SysRq-D" for a dump asked for while the scheduler ran, or
// "COMM[PID] triggered exit kind N:" for the dump of its exit (later
// kernels add " on CPU N"). Every line inside a dump is indented, or names
// the CPU states, a CPU or the event counters.
var dumpHeader = regexp.MustCompile(`^(Debug dump triggered by |\S.*\[\d+\] triggered exit kind \d+( on CPU \d+)?:)`)

// DumpSections splits a SchedulerRun.Dump into the kernel's dumps, in the
// order the kernel wrote them, each from its header line on (text before
// the first header is a section of its own).
func DumpSections(dump string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.SplitAfter(dump, "\n") {
		if l == "" {
			continue
		}
		if dumpHeader.MatchString(l) && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(l)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// liveDumpHeader starts a dump asked for while the scheduler ran.
const liveDumpHeader = "Debug dump triggered by "

// IsLiveDump says whether a section of DumpSections is a dump asked for
// while the scheduler ran (SysRq D), not the dump of its exit.
func IsLiveDump(section string) bool { return strings.HasPrefix(section, liveDumpHeader) }

// KeepLatestDumps fits dump into limit bytes by whole sections, the latest
// first: the exit dump, written last, is the one a death is judged by. A
// latest section longer than limit keeps its first limit bytes.
func KeepLatestDumps(dump string, limit int) string {
	if len(dump) <= limit {
		return dump
	}
	s := DumpSections(dump)
	n, first := 0, len(s)
	for first > 0 && n+len(s[first-1]) <= limit {
		first--
		n += len(s[first])
	}
	if first == len(s) {
		return s[len(s)-1][:limit]
	}
	return strings.Join(s[first:], "")
}
