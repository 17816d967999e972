package record_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// errorRecords decodes the error records of an output.
func errorRecords(t *testing.T, out string) []record.Error {
	t.Helper()
	var errs []record.Error
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, `{"kind":"error"`) {
			var e record.Error
			if err := record.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			errs = append(errs, e)
		}
	}
	return errs
}

// TestLoopPassesThrough: what the handler passes on comes out byte for
// byte (unknown fields, spacing, escapes, key order); what it consumes
// does not; a malformed line becomes an error record naming it and is
// counted.
func TestLoopPassesThrough(t *testing.T) {
	job := `{"kind":"job","v":1,  "id":"a\u00e9",  "zzz_future_field":{"x":[1,2]},"topology":null}`
	skip := `{"v":1,"kind":"skip","subject":"s","reason":"r","detail":"<&>"}`
	in := job + "\n\n" + `{"kind":"run","v":1,"id":"r1"}` + "\n{not json\n" + skip + "\n" + `{"kind":"nope","v":1}` + "\n"
	var out bytes.Buffer
	var seen []string
	loop := record.Loop{Source: "tool", Out: record.NewWriter(&out)}
	bad, err := loop.Run(context.Background(), strings.NewReader(in), func(l record.Line) error {
		seen = append(seen, fmt.Sprintf("%d:%s", l.Num, l.Kind))
		if l.Kind == record.KindRun {
			return nil // consumed
		}
		return record.Pass
	})
	if err != nil || bad != 2 {
		t.Fatalf("bad %d, err %v; want 2 bad lines and no error", bad, err)
	}
	if strings.Join(seen, " ") != "1:job 3:run 4:error 5:skip 6:error" {
		t.Errorf("handler saw %v", seen)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 || lines[0] != job || lines[2] != skip {
		t.Fatalf("passed on:\n%s", out.String())
	}
	errs := errorRecords(t, out.String())
	if len(errs) != 2 || errs[0].Line != 4 || errs[0].Source != "tool" || !strings.Contains(errs[0].Message, "not a JSON object") && !strings.Contains(errs[0].Message, "invalid JSON") ||
		errs[1].Line != 6 || !strings.Contains(errs[1].Message, `unknown kind "nope"`) {
		t.Errorf("error records %+v", errs)
	}
}

// TestLoopRejects: a refused line is an error record naming it (a lenient
// line's text as its input), or is told; either way it counts.
func TestLoopRejects(t *testing.T) {
	in := "1,1,2,1\nbogus\n" + `{"kind":"run","v":1,"id":5}` + "\n"
	handle := func(l record.Line) error {
		switch {
		case l.Kind == record.KindRun:
			var r record.Run
			return record.Reject(l.Decode(&r))
		case l.Kind == "" && string(l.Raw) == "bogus":
			return record.Reject(errors.New("not a spec"))
		case l.Err != nil:
			return record.Pass // a malformed line: its error record
		}
		return nil
	}
	var out bytes.Buffer
	loop := record.Loop{Source: "tool", Lenient: true, Out: record.NewWriter(&out)}
	bad, err := loop.Run(context.Background(), strings.NewReader(in), handle)
	if err != nil || bad != 2 {
		t.Fatalf("bad %d, err %v", bad, err)
	}
	errs := errorRecords(t, out.String())
	if len(errs) != 2 || errs[0] != (record.Error{Source: "tool", Line: 2, Message: "not a spec", Input: "bogus"}) ||
		errs[1].Line != 3 || errs[1].Input != "" || !strings.HasPrefix(errs[1].Message, "line 3: decode run record: ") {
		t.Errorf("error records %+v", errs)
	}

	// Told instead: each bad line once, naming its line once; nothing
	// written.
	out.Reset()
	var told []string
	loop.Tell = func(err error) { told = append(told, err.Error()) }
	bad, err = loop.Run(context.Background(), strings.NewReader(in+"{x\n"), handle)
	if err != nil || bad != 3 || out.Len() != 0 || len(told) != 3 ||
		told[0] != "line 2: not a spec" || !strings.HasPrefix(told[1], "line 3: decode run record: ") || !strings.HasPrefix(told[2], "line 4: ") ||
		strings.Count(strings.Join(told, "|"), "line 3") != 1 || strings.Count(strings.Join(told, "|"), "line 4") != 1 {
		t.Errorf("bad %d, err %v, out %q, told %q", bad, err, out.String(), told)
	}
}

// TestLoopStops: a handler's error, a read error, a write error and a
// cancelled context end the loop, each with its error.
func TestLoopStops(t *testing.T) {
	in := `{"kind":"run","v":1}` + "\n" + `{"kind":"run","v":1}` + "\n"
	stop := errors.New("stop")
	calls := 0
	loop := record.Loop{Source: "tool"}
	if _, err := loop.Run(context.Background(), strings.NewReader(in), func(record.Line) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("handler error: %v after %d calls", err, calls)
	}
	broken := io.MultiReader(strings.NewReader(in), iotestErr{})
	loop.Input = "runs.ndjson"
	if _, err := loop.Run(context.Background(), broken, func(record.Line) error { return nil }); err == nil || err.Error() != "read runs.ndjson: disk on fire" {
		t.Errorf("read error: %v", err)
	}
	loop.Out = record.NewWriter(failWriter{})
	if _, err := loop.Run(context.Background(), strings.NewReader(in), func(record.Line) error { return record.Pass }); err == nil || !strings.Contains(err.Error(), "pipe gone") {
		t.Errorf("write error: %v", err)
	}

	// Cancelled by the handler: no further line is handled.
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	if _, err := (&record.Loop{}).Run(ctx, strings.NewReader(in+in), func(record.Line) error { calls++; cancel(); return nil }); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled: %v after %d calls", err, calls)
	}

	// Cancelled while waiting for input that does not come (stdin is a
	// terminal or a pipe whose writer stays open): the tools' stdin is a
	// cli.CancelReader, whose read returns when ctx is cancelled.
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	handled := make(chan struct{}, 1)
	go func() {
		_, err := (&record.Loop{}).Run(ctx, cli.CancelReader(ctx, pr), func(record.Line) error { handled <- struct{}{}; return nil })
		done <- err
	}()
	pw.Write([]byte(`{"kind":"run","v":1}` + "\n"))
	<-handled
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled during a read: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not stop when its context was cancelled")
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("pipe gone") }

func TestNameLine(t *testing.T) {
	if got := record.NameLine(3, errors.New("bad spec")).Error(); got != "line 3: bad spec" {
		t.Errorf("got %q", got)
	}
	if got := record.NameLine(3, errors.New("not stored: line 3: decode run record: x")).Error(); got != "not stored: line 3: decode run record: x" {
		t.Errorf("got %q", got)
	}
	if got := record.NameLine(1, errors.New("line 12: x")).Error(); got != "line 1: line 12: x" {
		t.Errorf("got %q", got)
	}
}
