package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"
)

// MaxLineBytes is the longest record line a Reader accepts. Run records carry
// telemetry and console tails, so the limit is generous; a longer line becomes
// an error record and the stream goes on.
const MaxLineBytes = 64 << 20

// Line is one line read from a record stream.
type Line struct {
	// Num is the 1-based line number in the input.
	Num int
	// Kind is the record's kind. For a malformed line it is KindError and
	// Raw holds the error record describing it.
	Kind Kind
	// Raw is the line's bytes without the newline: exactly what was read for
	// a well-formed line, so passthrough preserves every field.
	Raw []byte
	// Err is non-nil for a malformed line; it names the problem.
	Err error
}

// Decode decodes the line into r (see Unmarshal).
func (l Line) Decode(r Record) error {
	if err := Unmarshal(l.Raw, r); err != nil {
		return fmt.Errorf("line %d: %w", l.Num, err)
	}
	return nil
}

// Reader reads record lines. Blank lines are skipped. A line that is not a
// JSON object with a known kind is returned as an error record (Line.Err set),
// never as a Go error, so one bad line does not stop a pipeline.
type Reader struct {
	r      *bufio.Reader
	source string
	num    int
	// Lenient makes a line that is not JSON come back with Kind "" and its
	// text in Raw instead of as an error record, for tools whose input mixes
	// records with plain arguments (ktstr-topo reads specs one per line).
	Lenient bool
}

// NewReader returns a Reader over r. source names the reading tool in the
// error records it produces.
func NewReader(r io.Reader, source string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), source: source}
}

// Next returns the next non-blank line, or io.EOF at the end of the input.
// Other errors are read errors of the underlying reader.
func (rd *Reader) Next() (Line, error) {
	for {
		raw, tooLong, err := rd.readLine()
		if err != nil && (err != io.EOF || (len(raw) == 0 && !tooLong)) {
			return Line{}, err
		}
		rd.num++
		if tooLong {
			return rd.malformed(raw, fmt.Errorf("line longer than %d bytes", MaxLineBytes)), nil
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			if err == io.EOF {
				return Line{}, io.EOF
			}
			continue
		}
		return rd.classify(raw), nil
	}
}

// readLine reads up to and without the next newline. A line longer than
// MaxLineBytes is consumed and reported as tooLong with only its first bytes.
func (rd *Reader) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := rd.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+1 {
				tooLong = true
				keep := min(len(chunk), 200)
				buf = append(buf[:0:0], chunk[:keep]...)
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return buf, tooLong, err
		default:
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, nil
		}
	}
}

func (rd *Reader) classify(raw []byte) Line {
	if raw[0] != '{' {
		if rd.Lenient {
			return Line{Num: rd.num, Raw: raw}
		}
		return rd.malformed(raw, errors.New("not a JSON object"))
	}
	var h struct {
		Kind *Kind `json:"kind"`
		V    *int  `json:"v"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return rd.malformed(raw, fmt.Errorf("invalid JSON: %v", err))
	}
	switch {
	case h.Kind == nil:
		return rd.malformed(raw, errors.New(`no "kind" field`))
	case !h.Kind.Known():
		return rd.malformed(raw, fmt.Errorf("unknown kind %q", *h.Kind))
	case h.V != nil && *h.V > Version:
		return rd.malformed(raw, fmt.Errorf("schema version %d is newer than this tool's %d", *h.V, Version))
	}
	return Line{Num: rd.num, Kind: *h.Kind, Raw: raw}
}

func (rd *Reader) malformed(raw []byte, err error) Line {
	rec := &Error{Source: rd.source, Line: rd.num, Message: err.Error(), Input: excerpt(raw, 200)}
	b, mErr := Marshal(rec)
	if mErr != nil { // cannot happen for this type; keep the stream going anyway
		b = []byte(`{"kind":"error","v":1,"message":"unencodable error record"}`)
	}
	return Line{Num: rd.num, Kind: KindError, Raw: b, Err: fmt.Errorf("line %d: %w", rd.num, err)}
}

// excerpt returns at most n bytes of b as valid UTF-8 text.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return string(b) + "…"
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// Writer writes record lines. Each record is written with one Write call and
// no buffering, so a downstream tool sees it as soon as it is produced, and a
// Writer may be shared by goroutines.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write encodes and writes r.
func (w *Writer) Write(r Record) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	return w.WriteRaw(b)
}

// WriteRaw writes an already encoded record line (without newline), e.g. a
// Line.Raw passed through unchanged.
func (w *Writer) WriteRaw(line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	if _, err := w.w.Write(buf); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}
