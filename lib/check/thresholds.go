package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/lib/record"
)

func ptr[T any](v T) *T { return &v }

// Defaults are ktstr's default limits (reference §5.1, its release values)
// and this tool's own: no starved worker (none below 10 % of its cohort's
// median work), off-CPU spread ≤ 15 points, no off-CPU gap over 2 s,
// isolation whenever a cpuset is set, equal cgroups within 35 % of each
// other's CPU, and CPU-bound workers keeping ≥ 60 % of the CPUs they can use
// busy. The benchmark-style checks (throughput CV, wake latency,
// migrations) are off until a layer sets them. Host noise is subtracted
// from a violation, never used to excuse one. Unlike ktstr, the limits do
// not depend on how the tool was compiled.
func Defaults() record.Thresholds {
	return record.Thresholds{
		NotStarved:         ptr(true),
		MinCohortWorkPct:   ptr(10.0),
		MaxSpreadPct:       ptr(15.0),
		MaxGapMS:           ptr(2000.0),
		Isolation:          ptr(true),
		MaxCgroupSpreadPct: ptr(35.0),
		MinBusyPct:         ptr(60.0),
		// The host-side monitor's (reference §5.2), inside the scenario.
		MaxImbalanceRatio:       ptr(4.0),
		MaxLocalDSQDepth:        ptr(50),
		FailOnRqClockStall:      ptr(true),
		MonitorWorkConservation: ptr(true),
		MonitorSustainedSamples: ptr(5),
	}
}

// Merge returns layers applied in order over the defaults: each set field of
// a later layer overrides the earlier value.
func Merge(layers ...*record.Thresholds) record.Thresholds {
	out := Defaults()
	dst := reflect.ValueOf(&out).Elem()
	for _, l := range layers {
		if l == nil {
			continue
		}
		src := reflect.ValueOf(l).Elem()
		for i := 0; i < src.NumField(); i++ {
			if f := src.Field(i); !f.IsNil() {
				dst.Field(i).Set(f)
			}
		}
	}
	return out
}

// LoadThresholds reads a thresholds file: a JSON object with the fields of
// record.Thresholds. Unknown names are errors (a typo must not silently
// leave a check at its default).
func LoadThresholds(path string) (*record.Thresholds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	return ParseThresholds(b)
}

// ParseThresholds decodes thresholds JSON strictly.
func ParseThresholds(b []byte) (*record.Thresholds, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t record.Thresholds
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	// A second object after the first would otherwise be ignored silently.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("thresholds: unexpected data after the JSON object")
	}
	return &t, nil
}

// WriteThresholds prints one row per limit: name, value (or "off").
func WriteThresholds(w io.Writer, t record.Thresholds) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	v := reflect.ValueOf(t)
	for i := 0; i < v.NumField(); i++ {
		name := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		val := "off"
		if f := v.Field(i); !f.IsNil() {
			val = fmt.Sprint(f.Elem().Interface())
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, val)
	}
	return tw.Flush()
}
