package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCPUID bounds the CPU numbers a cpu list may name. Linux's own limit is
// NR_CPUS (8192 at most on x86); anything beyond is a typo, and the bound keeps
// a hostile "0-4000000000" from allocating gigabytes.
const MaxCPUID = 8191

// ParseList parses a kernel cpu list ("0-3,5,7-9", as in sysfs cpulist files
// and cpuset.cpus) into sorted, de-duplicated CPU numbers. Surrounding blank
// space is ignored; the empty string is the empty set.
func ParseList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseCPU(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCPU(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
			if last < first {
				return nil, fmt.Errorf("cpu list %q: range %d-%d runs backwards", s, first, last)
			}
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

func parseCPU(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty cpu number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a cpu number", s)
	}
	if n > MaxCPUID {
		return 0, fmt.Errorf("cpu %d is above the limit %d", n, MaxCPUID)
	}
	return n, nil
}

// FormatList formats CPU numbers as a kernel cpu list, collapsing runs:
// [0 1 2 3 5 7 8 9] → "0-3,5,7-9". The input need not be sorted.
func FormatList(cpus []int) string {
	sorted := slices.Clone(cpus)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var b strings.Builder
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(sorted[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(sorted[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Range returns the CPU numbers first, first+1, ..., first+n-1.
func Range(first, n int) []int {
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = first + i
	}
	return cpus
}
