// Package jsonstrict decodes the JSON people write for ktstr — scenarios,
// scheduler and payload definitions, thresholds, compare policies — strictly,
// with one style of error.
//
// Decode takes exactly one JSON value: empty input, a bare null, data after
// the value and an unknown object field (at any depth encoding/json reaches,
// so not inside a type with its own UnmarshalJSON) are errors, as are syntax
// and type errors. Every refusal is an *Error that says where: the path of
// the value in the document (steps[0].cgroups[1].works, as scenario
// validation names places) or, for text that is not JSON, its line and
// column. Callers wrap it with what the document is and which file it came
// from:
//
//	scenario mine.json: steps[0]: unknown field "cgroupz"
//	limits.json: thresholds: max_gap_ms: want a number, got a string
//	policy p.json: line 3, column 1: invalid character '}' looking for beginning of object key string
//
// Records (lib/model/record) are not decoded here: a record's unknown fields
// are kept and passed on, never refused.
package jsonstrict

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The kinds of refusal Decode reports, matched with errors.Is. Syntax and
// type errors wrap encoding/json's *json.SyntaxError and
// *json.UnmarshalTypeError instead (errors.As).
var (
	// ErrEmpty: the input holds nothing but white space.
	ErrEmpty = errors.New("empty")
	// ErrNull: the input is a bare null, which would leave the value as it
	// was.
	ErrNull = errors.New("null")
	// ErrTrailing: more data follows the value, which would otherwise be
	// ignored silently.
	ErrTrailing = errors.New("unexpected data after the JSON value")
	// ErrUnknownField: an object has a field its Go type does not (a typo
	// must not silently leave a setting at its default).
	ErrUnknownField = errors.New("unknown field")
	// ErrTruncated: the input ends inside a value.
	ErrTruncated = errors.New("unexpected end of the JSON input")
)

// Error is a refused document: what is wrong (Err) and where.
type Error struct {
	// Path is the value's place in the document, e.g. steps[0].hold; ""
	// for the document itself or when it is not known.
	Path string
	// Line and Column (1-based; the column counts characters) place text
	// that is not JSON, or data after the value; 0 when not known.
	Line, Column int
	// Err is one of this package's Err* values (possibly wrapped), a
	// *json.SyntaxError, a *json.UnmarshalTypeError, or the error of a
	// type's own UnmarshalJSON.
	Err error
	msg string
}

func (e *Error) Error() string {
	s := e.msg
	if e.Line > 0 {
		s = fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, s)
	}
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Decode decodes data, which must hold exactly one JSON value, into v, a
// non-nil pointer: strictly (see the package documentation). A refusal is
// an *Error; a v that is no non-nil pointer, a *json.InvalidUnmarshalError.
// On error v may be partly filled.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &json.InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	t := rv.Type().Elem()
	start := skipSpace(data, 0)
	if start == len(data) {
		return &Error{Err: ErrEmpty, msg: "empty; want " + want(t)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refusal(data, t, err)
	}
	if bytes.HasPrefix(data[start:], []byte("null")) {
		return &Error{Err: ErrNull, msg: "null; want " + want(t)}
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		at := skipSpace(data, end)
		line, col := position(data, at)
		return &Error{Line: line, Column: col, Err: ErrTrailing, msg: "unexpected data after the " + noun(t)}
	}
	return nil
}

// refusal turns encoding/json's error into an *Error that says where.
func refusal(data []byte, t reflect.Type, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// The offending byte is the last one read.
		line, col := position(data, max(int(syn.Offset)-1, 0))
		return &Error{Line: line, Column: col, Err: err, msg: syn.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Err: ErrTruncated, msg: ErrTruncated.Error()}
	case errors.As(err, &typ):
		return &Error{Path: typePath(data, typ), Err: err, msg: fmt.Sprintf("want %s, got %s", want(typ.Type), got(typ.Value))}
	}
	// encoding/json's unknown-field error is a plain string naming the
	// field: `json: unknown field "x"`.
	if name, ok := unknownFieldName(err); ok {
		path, _ := unknownPath(data, t, name)
		return &Error{Path: path, Err: fmt.Errorf("%w %q", ErrUnknownField, name), msg: fmt.Sprintf("unknown field %q", name)}
	}
	return &Error{Err: err, msg: err.Error()}
}

// typePath places a type error. Its Offset is where the value's first
// token ends in data, unless a type's own UnmarshalJSON decoded a part of
// data (its offsets are then the part's): a path that does not hold the
// error's Field (the dotted struct fields from the top, without indices
// or map keys) in order is not taken, and the Field names the place
// instead.
func typePath(data []byte, typ *json.UnmarshalTypeError) string {
	p, ok := pathAt(data, typ.Offset)
	if !ok {
		return typ.Field
	}
	keys := strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == '[' })
	want := strings.FieldsFunc(typ.Field, func(r rune) bool { return r == '.' })
	for _, k := range keys {
		if len(want) > 0 && k == want[0] {
			want = want[1:]
		}
	}
	if len(want) > 0 {
		return typ.Field
	}
	return p
}

// unknownFieldName is the field of encoding/json's unknown-field error.
func unknownFieldName(err error) (string, bool) {
	const prefix = `json: unknown field `
	s := err.Error()
	q, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(q)
	return name, uerr == nil
}

// want describes, for people, the JSON that a value of type t takes.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer ≥ 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a JSON value"
}

// noun is what the document is: "JSON object" for a struct or map.
func noun(t reflect.Type) string {
	if w, ok := strings.CutPrefix(want(t), "a JSON "); ok {
		return "JSON " + w
	}
	return "JSON value"
}

// got describes encoding/json's UnmarshalTypeError.Value.
func got(value string) string {
	switch value {
	case "string", "number":
		return "a " + value
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + value
	}
	return value // "number 1.5": the number too
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// position is the 1-based line and column (in characters) of byte i.
func position(data []byte, i int) (line, col int) {
	i = min(i, len(data))
	line = 1 + bytes.Count(data[:i], []byte("\n"))
	lineStart := bytes.LastIndexByte(data[:i], '\n') + 1
	return line, utf8.RuneCount(data[lineStart:i]) + 1
}

// frame is one open object or array while walking a document.
type frame struct {
	object bool
	// key is an object's current key (once it has one: keyed).
	key   string
	keyed bool
	// expectKey: an object's next token is a key.
	expectKey bool
	// index is an array's current index; -1 before the first element.
	index int
}

// path formats the places of frames: a.b[2].c.
func path(frames []frame) string {
	var b []byte
	for _, f := range frames {
		switch {
		case f.object && f.keyed:
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, f.key...)
		case !f.object && f.index >= 0:
			b = strconv.AppendInt(append(b, '['), int64(f.index), 10)
			b = append(b, ']')
		default:
			return string(b)
		}
	}
	return string(b)
}

// walkTokens reads data's tokens in order, keeping the frames of the open
// objects and arrays, and calls visit with each key and each value's first
// token (a scalar, or the delimiter that opens an object or array): the
// frames place it, end is the offset just past it, isKey tells a key.
// visit stops the walk by returning true.
func walkTokens(data []byte, visit func(frames []frame, tok json.Token, end int64, isKey bool) bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var frames []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		d, isDelim := tok.(json.Delim)
		if isDelim && (d == '}' || d == ']') {
			frames = frames[:len(frames)-1]
			continue
		}
		isKey := false
		if n := len(frames); n > 0 {
			top := &frames[n-1]
			switch {
			case top.object && top.expectKey:
				top.key, _ = tok.(string)
				top.keyed, top.expectKey, isKey = true, false, true
			case top.object:
				top.expectKey = true
			default:
				top.index++
			}
		}
		if visit(frames, tok, dec.InputOffset(), isKey) {
			return
		}
		if isDelim {
			frames = append(frames, frame{object: d == '{', expectKey: d == '{', index: -1})
		}
	}
}

// pathAt is the path of the value whose first token ends at offset (where
// encoding/json's UnmarshalTypeError.Offset points).
func pathAt(data []byte, offset int64) (found string, ok bool) {
	walkTokens(data, func(frames []frame, _ json.Token, end int64, isKey bool) bool {
		if !isKey && end == offset {
			found, ok = path(frames), true
		}
		return end >= offset
	})
	return found, ok
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether encoding/json hands values of t to t's own
// unmarshaler (where DisallowUnknownFields does not reach), or t takes any
// JSON (an interface).
func opaque(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler)
}

// fieldType returns the type of t's field that encoding/json fills from
// key (an exact name first, then one equal but for case), if any.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	fields := map[string]reflect.Type{}
	var order []string
	collectFields(t, fields, &order, 0)
	if ft, ok := fields[key]; ok {
		return ft, true
	}
	for _, n := range order {
		if strings.EqualFold(n, key) {
			return fields[n], true
		}
	}
	return nil, false
}

// collectFields gathers struct t's JSON field names and types, promoted
// fields of embedded structs included. Of two fields of one name the first
// declared is kept, where encoding/json's depth rules may pick the other:
// the names, which decide whether a field is known, are the same.
func collectFields(t reflect.Type, fields map[string]reflect.Type, order *[]string, depth int) {
	if depth > 10 {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collectFields(et, fields, order, depth+1)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := fields[name]; !ok {
			fields[name] = ft
			*order = append(*order, name)
		}
	}
}

// unknownPath finds, in document order, the first object field that type
// t has no field for and, when it is name (encoding/json's first unknown
// field), returns the path of its object. It reports false when the walk
// disagrees with encoding/json (the message then names no path).
func unknownPath(data []byte, t reflect.Type, name string) (found string, ok bool) {
	// types[i] is the Go type of frames[i] (nil: not checked), cur the
	// type of the value that comes next.
	var types []reflect.Type
	cur := t
	walkTokens(data, func(frames []frame, tok json.Token, _ int64, isKey bool) bool {
		n := len(frames)
		types = types[:n]
		if isKey {
			ct := deref(types[n-1])
			key, _ := tok.(string)
			cur = nil
			switch {
			case ct == nil:
			case ct.Kind() == reflect.Map:
				cur = ct.Elem()
			case ct.Kind() == reflect.Struct:
				ft, known := fieldType(ct, key)
				if !known {
					if key == name {
						found, ok = path(frames[:n-1]), true
					}
					return true // the first unknown field: name, or a disagreement
				}
				cur = ft
			}
			return false
		}
		vt := cur
		if n > 0 && !frames[n-1].object {
			vt = nil
			if at := deref(types[n-1]); at != nil && (at.Kind() == reflect.Slice || at.Kind() == reflect.Array) {
				vt = at.Elem()
			}
		}
		if d, isDelim := tok.(json.Delim); isDelim && (d == '{' || d == '[') {
			if vt != nil && opaque(deref(vt)) {
				vt = nil
			}
			types = append(types, vt)
		}
		return false
	})
	return found, ok
}

// deref strips pointers; nil stays nil.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
