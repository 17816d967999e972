// Package record is ktstr's wire contract: newline-delimited JSON records
// exchanged by the ktstr-* tools on stdin and stdout.
//
// Every record is one JSON object on one line that starts with
//
//	{"kind":"<kind>","v":<schema version>, ...}
//
// The kinds and their fields are defined in this package only (kinds.go), so
// the schema is documented in one place. A record's Go type carries no kind or
// version field: the Writer adds both from the type's Kind method, and the
// Reader checks them.
//
// Every tool reads its input through one loop (Loop): records a tool does
// not consume pass through unchanged (Line.Raw is the exact input bytes), a
// malformed line or one the tool refuses becomes an error record naming its
// line, and the loop stops when its context is cancelled. A tool that
// changes a record it passes on uses Overlay, which keeps the fields it does
// not know about. Work that does not apply is a SkipError (ErrSkip), which
// becomes a skip record.
//
// Records are decoded leniently (a newer tool's fields are kept, not
// refused); the JSON people write is decoded strictly by lib/base/jsonstrict.
package record

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version is the schema version this package writes and the highest it reads.
const Version = 1

// Kind names the type of a record.
type Kind string

// The record kinds of the ktstr pipeline.
const (
	KindTopology Kind = "topology"
	KindKernel   Kind = "kernel"
	KindJob      Kind = "job"
	KindRun      Kind = "run"
	KindVerdict  Kind = "verdict"
	KindStats    Kind = "stats"
	KindDelta    Kind = "delta"
	KindRepro    Kind = "repro"
	KindSkip     Kind = "skip"
	KindError    Kind = "error"
)

// Kinds lists every kind, in pipeline order.
var Kinds = []Kind{KindTopology, KindKernel, KindJob, KindRun, KindVerdict,
	KindStats, KindDelta, KindRepro, KindSkip, KindError}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// Record is implemented by every record type of this package.
type Record interface {
	Kind() Kind
}

// header is the envelope every line carries.
type header struct {
	Kind Kind `json:"kind"`
	V    int  `json:"v"`
}

// Marshal encodes r as one record line without the trailing newline: the
// envelope first, then r's own fields.
func Marshal(r Record) ([]byte, error) {
	body, err := marshalNoEscape(r)
	if err != nil {
		return nil, fmt.Errorf("encode %s record: %w", r.Kind(), err)
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("encode %s record: not a JSON object", r.Kind())
	}
	return withEnvelope(r.Kind(), body), nil
}

// withEnvelope returns the JSON object body with the envelope fields put
// first: {"kind":K,"v":Version, ...body's fields}.
func withEnvelope(k Kind, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"kind":%q,"v":%d`, k, Version)
	if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
		b.WriteByte(',')
		b.Write(inner)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Unmarshal decodes a record line into r after checking that its kind is
// r's kind and its version is one this package reads.
func Unmarshal(line []byte, r Record) error {
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	if h.Kind != r.Kind() {
		return fmt.Errorf("decode record: kind %q, want %q", h.Kind, r.Kind())
	}
	if h.V > Version {
		return fmt.Errorf("decode %s record: schema version %d is newer than this tool's %d", h.Kind, h.V, Version)
	}
	if err := json.Unmarshal(line, r); err != nil {
		return fmt.Errorf("decode %s record: %w", h.Kind, err)
	}
	return nil
}

// Overlay returns orig with the fields of r written over it: fields of orig
// that r's type does not know survive, so a tool that enriches a record it
// passes on loses nothing. The envelope is set to r's kind and Version.
func Overlay(orig []byte, r Record) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if len(orig) > 0 {
		if err := json.Unmarshal(orig, &fields); err != nil {
			return nil, fmt.Errorf("overlay: original record: %w", err)
		}
	}
	own, err := Marshal(r)
	if err != nil {
		return nil, err
	}
	var mine map[string]json.RawMessage
	if err := json.Unmarshal(own, &mine); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	for k, v := range mine {
		fields[k] = v
	}
	delete(fields, "kind")
	delete(fields, "v")
	body, err := marshalNoEscape(fields)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return withEnvelope(r.Kind(), bytes.TrimSpace(body)), nil
}

// marshalNoEscape is json.Marshal without HTML escaping: records carry shell
// commands and kernel log lines where "<" and "&" should stay readable.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
