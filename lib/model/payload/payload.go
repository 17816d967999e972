// Package payload defines benchmark payloads as data: a real binary a
// scenario runs in a cgroup (the run_payload op), its default arguments, how
// its output becomes metrics (exit code only, JSON, or a parser for a known
// tool), each metric's polarity and unit, the checks it gets by default and
// the files it needs in the guest.
//
// The built-in definitions are hackbench and cyclictest (Debian rt-tests),
// stress-ng and `perf bench sched` (Debian linux-perf): see Builtins. A
// scenario may also carry a definition of its own (lib/model/scenario's
// payload_def).
//
// A definition is host data and guest data at once: the host adds Binary
// and Include to the job's includes (lib/host/plan), which reach the guest's
// /include with their shared libraries; the guest's engine (lib/model/scenario/
// engine) runs it and calls Extract on what it printed.
package payload

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/base/jsonstrict"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Polarities of a metric: which direction is better.
const (
	LowerBetter  = "lower"
	HigherBetter = "higher"
)

// Output formats: how a payload's output becomes metrics.
const (
	// OutputExitCode: no metrics, only the exit status.
	OutputExitCode = "exit_code"
	// OutputJSON: every numeric leaf of a JSON document (the output file
	// if the definition has one, else standard output, else standard
	// error), named by its dotted path.
	OutputJSON = "json"
	// The known tools' parsers (parse.go).
	OutputHackbench  = "hackbench"
	OutputCyclictest = "cyclictest"
	OutputStressNG   = "stress-ng"
	OutputPerfBench  = "perf-bench"
)

// Outputs lists the output formats.
var Outputs = []string{OutputExitCode, OutputJSON, OutputHackbench, OutputCyclictest, OutputStressNG, OutputPerfBench}

// OutFile is the argument placeholder replaced by the path of a file the
// payload writes its results to (cyclictest --json=FILE, stress-ng --yaml
// FILE); the parser reads that file.
const OutFile = "{out}"

// Definition is a payload.
type Definition struct {
	Name string `json:"name"`
	// Description says what it measures, in one line.
	Description string `json:"description,omitempty"`
	// Binary is a name looked up in $PATH on the host (in the guest: in
	// /include, where the host put it), or a path.
	Binary string `json:"binary"`
	// Package is the Debian package that installs Binary, for the error
	// when it is missing.
	Package string `json:"package,omitempty"`
	// Args are the default arguments; a run_payload op's args replace
	// them. OutFile in an argument becomes the results file's path.
	Args []string `json:"args,omitempty"`
	// Output is one of Outputs.
	Output string `json:"output"`
	// Metrics are the metrics the output gives, with polarity and unit. A
	// name "*.x" matches x under any prefix (stress-ng's per-stressor
	// metrics). Metrics the output gives that match no hint are kept,
	// higher is better.
	Metrics []MetricHint `json:"metrics,omitempty"`
	// Checks are the default checks (the first layer; see lib/judge/verdict).
	Checks record.PayloadLimits `json:"checks,omitempty"`
	// Include are further host files the payload needs in the guest,
	// put in /include like Binary.
	Include []string `json:"include,omitempty"`
}

// MetricHint is one metric a payload's output gives.
type MetricHint struct {
	Name     string `json:"name"`
	Polarity string `json:"polarity"`
	Unit     string `json:"unit,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// Builtins are the shipped definitions. Their default arguments keep a run
// to a few seconds under emulation (TCG): a scenario that wants more passes
// its own args.
func Builtins() []*Definition {
	return []*Definition{
		{
			Name: "hackbench", Binary: "hackbench", Package: "rt-tests",
			Description: "hackbench (rt-tests): groups of processes exchanging messages over sockets; the time it took",
			Args:        []string{"-g", "2", "-f", "4", "-l", "200"},
			Output:      OutputHackbench,
			Metrics: []MetricHint{
				{Name: "time_s", Polarity: LowerBetter, Unit: "s", Doc: "wall time of the whole exchange (its \"Time:\" line)"},
			},
			Checks: record.PayloadLimits{ExitCode: ptr(0), Metrics: map[string]record.MetricLimit{"time_s": {Exists: ptr(true)}}},
		},
		{
			Name: "cyclictest", Binary: "cyclictest", Package: "rt-tests",
			Description: "cyclictest (rt-tests): timer wake-up latency of one SCHED_OTHER thread per CPU it may use (-t), 1 ms interval",
			Args:        []string{"-q", "-D", "3", "-i", "1000", "-t", "2", "--json=" + OutFile},
			Output:      OutputCyclictest,
			Metrics: []MetricHint{
				{Name: "max_latency_us", Polarity: LowerBetter, Unit: "µs", Doc: "largest wake-up latency of any thread"},
				{Name: "avg_latency_us", Polarity: LowerBetter, Unit: "µs", Doc: "mean wake-up latency over all threads' cycles"},
				{Name: "min_latency_us", Polarity: LowerBetter, Unit: "µs", Doc: "smallest wake-up latency of any thread"},
				{Name: "cycles", Polarity: HigherBetter, Doc: "timer cycles of all threads"},
				{Name: "threads", Polarity: HigherBetter, Doc: "threads that reported"},
			},
			Checks: record.PayloadLimits{ExitCode: ptr(0), Metrics: map[string]record.MetricLimit{"max_latency_us": {Exists: ptr(true)}}},
		},
		{
			Name: "stress-ng", Binary: "stress-ng", Package: "stress-ng",
			Description: "stress-ng: two context-switch stressors (--switch 2) for 3 s; bogo-ops rates per stressor from its YAML metrics",
			Args:        []string{"--switch", "2", "--timeout", "3s", "--metrics", "--yaml", OutFile},
			Output:      OutputStressNG,
			Metrics: []MetricHint{
				{Name: "*.bogo_ops", Polarity: HigherBetter, Doc: "bogo operations done"},
				{Name: "*.bogo_ops_per_second_real_time", Polarity: HigherBetter, Unit: "ops/s", Doc: "bogo operations per wall second"},
				{Name: "*.bogo_ops_per_second_usr_sys_time", Polarity: HigherBetter, Unit: "ops/s", Doc: "bogo operations per CPU second"},
				{Name: "*.wall_clock_time", Polarity: LowerBetter, Unit: "s"},
				{Name: "*.user_time", Polarity: LowerBetter, Unit: "s"},
				{Name: "*.system_time", Polarity: LowerBetter, Unit: "s"},
				{Name: "*.cpu_usage_per_instance", Polarity: HigherBetter, Unit: "%"},
				{Name: "*.max_rss", Polarity: LowerBetter, Unit: "KB"},
				{Name: "*.nanosecs_per_context_switch_pipe_method", Polarity: LowerBetter, Unit: "ns"},
			},
			Checks: record.PayloadLimits{ExitCode: ptr(0), Metrics: map[string]record.MetricLimit{"switch.bogo_ops_per_second_real_time": {Exists: ptr(true)}}},
		},
		{
			Name: "perf-sched-messaging", Binary: "perf", Package: "linux-perf",
			Description: "perf bench sched messaging: hackbench's workload in perf (1 group, 100 loops); its total time",
			Args:        []string{"bench", "sched", "messaging", "-g", "1", "-l", "100"},
			Output:      OutputPerfBench,
			Metrics: []MetricHint{
				{Name: "total_time_s", Polarity: LowerBetter, Unit: "s", Doc: "its \"Total time:\" line"},
			},
			Checks: record.PayloadLimits{ExitCode: ptr(0), Metrics: map[string]record.MetricLimit{"total_time_s": {Exists: ptr(true)}}},
		},
		{
			Name: "perf-sched-pipe", Binary: "perf", Package: "linux-perf",
			Description: "perf bench sched pipe: two processes ping-ponging over a pipe (20000 round trips); time per operation",
			Args:        []string{"bench", "sched", "pipe", "-l", "20000"},
			Output:      OutputPerfBench,
			Metrics: []MetricHint{
				{Name: "total_time_s", Polarity: LowerBetter, Unit: "s"},
				{Name: "usecs_per_op", Polarity: LowerBetter, Unit: "µs"},
				{Name: "ops_per_s", Polarity: HigherBetter, Unit: "ops/s"},
			},
			Checks: record.PayloadLimits{ExitCode: ptr(0), Metrics: map[string]record.MetricLimit{"usecs_per_op": {Exists: ptr(true)}}},
		},
	}
}

// Lookup finds a built-in definition by name.
func Lookup(name string) (*Definition, bool) {
	for _, d := range Builtins() {
		if d.Name == name {
			return d, true
		}
	}
	return nil, false
}

// Names lists the built-in definitions' names.
func Names() []string {
	var out []string
	for _, d := range Builtins() {
		out = append(out, d.Name)
	}
	return out
}

// Parse decodes a definition strictly (jsonstrict: unknown fields are
// errors) and validates it.
func Parse(data []byte) (*Definition, error) {
	var d Definition
	if err := jsonstrict.Decode(data, &d); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks a definition's fields: a name, a binary, a known output
// format, metric hints with a polarity, and checks of metrics it can give.
func (d *Definition) Validate() error {
	if !SimpleName(d.Name) {
		return fmt.Errorf("payload: name %q: want letters, digits, '_', '-' or '.'", d.Name)
	}
	if d.Binary == "" {
		return fmt.Errorf("payload %s: binary is required", d.Name)
	}
	if !slices.Contains(Outputs, d.Output) {
		return fmt.Errorf("payload %s: output %q: want one of %s", d.Name, d.Output, strings.Join(Outputs, ", "))
	}
	for _, m := range d.Metrics {
		if !SimpleName(strings.TrimPrefix(m.Name, "*.")) {
			return fmt.Errorf("payload %s: metric %q: want letters, digits, '_', '-' or '.'", d.Name, m.Name)
		}
		if m.Polarity != LowerBetter && m.Polarity != HigherBetter {
			return fmt.Errorf("payload %s: metric %s: polarity %q: want %q or %q", d.Name, m.Name, m.Polarity, LowerBetter, HigherBetter)
		}
	}
	if d.Output == OutputExitCode && len(d.Checks.Metrics) > 0 {
		return fmt.Errorf("payload %s: output exit_code gives no metrics to check", d.Name)
	}
	return nil
}

// Hint returns the hint for metric name: an exact one, else a "*.x" one
// whose x ends the name after a dot; ok is false when none matches.
func (d *Definition) Hint(name string) (MetricHint, bool) {
	for _, m := range d.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	for _, m := range d.Metrics {
		if suffix, ok := strings.CutPrefix(m.Name, "*"); ok && strings.HasSuffix(name, suffix) && len(name) > len(suffix) {
			return m, true
		}
	}
	return MetricHint{}, false
}

// Argv is the command line of a run: Binary as found at bin, then args (nil:
// the defaults) with OutFile replaced by out.
func (d *Definition) Argv(bin string, args []string, out string) []string {
	if args == nil {
		args = d.Args
	}
	argv := []string{bin}
	for _, a := range args {
		argv = append(argv, strings.ReplaceAll(a, OutFile, out))
	}
	return argv
}

// UsesOutFile reports whether a run with args (nil: the defaults) writes a
// results file.
func (d *Definition) UsesOutFile(args []string) bool {
	if args == nil {
		args = d.Args
	}
	return slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, OutFile) })
}

// HostFiles resolves Binary and Include to host paths, for the guest image:
// a name without a slash is looked up in $PATH. A missing binary is an
// error naming the package that installs it.
func (d *Definition) HostFiles() ([]string, error) {
	bin := d.Binary
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			hint := ""
			if b, ok := Lookup(d.Name); ok && b.Package == d.Package && d.Package != "" {
				hint = fmt.Sprintf(" (Debian package %s; scripts/install-deps.sh installs it)", d.Package)
			} else if d.Package != "" {
				hint = fmt.Sprintf(" (Debian package %s)", d.Package)
			}
			return nil, fmt.Errorf("payload %s: %s not found in $PATH%s", d.Name, bin, hint)
		}
		bin = p
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("payload %s: %w", d.Name, err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", d.Name, err)
	}
	out := []string{abs}
	for _, inc := range d.Include {
		p, err := filepath.Abs(inc)
		if err != nil {
			return nil, fmt.Errorf("payload %s: include %s: %w", d.Name, inc, err)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("payload %s: include: %w", d.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// GuestBinary is where Binary is in a guest whose /include (includeDir)
// holds it: the file of that name there if it exists, else Binary as
// given (a path, or a name for $PATH: bare metal runs the host's).
func (d *Definition) GuestBinary(includeDir string) string {
	p := filepath.Join(includeDir, path.Base(d.Binary))
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p
	}
	if !strings.Contains(d.Binary, "/") {
		if lp, err := exec.LookPath(d.Binary); err == nil {
			return lp
		}
	}
	return d.Binary
}

// SimpleName reports whether s is a metric or payload name: 1 to 64 of
// letters, digits, '_', '-' and '.'.
func SimpleName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
