package cli

import (
	"fmt"
	"go/doc/comment"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/ktstr-go/ktstr/lib/base/version"
)

// A tool's --help is its help.txt (HelpFile), in this order: the usage
// line and the text's first paragraph (what the tool does), the arguments,
// commands and flags, then the rest of the text (synopsis, explanation,
// examples). People look for the flags first; the text is still all there,
// as the package documentation has it.

// splitHelp cuts a tool's text after its first paragraph.
func splitHelp(help string) (summary, rest string) {
	summary, rest, _ = strings.Cut(strings.TrimSpace(help), "\n\n")
	return summary, strings.TrimSpace(rest)
}

// helpPrinter prints kong's help with the tool's text split around it (see
// above); a subcommand's help is kong's own.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	app := ctx.Model
	if ctx.Selected() != nil || app.Help == "" {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	full := app.Help
	summary, rest := splitHelp(full)
	app.Help = summary
	err := kong.DefaultHelpPrinter(options, ctx)
	app.Help = full
	if err != nil || rest == "" {
		return err
	}
	width := helpWidth(ctx.Stdout)
	if options.WrapUpperBound > 0 && width > options.WrapUpperBound {
		width = options.WrapUpperBound
	}
	var p comment.Parser
	pr := comment.Printer{TextCodePrefix: "    ", TextWidth: width}
	_, err = fmt.Fprintf(ctx.Stdout, "\n%s", pr.Text(p.Parse(rest)))
	return err
}

// helpWidth is the width kong wraps its help to: $COLUMNS, else the
// terminal's, else 80.
func helpWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if n := TerminalWidth(w); n > 0 {
		return n
	}
	return 80
}

// globalFlags are the flags cli.Parse gives every tool.
type globalFlags struct {
	Version versionFlag `help:"Print the tool's version (module version and VCS revision) and exit."`
}

// versionFlag prints the version line and exits, before anything else is
// checked (as --help does).
type versionFlag bool

// BeforeReset is kong's hook: it runs while parsing, before required
// arguments are checked.
func (versionFlag) BeforeReset(app *kong.Kong) error {
	fmt.Fprintln(app.Stdout, version.Read().Long(app.Model.Name))
	app.Exit(ExitOK)
	return nil
}
