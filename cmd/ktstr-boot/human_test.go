package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestTerminalOneLinePerRun (issue 17, item 6): with stdout on a real
// terminal the records go to a file under <cache>/runs and stdout gets one
// line per run with the outcome, wall time, --exec output and where the
// record and console log are, then the file's name.
func TestTerminalOneLinePerRun(t *testing.T) {
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	p, err := ptytest.Open(200)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	var errb bytes.Buffer
	s, err := newSink(p.TTY, &errb, false)
	if err != nil {
		t.Fatal(err)
	}
	w := record.NewWriter(s)
	run := &record.Run{ID: "r-1", Job: &record.Job{ID: "1n1l1c1t"}, Outcome: record.OutcomeCompleted,
		Timings: record.Timings{WallS: 31.4}, ConsoleLog: "/cache/logs/r-1.console.log",
		Exec: &record.ExecResult{Command: "echo hello", Stdout: "hello\n"}}
	if err := w.Write(run); err != nil {
		t.Fatal(err)
	}
	w.Write(&record.Error{Source: name, Line: 3, Message: "not a JSON object", Input: "garbage"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := p.Output()
	file := s.file.Name()
	for _, want := range []string{
		`COMPLETED 1n1l1c1t: r-1 in 31.4s  exec exit 0: "hello"  record ` + file + `:1  console /cache/logs/r-1.console.log`,
		`ERROR input line 3: not a JSON object (input "garbage")  record ` + file + `:2`,
		"records: " + file,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"kind"`) {
		t.Errorf("records on the terminal:\n%s", out)
	}
	if filepath.Dir(file) != filepath.Join(os.Getenv("KTSTR_CACHE_DIR"), "runs") {
		t.Errorf("records file %s not under the cache's runs directory", file)
	}
	b, _ := os.ReadFile(file)
	if strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), `"kind":"run"`) {
		t.Errorf("records file:\n%s", b)
	}
}

// TestPipedInputErrorsOnStderr (issue 17, item 10): piped, the records go
// to stdout unchanged and an input line's error is also said on stderr.
func TestPipedInputErrorsOnStderr(t *testing.T) {
	var out, errb bytes.Buffer
	// A kernel that resolves (--kernel is resolved before stdin is read)
	// but is never booted: no job comes of the input.
	image := filepath.Join(t.TempDir(), "bzImage")
	hdr := make([]byte, 0x400)
	copy(hdr[0x202:], "HdrS")
	hdr[0x20E] = 0x00 // version string at 0x200 + 0x100
	hdr[0x20F] = 0x01
	copy(hdr[0x300:], "6.12.0-test (ktstr) #1\x00")
	os.WriteFile(image, hdr, 0o644)
	code := run(context.Background(), strings.NewReader("garbage\n"), &out, &errb, []string{"--kernel", image})
	if !strings.Contains(out.String(), `"kind":"error"`) || !strings.Contains(out.String(), `"line":1`) {
		t.Errorf("stdout %q", out.String())
	}
	if !strings.Contains(errb.String(), `input line 1: not a JSON object (input "garbage"); wrote an error record for it to stdout`) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
