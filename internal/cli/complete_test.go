package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type compGrammar struct {
	Accel    string   `enum:"auto,kvm,tcg" default:"auto"`
	Scenario string   `help:"comma-separated"`
	Kernel   []string `help:"Kernel labels. And more."`
	Include  []string `short:"i"`
	LogDir   string   `name:"log-dir" type:"path"`
	Dmesg    bool
	Jobs     int `short:"j"`
	Build    struct {
		Profile string `enum:"minimal,defconfig" default:"minimal"`
		Spec    string `arg:"" optional:""`
	} `cmd:"" help:"Build it. Really."`
	List struct {
		A []string `name:"a" help:"Side A's filter."`
	} `cmd:"" help:"List what's there."`
}

func (*compGrammar) CompletionWords() map[string][]string {
	return map[string][]string{
		"scenario":    {"all", "cgroup_steady", "cgroup_uneven"},
		"include":     {FileWords, "special"},
		"kernel":      {"6.12", Values("kernel")},
		Args("build"): {"6.12", Values("kernel")},
		"a":           {"scenario=", "label=", KeyValues("label=", "label"), KeyValues("kernel=", "kernel")},
	}
}

// CompletionValues stands for the kernel cache and the store.
func (*compGrammar) CompletionValues(kind string) ([]string, error) {
	switch kind {
	case "kernel":
		return []string{"kernel_6_12_117", "kernel_6_12_117_preempt"}, nil
	case "label":
		return []string{"nightly", "a", "ab"}, nil
	}
	return nil, fmt.Errorf("no values of %s", kind)
}

// toolOnPath puts an executable "tool" on $PATH that runs this grammar's
// --complete-values through Parse (the test binary, re-run), as the
// completion scripts call the real tool.
func toolOnPath(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nKTSTR_TEST_TOOL=1 exec " + exe + " -test.run '^TestHelperTool$' -- \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// TestHelperTool is the "tool" of toolOnPath, not a test of its own.
func TestHelperTool(t *testing.T) {
	if os.Getenv("KTSTR_TEST_TOOL") == "" {
		t.Skip("run by the completion tests as their tool")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	_, code, _ := Parse("tool", "a tool", &compGrammar{}, args, os.Stdout, os.Stderr)
	os.Exit(code)
}

// bashWords splits a command line as bash does for COMP_WORDS: at blanks,
// and at = (in COMP_WORDBREAKS), which becomes a word of its own.
func bashWords(line string) []string {
	var words []string
	for _, f := range strings.Split(line, " ") {
		for i, piece := range strings.Split(f, "=") {
			if i > 0 {
				words = append(words, "=")
			}
			if piece != "" || i == 0 {
				words = append(words, piece)
			}
		}
	}
	return words
}

// complete runs the generated function in shell (bash, or zsh through its
// bash emulation) on line, completing at its end, and returns COMPREPLY,
// sorted. bash gets COMP_WORDS split as bash splits them, zsh whole words.
func complete(t *testing.T, shell, script, line string) []string {
	t.Helper()
	words := strings.Split(line, " ")
	if shell == "bash" {
		words = bashWords(line)
	}
	var q []string
	for _, w := range words {
		q = append(q, "'"+w+"'")
	}
	prog := script + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
		"\nCOMP_LINE='" + line + "'\nCOMP_POINT=" + strconv.Itoa(len(line)) +
		"\n_tool\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	var cmd *exec.Cmd
	if shell == "bash" {
		cmd = exec.Command("bash", "--norc", "--noprofile")
	} else {
		// As zsh runs a bash completion function: sh emulation, 0-based
		// arrays.
		cmd = exec.Command("zsh", "-f", "-c", "autoload -U compinit && compinit -u; emulate sh; setopt kshglob noshglob braceexpand; eval \"$(cat)\"")
	}
	cmd.Stdin = strings.NewReader(prog)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v: %s", shell, err, errb.String())
	}
	got := strings.Fields(out.String())
	if shell == "zsh" {
		// zsh's compgen gives every word; compadd then keeps those that
		// start with the word being completed.
		got = slices.DeleteFunc(got, func(c string) bool { return !strings.HasPrefix(c, words[len(words)-1]) })
	}
	slices.Sort(got) // compgen keeps the order of the words
	return got
}

var completionCases = []struct {
	line string
	want string
	// bash is what bash puts in place of its last word, when that is not
	// the whole word (bash replaces only the text after an =).
	bash string
}{
	{"tool --ac", "--accel", ""},
	{"tool --accel t", "tcg", ""},
	{"tool --accel=k", "--accel=kvm", "kvm"},
	{"tool --scenario all,cgroup_u", "all,cgroup_uneven", ""},
	{"tool --scenario all,cgroup_steady,cgroup_u", "all,cgroup_steady,cgroup_uneven", ""},
	{"tool --scenario cg", "cgroup_steady cgroup_uneven", ""},
	{"tool -i spe", "special", ""},
	{"tool b", "build", ""},
	{"tool build --pro", "--profile", ""},
	{"tool build --profile d", "defconfig", ""},
	{"tool build kernel_6_12_117_p", "kernel_6_12_117_preempt", ""}, // a positional SPEC: labels asked for now
	{"tool build --profile minimal 6.1", "6.12", ""},
	{"tool --profile d", "", ""}, // --profile belongs to build only
	{"tool list --d", "--dmesg", ""},
	{"tool --completion f", "fish", ""},
	{"tool -j ", "", ""},
	{"tool --kernel ", "6.12 kernel_6_12_117 kernel_6_12_117_preempt", ""},
	{"tool --kernel k", "kernel_6_12_117 kernel_6_12_117_preempt", ""},
	{"tool --kernel 6.12,kernel_6_12_117_", "6.12,kernel_6_12_117_preempt", ""},
	{"tool list --a lab", "label=", ""},
	{"tool list --a label=", "label=a label=ab label=nightly", "a ab nightly"},
	{"tool list --a label=a", "label=a label=ab", "a ab"},
	{"tool list --a kernel=kernel_6_12_117,kernel_6_12_117_p", "kernel=kernel_6_12_117,kernel_6_12_117_preempt", "kernel_6_12_117,kernel_6_12_117_preempt"},
	{"tool list --a=label=n", "--a=label=nightly", "nightly"},
	{"tool --kernel=kernel_6_12_117_", "--kernel=kernel_6_12_117_preempt", "kernel_6_12_117_preempt"},
}

func script(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if _, code, done := Parse("tool", "a tool", &compGrammar{}, []string{"--completion", shell}, &out, &errb); !done || code != ExitOK {
		t.Fatalf("--completion %s: done=%v code=%d %s", shell, done, code, errb.String())
	}
	return out.String()
}

// TestBashCompletion: flags, enum values, word lists item by item, values
// the tool lists at completion time (kernel labels) and KEY=VALUE filters
// whose values it lists (store labels), in bash and in zsh's emulation.
func TestBashCompletion(t *testing.T) {
	toolOnPath(t)
	for _, shell := range []string{"bash", "zsh"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("no %s", shell)
			continue
		}
		s := script(t, shell)
		if !strings.Contains(s, "complete -o default -F _tool tool") {
			t.Fatalf("script:\n%s", s)
		}
		for _, c := range completionCases {
			want := c.want
			if shell == "bash" && c.bash != "" {
				want = c.bash
			}
			if got := strings.Join(complete(t, shell, s, c.line), " "); got != want {
				t.Errorf("%s: %q: got %q, want %q", shell, c.line, got, want)
			}
		}
	}
}

// TestFishCompletion: the same in fish, through its own completion
// engine (complete -C).
func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("no fish")
	}
	toolOnPath(t)
	file := filepath.Join(t.TempDir(), "tool.fish")
	if err := os.WriteFile(file, []byte(script(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range completionCases {
		if strings.HasSuffix(c.line, "-j ") || strings.HasPrefix(c.line, "tool --profile") {
			continue // fish offers files where nothing is known, subcommands after a flag it does not know
		}
		cmd := exec.Command("fish", "--no-config", "-c", "source "+file+"; complete -C "+shellQuote(c.line))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Fatalf("fish: %v: %s", err, errb.String())
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l != "" {
				got = append(got, strings.SplitN(l, "\t", 2)[0]) // candidate, then its description
			}
		}
		slices.Sort(got)
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("fish: %q: got %q, want %q", c.line, g, c.want)
		}
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// TestCompleteValues: --complete-values KIND prints the tool's values one
// a line, and nothing (status 0) for what it cannot list: a completion
// must never print an error into the command line.
func TestCompleteValues(t *testing.T) {
	var out, errb bytes.Buffer
	if _, code, done := Parse("tool", "a tool", &compGrammar{}, []string{"list", "--complete-values", "kernel"}, &out, &errb); !done || code != ExitOK ||
		out.String() != "kernel_6_12_117\nkernel_6_12_117_preempt\n" || errb.Len() > 0 {
		t.Errorf("kernel: done %v, exit %d, %q %q", done, code, out.String(), errb.String())
	}
	out.Reset()
	if _, code, done := Parse("tool", "a tool", &compGrammar{}, []string{"--complete-values=nothing"}, &out, &errb); !done || code != ExitOK || out.Len()+errb.Len() > 0 {
		t.Errorf("unknown kind: done %v, exit %d, %q %q", done, code, out.String(), errb.String())
	}
	type plain struct{ X string }
	if _, code, done := Parse("tool", "a tool", &plain{}, []string{"--complete-values", "kernel"}, &out, &errb); !done || code != ExitOK || out.Len()+errb.Len() > 0 {
		t.Errorf("a grammar with no values: done %v, exit %d, %q %q", done, code, out.String(), errb.String())
	}
}

func TestCompletionShells(t *testing.T) {
	var out, errb bytes.Buffer
	if _, code, _ := Parse("tool", "a tool", &compGrammar{}, []string{"--completion=zsh"}, &out, &errb); code != ExitOK ||
		!strings.HasPrefix(out.String(), "#compdef tool\n") || !strings.Contains(out.String(), "bashcompinit") {
		t.Errorf("zsh: code %d:\n%s", code, out.String())
	}
	out.Reset()
	out.Reset()
	if _, code, _ := Parse("tool", "a tool", &compGrammar{}, []string{"--completion=fish"}, &out, &errb); code != ExitOK || !strings.HasPrefix(out.String(), "# fish completion for tool.") {
		t.Errorf("fish: code %d:\n%s", code, out.String())
	}
	out.Reset()
	if _, code, _ := Parse("tool", "a tool", &compGrammar{}, []string{"--completion", "tcsh"}, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), `tool: --completion: unknown shell "tcsh" (bash, zsh or fish)`) {
		t.Errorf("tcsh: code %d, %s", code, errb.String())
	}
}
