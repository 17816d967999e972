package cli

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

type compGrammar struct {
	Accel    string   `enum:"auto,kvm,tcg" default:"auto"`
	Scenario string   `help:"comma-separated"`
	Include  []string `short:"i"`
	LogDir   string   `name:"log-dir" type:"path"`
	Dmesg    bool
	Jobs     int `short:"j"`
	Build    struct {
		Profile string `enum:"minimal,defconfig" default:"minimal"`
		Spec    string `arg:"" optional:""`
	} `cmd:""`
	List struct{} `cmd:""`
}

func (*compGrammar) CompletionWords() map[string][]string {
	return map[string][]string{"scenario": {"all", "cgroup_steady", "cgroup_uneven"}, "include": {FileWords, "special"}}
}

// complete runs the generated bash function on a command line (the words,
// the last one being completed) and returns COMPREPLY.
func complete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	var q []string
	for _, w := range words {
		q = append(q, "'"+w+"'")
	}
	prog := script + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
		"\n_tool\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command("bash", "--norc", "--noprofile")
	cmd.Stdin = strings.NewReader(prog)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v: %s", err, errb.String())
	}
	return strings.Fields(out.String())
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	var out, errb bytes.Buffer
	if _, code, done := Parse("tool", "a tool", &compGrammar{}, []string{"--completion", "bash"}, &out, &errb); !done || code != ExitOK {
		t.Fatalf("--completion bash: done=%v code=%d %s", done, code, errb.String())
	}
	script := out.String()
	if !strings.Contains(script, "complete -o default -F _tool tool") {
		t.Fatalf("script:\n%s", script)
	}
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"tool", "--ac"}, "--accel"},
		{[]string{"tool", "--accel", "t"}, "tcg"},
		{[]string{"tool", "--accel", "=", "k"}, "kvm"},
		{[]string{"tool", "--scenario", "all,cgroup_u"}, "all,cgroup_uneven"},
		{[]string{"tool", "--scenario", "cg"}, "cgroup_steady cgroup_uneven"},
		{[]string{"tool", "-i", "spe"}, "special"},
		{[]string{"tool", "b"}, "build"},
		{[]string{"tool", "build", "--pro"}, "--profile"},
		{[]string{"tool", "build", "--profile", "d"}, "defconfig"},
		{[]string{"tool", "--profile", "d"}, ""}, // --profile belongs to build only
		{[]string{"tool", "list", "--d"}, "--dmesg"},
		{[]string{"tool", "--completion", "z"}, "zsh"},
		{[]string{"tool", "-j", ""}, ""},
	}
	for _, c := range cases {
		if got := strings.Join(complete(t, script, c.words...), " "); got != c.want {
			t.Errorf("%q: got %q, want %q", c.words, got, c.want)
		}
	}
}

func TestCompletionShells(t *testing.T) {
	var out, errb bytes.Buffer
	if _, code, _ := Parse("tool", "a tool", &compGrammar{}, []string{"--completion=zsh"}, &out, &errb); code != ExitOK ||
		!strings.HasPrefix(out.String(), "#compdef tool\n") || !strings.Contains(out.String(), "bashcompinit") {
		t.Errorf("zsh: code %d:\n%s", code, out.String())
	}
	out.Reset()
	if _, code, _ := Parse("tool", "a tool", &compGrammar{}, []string{"--completion", "fish"}, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), `unknown shell "fish"`) {
		t.Errorf("fish: code %d, %s", code, errb.String())
	}
}
