package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Pass, returned by a Loop's handler, passes the line on to Loop.Out
// unchanged: a record the tool does not consume, or a malformed line's
// error record.
//
//lint:ignore ST1012 a handler's verdict on a line, like fs.SkipDir, not an error: ErrPass would misname it
var Pass = errors.New("record: pass the line on")

// Reject is what a Loop's handler returns for a line it cannot use — a
// record of a kind it consumes that does not decode, a spec that does not
// parse —, with err saying why: the Loop counts the line as bad and writes
// an error record naming it. Reject(nil) is nil.
func Reject(err error) error {
	if err == nil {
		return nil
	}
	return &rejection{err}
}

type rejection struct{ err error }

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

// Loop is the record-stream loop every ktstr tool runs over its input. It
// reads records line by line (Reader) and gives each line to the tool's
// handler, which consumes it (nil), passes it on unchanged (Pass), refuses
// it (Reject) or stops the loop (any other error). A malformed line comes
// to the handler as its error record (Line.Err set, Kind KindError), so a
// handler that passes on what it does not know passes those on too. Bad
// lines — malformed or refused — are counted, and each becomes an error
// record naming its line, or is told to people (Tell). The loop ends at
// the end of the input, or when ctx is cancelled, even during a read that
// can be interrupted (see internal/cli's CancelReader).
type Loop struct {
	// Source names the tool in the error records the loop makes.
	Source string
	// Input names the input in read errors (default "stdin").
	Input string
	// Lenient: see Reader.Lenient (lines that are not JSON come to the
	// handler with Kind ""; the error record of one it refuses carries the
	// line as its input).
	Lenient bool
	// Out receives the lines passed on and the error records of refused
	// lines (nil: they are dropped).
	Out *Writer
	// Tell, when set, is told of each bad line instead (people read the
	// output: a malformed line's error record is not passed on, a refused
	// one's not written); err names the line.
	Tell func(err error)
}

// Run reads in until it ends (nil), ctx is cancelled (ctx's error), a
// read fails, a write to Out fails or the handler stops it (that error),
// and returns the number of bad lines it saw.
func (lp *Loop) Run(ctx context.Context, in io.Reader, handle func(Line) error) (bad int, err error) {
	rd := NewReader(in, lp.Source)
	rd.Lenient = lp.Lenient
	for {
		if err := ctx.Err(); err != nil {
			return bad, err
		}
		line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return bad, cerr
			}
			input := lp.Input
			if input == "" {
				input = "stdin"
			}
			return bad, fmt.Errorf("read %s: %w", input, err)
		}
		if line.Err != nil {
			bad++
		}
		herr := handle(line)
		var rej *rejection
		switch {
		case herr == nil:
		case errors.Is(herr, Pass) && line.Err != nil && lp.Tell != nil:
			lp.Tell(line.Err)
		case errors.Is(herr, Pass):
			err = lp.write(line.Raw)
		case errors.As(herr, &rej):
			if line.Err == nil {
				bad++
			}
			err = lp.refused(line, rej.err)
		default:
			return bad, herr
		}
		if err != nil {
			return bad, err
		}
	}
}

func (lp *Loop) write(raw []byte) error {
	if lp.Out == nil {
		return nil
	}
	return lp.Out.WriteRaw(raw)
}

// refused tells of, or writes the error record of, a line the handler
// refused with err.
func (lp *Loop) refused(line Line, err error) error {
	if lp.Tell != nil {
		lp.Tell(NameLine(line.Num, err))
		return nil
	}
	if lp.Out == nil {
		return nil
	}
	rec := &Error{Source: lp.Source, Line: line.Num, Message: err.Error()}
	if line.Kind == "" { // a lenient line: not a record, so its text says what it was
		rec.Input = string(line.Raw)
	}
	return lp.Out.Write(rec)
}

// NameLine returns err naming input line num: err itself when its text
// names the line already (Line.Decode's errors do), else err prefixed with
// "line num: ".
func NameLine(num int, err error) error {
	if strings.Contains(err.Error(), fmt.Sprintf("line %d: ", num)) {
		return err
	}
	return fmt.Errorf("line %d: %w", num, err)
}
