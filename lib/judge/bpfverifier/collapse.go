// Package bpfverifier reads what the BPF verifier and sched_ext schedulers
// say: it collapses repeated cycles in long logs, parses the verifier's
// statistics line, and compares per-program instruction counts between two
// runs.
package bpfverifier

import (
	"fmt"
	"regexp"
	"strings"
)

// Cycle collapse (ktstr reference §5.3): a verifier log that walks a loop,
// or a scheduler log that repeats an error, is mostly the same block of
// lines again and again. Collapse keeps the first and the last iteration
// and says how many were omitted:
//
//	--- 12x of the following 6 lines ---
//	(first iteration)
//	--- 10 identical iterations omitted ---
//	(last iteration)
//	--- end repeat ---
const (
	minPeriod  = 5 // lines in a repeated block
	minRepeats = 3
	minLines   = 15
	maxPasses  = 5
	minAnchor  = 10
)

var (
	frameAnnot = regexp.MustCompile(`\s*; frame\d*:.*$`)
	regAnnot   = regexp.MustCompile(`\s*; R\d.*$`)
	regDump    = regexp.MustCompile(`^(\d+): R\d+.*$`)
	gotoState  = regexp.MustCompile(`(goto pc[+-]\d+).*$`)
	insnAddr   = regexp.MustCompile(`^\d+: `)
	branchFrom = regexp.MustCompile(`^(from \d+ to \d+:).*$`)
)

// normalize strips the parts of a verifier line that change between loop
// iterations (register states, frame annotations) but keeps the code.
func normalize(l string) string {
	l = frameAnnot.ReplaceAllString(l, "")
	l = regAnnot.ReplaceAllString(l, "")
	if m := regDump.FindStringSubmatch(l); m != nil {
		l = m[1] + ":"
	}
	l = branchFrom.ReplaceAllString(l, "$1")
	l = gotoState.ReplaceAllString(l, "$1")
	return strings.TrimRight(l, " \t")
}

// blockKey additionally drops instruction addresses, so unrolled copies of
// a loop at different offsets compare equal.
func blockKey(l string) string { return insnAddr.ReplaceAllString(normalize(l), "") }

// Collapse returns log with repeated cycles folded, up to maxPasses times
// (nested loops collapse from the inside out).
func Collapse(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for pass := 0; pass < maxPasses; pass++ {
		out, changed := collapseOnce(lines)
		if !changed {
			break
		}
		lines = out
	}
	return strings.Join(lines, "\n")
}

// collapseOnce folds the longest-covering cycle it finds.
func collapseOnce(lines []string) ([]string, bool) {
	if len(lines) < minLines {
		return lines, false
	}
	keys := make([]string, len(lines))
	for i, l := range lines {
		keys[i] = blockKey(l)
	}
	// Anchor: the most frequent key of at least minAnchor characters.
	count := map[string]int{}
	for _, k := range keys {
		if len(k) >= minAnchor && !strings.HasPrefix(k, "---") {
			count[k]++
		}
	}
	anchor, best := "", 0
	for k, n := range count {
		if n > best || (n == best && k < anchor) {
			anchor, best = k, n
		}
	}
	if best < minRepeats {
		return lines, false
	}
	var at []int
	for i, k := range keys {
		if k == anchor {
			at = append(at, i)
		}
	}
	// Period: the most common gap between anchor occurrences.
	gaps := map[int]int{}
	for i := 1; i < len(at); i++ {
		gaps[at[i]-at[i-1]]++
	}
	period, seen := 0, 0
	for g, n := range gaps {
		if n > seen || (n == seen && g < period) {
			period, seen = g, n
		}
	}
	if period < minPeriod || seen < minRepeats-1 {
		return lines, false
	}
	// Find the longest run of equal consecutive blocks starting at an
	// anchor occurrence, searching a little earlier for the true start.
	bestStart, bestReps := -1, 0
	// Trying every anchor is quadratic on huge logs; the first ones find
	// the cycle if there is one.
	if len(at) > 64 {
		at = at[:64]
	}
	for _, a := range at {
		for start := a; start > a-period && start >= 0; start-- {
			reps := 1
			for start+(reps+1)*period <= len(lines) && equalBlocks(keys, start, start+reps*period, period) {
				reps++
			}
			if reps > bestReps {
				bestStart, bestReps = start, reps
			}
		}
	}
	if bestReps < minRepeats {
		return lines, false
	}
	s, p, n := bestStart, period, bestReps
	out := append([]string{}, lines[:s]...)
	out = append(out, fmt.Sprintf("--- %dx of the following %d lines ---", n, p))
	out = append(out, lines[s:s+p]...)
	out = append(out, fmt.Sprintf("--- %d identical iterations omitted ---", n-2))
	out = append(out, lines[s+(n-1)*p:s+n*p]...)
	out = append(out, "--- end repeat ---")
	out = append(out, lines[s+n*p:]...)
	return out, true
}

func equalBlocks(keys []string, a, b, n int) bool {
	for i := 0; i < n; i++ {
		if keys[a+i] != keys[b+i] {
			return false
		}
	}
	return true
}
