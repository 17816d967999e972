package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/base/version"
)

const toolHelp = `tool does one thing well.

Synopsis:

	tool [flags] SPEC

A longer explanation of what tool does, which goes on for a while so that
it wraps.

Examples:

	tool 1,2,4,2      # a comment
`

type helpGrammar struct {
	Spec  string `arg:"" help:"What to do."`
	Level int    `help:"How much."`
}

// normalize joins a text's words, so that wrapping does not count.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestHelpStartsWithUsageAndFlags (issue 25, item 7): --help is the usage
// line and the text's first paragraph, the arguments and flags, then the
// rest of the text; all of help.txt is still there.
func TestHelpStartsWithUsageAndFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if _, code, done := Parse("tool", toolHelp, &helpGrammar{}, []string{"--help"}, &out, &errb); !done || code != ExitOK {
		t.Fatalf("--help: done %v, exit %d: %s", done, code, errb.String())
	}
	h := out.String()
	if !strings.HasPrefix(h, "Usage: tool <spec> [flags]\n\ntool does one thing well.\n\nArguments:") {
		t.Errorf("--help does not start with the usage, the summary and the arguments:\n%s", h)
	}
	flags, synopsis := strings.Index(h, "--level=INT"), strings.Index(h, "Synopsis:")
	if flags < 0 || synopsis < flags {
		t.Errorf("the flags (at %d) do not come before the rest of the text (at %d):\n%s", flags, synopsis, h)
	}
	for _, para := range strings.Split(toolHelp, "\n\n") {
		if !strings.Contains(normalize(h), normalize(para)) {
			t.Errorf("--help lost %q:\n%s", para, h)
		}
	}
	if !strings.Contains(h, "\n    tool 1,2,4,2      # a comment\n") {
		t.Errorf("a code block is not kept as it is:\n%s", h)
	}
}

// TestVersionFlag (issue 25, item 4): every tool has --version (the module
// version and the VCS revision), before required arguments are checked
// and under a subcommand too.
func TestVersionFlag(t *testing.T) {
	want := version.Read().Long("tool") + "\n"
	for _, args := range [][]string{{"--version"}, {"x", "--version"}} {
		var out, errb bytes.Buffer
		if _, code, done := Parse("tool", toolHelp, &helpGrammar{}, args, &out, &errb); !done || code != ExitOK || out.String() != want {
			t.Errorf("%q: done %v, exit %d, %q %q; want %q", args, done, code, out.String(), errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if _, code, done := Parse("tool", "a tool", &compGrammar{}, []string{"build", "--version"}, &out, &errb); !done || code != ExitOK || !strings.HasPrefix(out.String(), "tool ") {
		t.Errorf("subcommand: done %v, exit %d, %q %q", done, code, out.String(), errb.String())
	}
}
