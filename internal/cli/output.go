package cli

import "io"

// Every tool writes for people when its stdout is a terminal and NDJSON
// records when it is piped or redirected, or with --json; ktstr-boot and
// ktstr-verify first did so, and the others follow the same rule through
// these types.

// Human reports whether a tool writes for people: stdout is a terminal
// and NDJSON was not asked for (forceJSON, i.e. --json).
func Human(forceJSON bool, stdout io.Writer) bool {
	return !forceJSON && IsTerminal(stdout)
}

// Output is the --json switch; embed it in a command's flags.
type Output struct {
	JSON bool `name:"json" help:"NDJSON records on stdout even when it is a terminal (there, by default, the output is for people; piped, it is always NDJSON)."`
}

// Human is the package-level Human for o.
func (o Output) Human(stdout io.Writer) bool { return Human(o.JSON, stdout) }

// Format is Output for the commands that took --format before the rule
// existed: --format json is --json, --format text asks for the human form
// even when piped, auto (the default) is the rule.
type Format struct {
	Output `embed:""`
	Format string `default:"auto" enum:"auto,json,text" help:"auto: for people on a terminal, NDJSON piped; json: NDJSON (as --json); text: for people even when piped."`
}

// Human reports whether to write for people; --json with --format text is
// a usage error.
func (f Format) Human(stdout io.Writer) (bool, error) {
	switch {
	case f.JSON && f.Format == "text":
		return false, Usagef("--json and --format text exclude each other")
	case f.Format == "text":
		return true, nil
	case f.Format == "json" || f.JSON:
		return false, nil
	}
	return IsTerminal(stdout), nil
}
