package payload

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// ValidateLimits refuses payload limits no check can use: a name that is
// not a SimpleName, a NaN or infinite bound, a min above the max, a range
// whose ends are reversed.
func ValidateLimits(ls map[string]record.PayloadLimits) error {
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		if !SimpleName(name) {
			return fmt.Errorf("payload limits: payload name %q: want letters, digits, '_', '-' or '.'", name)
		}
		for _, metric := range slices.Sorted(maps.Keys(ls[name].Metrics)) {
			l := ls[name].Metrics[metric]
			where := fmt.Sprintf("payload limits: %s.%s", name, metric)
			if !SimpleName(metric) {
				return fmt.Errorf("%s: metric name: want letters, digits, '_', '-' or '.'", where)
			}
			for _, b := range []*float64{l.Min, l.Max} {
				if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
					return fmt.Errorf("%s: %v is not a limit", where, *b)
				}
			}
			if l.Range != nil {
				if math.IsNaN(l.Range[0]) || math.IsNaN(l.Range[1]) || l.Range[0] > l.Range[1] {
					return fmt.Errorf("%s: range [%v, %v]: want [min, max] with min ≤ max", where, l.Range[0], l.Range[1])
				}
			}
			if l.Min != nil && l.Max != nil && *l.Min > *l.Max {
				return fmt.Errorf("%s: min %v above max %v", where, *l.Min, *l.Max)
			}
		}
	}
	return nil
}

// MergeLimits puts layer over base and returns the result (neither is
// changed): the layer's exit code and each of its metrics' set fields
// override base's; a metric with Off drops base's limits of it first.
func MergeLimits(base, layer record.PayloadLimits) record.PayloadLimits {
	out := record.PayloadLimits{ExitCode: base.ExitCode, Metrics: maps.Clone(base.Metrics)}
	if layer.ExitCode != nil {
		out.ExitCode = layer.ExitCode
	}
	if len(layer.Metrics) > 0 && out.Metrics == nil {
		out.Metrics = map[string]record.MetricLimit{}
	}
	for name, l := range layer.Metrics {
		m := out.Metrics[name]
		if l.Off {
			m = record.MetricLimit{Off: true}
		}
		if l.Min != nil {
			m.Min = l.Min
		}
		if l.Max != nil {
			m.Max = l.Max
		}
		if l.Range != nil {
			m.Range = l.Range
		}
		if l.Exists != nil {
			m.Exists = l.Exists
		}
		out.Metrics[name] = m
	}
	return out
}

// Violation is what value breaks in limit l, in words naming the bound
// ("> max 5"), or "" when it holds.
func Violation(l record.MetricLimit, value float64) string {
	switch {
	case l.Min != nil && value < *l.Min:
		return fmt.Sprintf("< min %v", *l.Min)
	case l.Max != nil && value > *l.Max:
		return fmt.Sprintf("> max %v", *l.Max)
	case l.Range != nil && (value < l.Range[0] || value > l.Range[1]):
		return fmt.Sprintf("outside range [%v, %v]", l.Range[0], l.Range[1])
	}
	return ""
}

// Describe is limit l in words: "exists, ≤ 5, in [1, 2]"; "" for none.
func Describe(l record.MetricLimit) string {
	var parts []string
	if l.Exists != nil && *l.Exists {
		parts = append(parts, "exists")
	}
	if l.Min != nil {
		parts = append(parts, fmt.Sprintf("≥ %v", *l.Min))
	}
	if l.Max != nil {
		parts = append(parts, fmt.Sprintf("≤ %v", *l.Max))
	}
	if l.Range != nil {
		parts = append(parts, fmt.Sprintf("in [%v, %v]", l.Range[0], l.Range[1]))
	}
	return strings.Join(parts, ", ")
}
