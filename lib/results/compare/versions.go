package compare

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/query"
)

// UnknownVersion stands for the version of a run recorded before runs
// carried one.
const UnknownVersion = "unknown"

// Versions are the ktstr versions that made rows: each run record's
// ktstr_version (the verdict's for a verdict stored without its run),
// sorted and without repeats.
func Versions(rows []*query.Row) []string {
	var vs []string
	for _, r := range rows {
		v := ""
		switch {
		case r.Run != nil:
			v = r.Run.KtstrVersion
		case r.Verdict != nil:
			v = r.Verdict.KtstrVersion
		}
		if v == "" {
			v = UnknownVersion
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

// VersionNote says in one line that side A and side B were made by
// different ktstr versions, or "" when they were not: a difference between
// the sides may then come from the harness.
func VersionNote(a, b []string) string {
	if slices.Equal(a, b) {
		return ""
	}
	return fmt.Sprintf("side A was made by ktstr %s and side B by ktstr %s: a change may come from the harness, not from what is compared",
		strings.Join(a, ", "), strings.Join(b, ", "))
}

// MarkVersions records a and b on every delta when they differ.
func MarkVersions(deltas []*record.Delta, a, b []string) {
	if slices.Equal(a, b) {
		return
	}
	for _, d := range deltas {
		d.KtstrVersionsA, d.KtstrVersionsB = a, b
	}
}
