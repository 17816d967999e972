// Package cli is the plumbing every ktstr-* command shares: kong parsing that
// returns instead of exiting, the exit-status contract, and a main that turns
// SIGINT/SIGTERM into context cancellation.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"
)

// Exit statuses shared by every tool.
const (
	// ExitOK: everything passed.
	ExitOK = 0
	// ExitFail: a verdict failed, a regression was found, a run did not
	// complete.
	ExitFail = 1
	// ExitUsage: bad flags, arguments or input lines.
	ExitUsage = 2
	// ExitInconclusive: nothing failed, but the worst verdict is
	// inconclusive (the measured host noise explains a violation), which is
	// neither a pass nor a fail.
	ExitInconclusive = 3
	// ExitInterrupted: stopped by SIGINT or SIGTERM after cleaning up.
	ExitInterrupted = 130
)

// RunFunc is a tool's testable entry point.
type RunFunc func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int

// Main runs run with the process's streams and arguments and exits with its
// status. SIGINT and SIGTERM cancel the context; run is expected to clean up
// and return, after which Main exits with ExitInterrupted. A read of stdin
// blocked when the signal arrives returns the context's error (see
// CancelReader), so a tool waiting for input stops too.
func Main(run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, CancelReader(ctx, os.Stdin), os.Stdout, os.Stderr, os.Args[1:])
	interrupted := ctx.Err() != nil
	stop()
	if interrupted && code == ExitOK {
		code = ExitInterrupted
	}
	os.Exit(code)
}

// exitRequest carries kong's exit status out of a --help or parse failure.
type exitRequest struct{ code int }

// Parse parses args into grammar. It returns the kong context, or done=true
// and the status to exit with when parsing already finished the job
// (--help; --version; --completion SHELL, which prints the shell completion
// script; --complete-values KIND, which a completion script runs) or failed
// (a one-line error on stderr, status ExitUsage). Every tool gets --version
// from here, and its --help text split around the flags (see helpPrinter).
func Parse(name, description string, grammar any, args []string, stdout, stderr io.Writer, opts ...kong.Option) (kctx *kong.Context, code int, done bool) {
	options := append([]kong.Option{
		kong.Name(name),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitRequest{c}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.Help(helpPrinter),
		kong.Embed(&globalFlags{}),
	}, opts...)
	parser, err := kong.New(grammar, options...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: internal error: %v\n", name, err)
		return nil, ExitUsage, true
	}
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			kctx, code, done = nil, req.code, true
		}
	}()
	if kind, ok := flagValue(args, ValuesFlag); ok {
		writeValues(stdout, grammar, kind)
		return nil, ExitOK, true
	}
	if shell, ok := completionShell(args); ok {
		var words map[string][]string
		if c, ok := grammar.(Completer); ok {
			words = c.CompletionWords()
		}
		script, err := Completion(parser.Model, shell, words)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return nil, ExitUsage, true
		}
		io.WriteString(stdout, script)
		return nil, ExitOK, true
	}
	kctx, err = parser.Parse(joinDashValues(parser.Model, args))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", name, err, name)
		return nil, ExitUsage, true
	}
	return kctx, ExitOK, false
}

// joinDashValues lets a flag tagged dashvalue:"" take a value that starts
// with a dash in its own word (--scheduler-args "-e 100"), which kong
// would read as a flag: "--flag" followed by "-..." becomes "--flag=-...".
// Nothing after "--" is touched.
func joinDashValues(app *kong.Application, args []string) []string {
	dash := map[string]bool{}
	for _, f := range app.Flags {
		if f.Tag.Has("dashvalue") {
			dash["--"+f.Name] = true
		}
	}
	if len(dash) == 0 {
		return args
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if dash[a] && i+1 < len(args) && strings.HasPrefix(args[i+1], "-") && args[i+1] != "--" {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// ErrUsage is what every usage error is (errors.Is): the user's input is
// wrong as given — a flag, an argument, a file, an input line, a job —
// rather than this machine failing or what ran failing. Tools report it in
// one line and exit with ExitUsage. A *UsageError is one; an error type of
// a library that is always the user's doing says so with an Is method
// (kernel.SpecError).
var ErrUsage = errors.New("usage error")

// UsageError is the usage error: Err says what is wrong.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Is makes every UsageError ErrUsage.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Usage returns err as a usage error: err itself when it is one already,
// nil for nil.
func Usage(err error) error {
	if err == nil || errors.Is(err, ErrUsage) {
		return err
	}
	return &UsageError{err}
}

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// BadLines is the usage error of an input stream with n bad lines, each
// already told (as an error record, or on a terminal as a line).
func BadLines(n int) error {
	return Usagef("%d bad input line(s); see the error records", n)
}

// Status maps an error to an exit status: nil → ExitOK, a usage error
// (ErrUsage) → ExitUsage, a cancelled context → ExitInterrupted, anything
// else → ExitFail.
func Status(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	default:
		return ExitFail
	}
}

// Report prints err as one line prefixed with the tool's name and returns
// its exit status.
func Report(stderr io.Writer, name string, err error) int {
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "%s: interrupted; partial work removed\n", name)
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	return Status(err)
}

// IsTerminal reports whether w is a terminal (for progress lines and
// human output). A character device is not enough: /dev/null is one.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty(f)
}

func isatty(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// TerminalWidth is w's width in columns when w is a terminal, else 0.
func TerminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
