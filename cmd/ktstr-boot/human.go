package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// sink receives ktstr-boot's records, one Write per record line (see
// record.Writer). Piped (or with --json) the records go to stdout as they
// are; input errors are also said on stderr in one line, since the error
// record itself may end up in a file or a filter. On a terminal the records
// go to a file under the cache's runs directory and stdout gets one human
// line per record: outcome, wall time, the --exec output, where the record
// and the console log are.
type sink struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
	// file, when set, holds the records (human mode); lines counts them.
	file  *os.File
	lines int
	// runs are the run ids printed, whose runner log lines are redundant.
	runs map[string]bool
}

// runsDir is where a terminal session's records are kept.
func runsDir() (string, error) { return cachedir.Sub("runs") }

// newSink returns the sink for stdout: human when stdout is a terminal and
// json is false.
func newSink(stdout, stderr io.Writer, json bool) (*sink, error) {
	s := &sink{stdout: stdout, stderr: stderr, runs: map[string]bool{}}
	if !cli.Human(json, stdout) {
		return s, nil
	}
	dir, err := runsDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runs directory: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.ndjson", time.Now().UTC().Format("20060102T150405Z"), os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("runs file: %w", err)
	}
	s.file = f
	return s, nil
}

// clearLine starts a human line on a terminal where the runner's progress
// line (on stderr, the same terminal) may stand unfinished: carriage
// return, erase to the end of the line.
const clearLine = "\r\x1b[K"

// human reports whether records go to a file and stdout is for people.
func (s *sink) human() bool { return s.file != nil }

func (s *sink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := bytes.TrimSuffix(b, []byte("\n"))
	var h struct {
		Kind record.Kind `json:"kind"`
	}
	json.Unmarshal(line, &h)
	if !s.human() {
		if h.Kind == record.KindError {
			var e record.Error
			if record.Unmarshal(line, &e) == nil && e.Line > 0 {
				fmt.Fprintf(s.stderr, "%s: input line %d: %s%s; wrote an error record for it to stdout\n", name, e.Line, e.Message, quoted(e.Input))
			}
		}
		return s.stdout.Write(b)
	}
	if _, err := s.file.Write(b); err != nil {
		return 0, fmt.Errorf("runs file: %w", err)
	}
	s.lines++
	where := fmt.Sprintf("%s:%d", s.file.Name(), s.lines)
	switch h.Kind {
	case record.KindRun:
		var r record.Run
		if err := record.Unmarshal(line, &r); err == nil {
			s.runs[r.ID] = true
			fmt.Fprintln(s.stdout, clearLine+runLine(&r, where))
		}
	case record.KindError:
		// A job's error is already on stderr (the runner's log); an input
		// line's is said nowhere else.
		var e record.Error
		if record.Unmarshal(line, &e) == nil && e.Line > 0 {
			fmt.Fprintf(s.stdout, "%sERROR input line %d: %s%s  record %s\n", clearLine, e.Line, e.Message, quoted(e.Input), where)
		}
	case record.KindSkip:
		var k record.Skip
		if record.Unmarshal(line, &k) == nil {
			fmt.Fprintf(s.stdout, "%sSKIP %s: %s  record %s\n", clearLine, k.Subject, k.Detail, where)
		}
	}
	return len(b), nil
}

// Close ends the records file and says where it is.
func (s *sink) Close() error {
	if !s.human() {
		return nil
	}
	err := s.file.Close()
	if s.lines == 0 {
		os.Remove(s.file.Name())
		return err
	}
	fmt.Fprintf(s.stdout, "%srecords: %s  (judge: ktstr-verify < %s)\n", clearLine, s.file.Name(), s.file.Name())
	return err
}

// runLine is a run in one line: outcome and reason, wall time, the --exec
// result, the record's and the console log's place.
func runLine(r *record.Run, where string) string {
	var b strings.Builder
	job := "-"
	if r.Job != nil {
		job = r.Job.ID
	}
	fmt.Fprintf(&b, "%s %s: %s in %.1fs", strings.ToUpper(string(r.Outcome)), job, r.ID, r.Timings.WallS)
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	if e := r.Exec; e != nil {
		out := strings.TrimSpace(e.Stdout + e.Stderr)
		out = strings.Join(strings.Fields(out), " ")
		if len(out) > 120 {
			out = out[:120] + "…"
		}
		fmt.Fprintf(&b, "  exec exit %d: %q", e.ExitCode, out)
	}
	fmt.Fprintf(&b, "  record %s  console %s", where, r.ConsoleLog)
	return b.String()
}

func quoted(input string) string {
	if input == "" {
		return ""
	}
	return fmt.Sprintf(" (input %q)", input)
}

// logFilter passes the runner's log lines to w, except each run's summary
// line when the sink already printed that run on stdout (the same
// terminal).
type logFilter struct {
	w    io.Writer
	sink *sink
}

func (l *logFilter) Write(b []byte) (int, error) {
	if rest, ok := bytes.CutPrefix(b, []byte(name+": ")); ok {
		id, _, _ := bytes.Cut(rest, []byte(" "))
		l.sink.mu.Lock()
		dup := l.sink.runs[string(id)]
		l.sink.mu.Unlock()
		if dup {
			return len(b), nil
		}
	}
	return l.w.Write(b)
}

// stdinHint is said when ktstr-boot would wait for records on a terminal.
const stdinHint = name + `: reading topology or job records from stdin (this terminal); end with Ctrl-D.
  e.g.  ktstr-topo 1,1,2,1 | ktstr-boot    or    ktstr-boot --topology 1,1,2,1
`

// warner prints the planner's warnings on stderr, over the progress line
// when stderr is a terminal.
func warner(stderr io.Writer) func(string) {
	prefix := ""
	if cli.IsTerminal(stderr) {
		prefix = clearLine
	}
	return func(w string) { fmt.Fprintf(stderr, "%s%s: warning: %s\n", prefix, name, w) }
}
