package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/base/jsonstrict"
)

// PayloadThresholds is the JSON name of Thresholds.Payload, which is not
// one of ThresholdNames (a map of limits, not one limit).
const PayloadThresholds = "payload"

// ThresholdNames are the JSON names of Thresholds' limits, in field order
// (Off and Payload excluded; both come after every limit, so a name's
// index is its field's).
func ThresholdNames() []string {
	t := reflect.TypeOf(Thresholds{})
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]; n != "off" && n != PayloadThresholds {
			names = append(names, n)
		}
	}
	return names
}

// UnmarshalJSON decodes a thresholds layer strictly: an unknown name is an
// error. A limit given as null is
// switched off by this layer: its name joins Off, so that merging layers
// can tell "not said" (absent: the earlier layer's value stays) from "off"
// (null: the check is off whatever came before), which a nil pointer alone
// cannot.
func (t *Thresholds) UnmarshalJSON(b []byte) error {
	type plain Thresholds // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	names := ThresholdNames()
	for n := range fields {
		// Strict wherever thresholds appear (a definition file, a job
		// record, --thresholds): a misspelt limit must not silently leave
		// a check at its default. encoding/json's DisallowUnknownFields
		// does not reach into a type with its own UnmarshalJSON.
		if n != "off" && n != PayloadThresholds && !slices.Contains(names, n) {
			return fmt.Errorf("thresholds: unknown limit %q (names: %s)", n, strings.Join(names, ", "))
		}
	}
	if raw, ok := fields[PayloadThresholds]; ok && !isNull(raw) {
		// Strict too: a misspelt "maximum" must not leave a metric
		// unchecked.
		var pl map[string]PayloadLimits
		if err := jsonstrict.Decode(raw, &pl); err != nil {
			return fmt.Errorf("thresholds: payload: %w", err)
		}
	}
	for _, n := range append(names, PayloadThresholds) {
		if raw, ok := fields[n]; ok && isNull(raw) && !slices.Contains(p.Off, n) {
			p.Off = append(p.Off, n)
		}
	}
	*t = Thresholds(p)
	return nil
}

// isNull reports whether the JSON value raw is null.
func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
