// Package jsontest holds the property every strict JSON parser of the
// module is fuzzed for: it may only refuse more than encoding/json, never
// read a document differently, and what it returns survives a marshal
// round trip.
package jsontest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// StrictRoundTrip fails t unless encoding/json accepts data, which parse
// accepted as got, with the same value, and unless got marshals to JSON
// that parse reads back and marshals again to the same bytes.
func StrictRoundTrip[T any](t testing.TB, data []byte, got *T, parse func([]byte) (*T, error)) {
	t.Helper()
	var ref T
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("parse accepted %q, encoding/json refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(*got, ref) {
		t.Fatalf("%q: parse %+v, encoding/json %+v", data, *got, ref)
	}
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parse(out)
	if err != nil {
		t.Fatalf("%s does not parse back: %v", out, err)
	}
	if again, _ := json.Marshal(back); !bytes.Equal(again, out) {
		t.Fatalf("round trip %s → %s", out, again)
	}
}
