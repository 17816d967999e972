package cli

import (
	"bytes"
	"os"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
)

// TestHumanOutput: for people on a terminal, NDJSON on a pipe, a file or a
// buffer, and with --json anywhere; --format text and json force one,
// and --json with --format text is a usage error.
func TestHumanOutput(t *testing.T) {
	p, err := ptytest.Open(80)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer p.Output()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, _ := os.Open(os.DevNull) // a character device, not a terminal
	defer null.Close()
	if !Human(false, p.TTY) || Human(true, p.TTY) || Human(false, w) || Human(false, null) || Human(false, &bytes.Buffer{}) {
		t.Error("Human: want true only for a terminal without --json")
	}
	cases := []struct {
		f          Format
		tty, piped bool
	}{
		{Format{Format: "auto"}, true, false},
		{Format{Output: Output{JSON: true}, Format: "auto"}, false, false},
		{Format{Format: "json"}, false, false},
		{Format{Format: "text"}, true, true},
	}
	for _, c := range cases {
		tty, err1 := c.f.Human(p.TTY)
		piped, err2 := c.f.Human(w)
		if tty != c.tty || piped != c.piped || err1 != nil || err2 != nil {
			t.Errorf("%+v: terminal %v, pipe %v (%v %v); want %v, %v", c.f, tty, piped, err1, err2, c.tty, c.piped)
		}
	}
	if _, err := (Format{Output: Output{JSON: true}, Format: "text"}).Human(w); err == nil || err.Error() != "--json and --format text exclude each other" || Status(err) != ExitUsage {
		t.Errorf("--json --format text: %v", err)
	}
}
