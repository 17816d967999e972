package jsonstrict

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type limits struct {
	Max *float64 `json:"max"`
	Off bool     `json:"off"`
}

type step struct {
	Hold    int               `json:"hold"`
	Cgroups []string          `json:"cgroups"`
	Limits  map[string]limits `json:"limits"`
}

type base struct {
	Tag string `json:"tag"`
}

// doc has what the documents ktstr decodes have: nested structs, slices of
// them, maps of them, pointers, an embedded struct, a field of any JSON.
type doc struct {
	base
	Name  string         `json:"name"`
	Steps []step         `json:"steps"`
	Limit *limits        `json:"limit"`
	Extra any            `json:"extra"`
	Seen  map[string]int `json:"seen"`
	Skip  string         `json:"-"`
}

func TestDecodeAccepts(t *testing.T) {
	var d doc
	in := `{"name": "a", "tag": "t", "steps": [{"hold": 2, "cgroups": ["x"], "limits": {"m": {"max": 1.5}}}], "extra": {"any": [1, {"thing": true}]}, "NAME": "b"}` + "\n\n"
	if err := Decode([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "b" || d.Tag != "t" || len(d.Steps) != 1 || *d.Steps[0].Limits["m"].Max != 1.5 {
		t.Errorf("decoded %+v", d)
	}
}

// TestDecodeRefuses: each refusal's message, with its place, and its kind
// (errors.Is, errors.As).
func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		in, msg string
		is      error
	}{
		{``, "empty; want a JSON object", ErrEmpty},
		{" \n\t\r ", "empty; want a JSON object", ErrEmpty},
		{`null`, "null; want a JSON object", ErrNull},
		{" null\n", "null; want a JSON object", ErrNull},
		{`{"name": "a"} {"name": "b"}`, "line 1, column 15: unexpected data after the JSON object", ErrTrailing},
		{"{\"name\": \"a\"}\n\n  x", "line 3, column 3: unexpected data after the JSON object", ErrTrailing},
		{`{"nmae": "a"}`, `unknown field "nmae"`, ErrUnknownField},
		{`{"name": "a", "skip": "x"}`, `unknown field "skip"`, ErrUnknownField},
		{`{"steps": [{"hold": 1}, {"cgroupz": []}]}`, `steps[1]: unknown field "cgroupz"`, ErrUnknownField},
		{`{"steps": [{"limits": {"m": {"maxx": 1}}}]}`, `steps[0].limits.m: unknown field "maxx"`, ErrUnknownField},
		{`{"limit": {"of": true}}`, `limit: unknown field "of"`, ErrUnknownField},
		// Inside a field of any JSON nothing is unknown: the first unknown
		// field comes after it.
		{`{"extra": {"x": {"y": 1}}, "z": 1}`, `unknown field "z"`, ErrUnknownField},
		{`{"name": "a",}`, "line 1, column 14: invalid character '}' looking for beginning of object key string", nil},
		{"{\n  \"name\": tru\n}", "line 2, column 14: invalid character '\\n' in literal true (expecting 'e')", nil},
		{`{"name": "a"`, "unexpected end of the JSON input", ErrTruncated},
		{`{"name": 1}`, "name: want a string, got a number", nil},
		{`{"steps": [{}, {"hold": "2"}]}`, "steps[1].hold: want an integer, got a string", nil},
		{`{"steps": [{"hold": 1.5}]}`, "steps[0].hold: want an integer, got number 1.5", nil},
		{`{"steps": [{"cgroups": ["a", 2]}]}`, "steps[0].cgroups[1]: want a string, got a number", nil},
		{`{"steps": {}}`, "steps: want a JSON array, got an object", nil},
		{`{"seen": {"k": true}}`, "seen.k: want an integer, got true or false", nil},
		{`[]`, "want a JSON object, got an array", nil},
		{`"doc"`, "want a JSON object, got a string", nil},
	} {
		var d doc
		err := Decode([]byte(c.in), &d)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: got %v, want an *Error", c.in, err)
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("%q: got %q, want %q", c.in, err, c.msg)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%q: %v is not %v", c.in, err, c.is)
		}
	}
	var syn *json.SyntaxError
	if err := Decode([]byte(`{"name": "a",}`), &doc{}); !errors.As(err, &syn) {
		t.Errorf("syntax error: %v does not wrap a *json.SyntaxError", err)
	}
	var typ *json.UnmarshalTypeError
	if err := Decode([]byte(`{"name": 1}`), &doc{}); !errors.As(err, &typ) {
		t.Errorf("type error: %v does not wrap a *json.UnmarshalTypeError", err)
	}
}

func TestDecodeTargets(t *testing.T) {
	var m map[string]json.RawMessage
	if err := Decode([]byte(`{"a": null, "b": [1]}`), &m); err != nil || len(m) != 2 {
		t.Errorf("map: %v %v", m, err)
	}
	var s []int
	if err := Decode([]byte(`null`), &s); err == nil || err.Error() != "null; want a JSON array" {
		t.Errorf("null slice: %v", err)
	}
	if err := Decode([]byte(`[1] [2]`), &s); err == nil || err.Error() != "line 1, column 5: unexpected data after the JSON array" {
		t.Errorf("trailing array: %v", err)
	}
	var d doc
	if err := Decode([]byte(`{}`), d); err == nil {
		t.Error("a non-pointer target was accepted")
	}
}

// own has its own UnmarshalJSON, as record.Thresholds does: its errors
// come back as they are, its type errors placed by their fields (which
// encoding/json completes from the top).
type own struct{ V int }

func (o *own) UnmarshalJSON(b []byte) error {
	var p struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.V < 0 {
		return errors.New("v: negative")
	}
	o.V = p.V
	return nil
}

func TestDecodeOwnUnmarshaler(t *testing.T) {
	var d struct {
		Own own `json:"own"`
	}
	if err := Decode([]byte(`{"own": {"v": -1}}`), &d); err == nil || err.Error() != "v: negative" {
		t.Errorf("own error: %v", err)
	}
	if err := Decode([]byte(`{"own": {"v": "x"}}`), &d); err == nil || err.Error() != "own.v: want an integer, got a string" {
		t.Errorf("own type error: %v", err)
	}
	// Its unknown fields are its own business.
	if err := Decode([]byte(`{"own": {"v": 1, "w": 2}}`), &d); err != nil || d.Own.V != 1 {
		t.Errorf("own unknown field: %v %+v", err, d)
	}
}

// knownKey reports whether encoding/json fills a field of doc from key.
func knownKey(key string) bool {
	_, ok := fieldType(reflect.TypeFor[doc](), key)
	return ok
}

// FuzzDecode checks properties of Decode on doc:
//   - what it accepts, encoding/json's Unmarshal accepts too, with the same
//     value;
//   - what it accepts re-encodes (json.Marshal) into a document it accepts,
//     decoding to the same value;
//   - an object with a top-level key that is no field of doc is refused as
//     an unknown field, whatever else is wrong with it;
//   - empty input, a bare null and two values are refused, each as such;
//   - every refusal is an *Error with a message.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name": "a", "steps": [{"hold": 2, "cgroups": ["x"], "limits": {"m": {"max": 1.5, "off": true}}}]}`,
		`{"tag": "t", "limit": null, "extra": [1, "x", {"y": null}], "seen": {"a": 1}}`,
		`{"nmae": "a"}`, `{"steps": [{"cgroupz": []}]}`, `{"name": "a"} {}`, `null`, ``, `[]`, `{"name": 1}`,
		`{"NAME": "a", "Steps": null}`, `{"name": "\u00e9\ud800"}`, `{"seen": {"k": 1e400}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		err := Decode(b, &d)
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) == nil && top != nil {
			for k := range top {
				if !knownKey(k) && (err == nil || !errors.Is(err, ErrUnknownField) && !isTypeError(err)) {
					// A type error may come before the unknown field.
					t.Fatalf("%q: unknown top-level key %q, got %v", b, k, err)
				}
			}
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || err.Error() == "" {
				t.Fatalf("%q: refusal %#v is not an *Error with a message", b, err)
			}
			return
		}
		var ref doc
		if uerr := json.Unmarshal(b, &ref); uerr != nil {
			t.Fatalf("%q: accepted, encoding/json refuses it: %v", b, uerr)
		}
		if !reflect.DeepEqual(d, ref) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", b, d, ref)
		}
		out, merr := json.Marshal(d)
		if merr != nil {
			t.Fatalf("%q: accepted, does not encode: %v", b, merr)
		}
		var back doc
		if err := Decode(out, &back); err != nil {
			t.Fatalf("%q: re-encoded as %s, refused: %v", b, out, err)
		}
		if !reflect.DeepEqual(d, back) {
			t.Fatalf("%q: decoded %+v, re-encoded and decoded %+v", b, d, back)
		}
	})
}

func isTypeError(err error) bool {
	var typ *json.UnmarshalTypeError
	return errors.As(err, &typ)
}

func FuzzDecodeShapes(f *testing.F) {
	// Empty input, null and a second value are refused as such, whatever
	// the white space around them.
	f.Add("", " \n", `{"name": "a"}`)
	f.Fuzz(func(t *testing.T, lead, trail, obj string) {
		ws := func(s string) string {
			return strings.Map(func(r rune) rune {
				if strings.ContainsRune(" \t\r\n", r) {
					return r
				}
				return -1
			}, s)
		}
		lead, trail = ws(lead), ws(trail)
		var d doc
		if err := Decode([]byte(lead+trail), &d); !errors.Is(err, ErrEmpty) {
			t.Fatalf("%q: %v, want ErrEmpty", lead+trail, err)
		}
		if err := Decode([]byte(lead+"null"+trail), &d); !errors.Is(err, ErrNull) {
			t.Fatalf("%q: %v, want ErrNull", lead+"null"+trail, err)
		}
		var one doc
		if Decode([]byte(obj), &one) != nil {
			return
		}
		two := lead + obj + trail + " " + obj
		if err := Decode([]byte(two), &d); !errors.Is(err, ErrTrailing) {
			t.Fatalf("%q: %v, want ErrTrailing", two, err)
		}
	})
}
