package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupInstallsCompletions: `scripts/ktstr setup` installs a bash and a
// zsh completion script per tool, and the bash one completes the tool's
// flags and values when bash-completion loads it.
func TestSetupInstallsCompletions(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	ktstr := filepath.Join(binDir(t), "..", "scripts", "ktstr")
	if r := sh(t, "KTSTR_COMPLETION_DIR="+dir+" "+ktstr+" setup --kernel "+kernelSpec(), ""); r.code != 0 {
		t.Fatalf("setup: exit %d", r.code)
	}
	for _, tool := range []string{"ktstr-topo", "ktstr-kernel", "ktstr-boot", "ktstr-verify"} {
		for _, f := range []string{"bash-completion/completions/" + tool, "zsh/site-functions/_" + tool} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil || !strings.Contains(string(b), "complete -o default -F _"+strings.ReplaceAll(tool, "-", "_")+" "+tool) {
				t.Errorf("%s: %v\n%.200s", f, err, b)
			}
		}
	}
	// What bash does on <TAB> after "ktstr-boot --scheduler scx_s".
	r := sh(t, `source `+filepath.Join(dir, "bash-completion/completions/ktstr-boot")+`
COMP_WORDS=(ktstr-boot --scheduler scx_s); COMP_CWORD=2; _ktstr_boot; echo "${COMPREPLY[@]}"
COMP_WORDS=(ktstr-verify --allow-inc); COMP_CWORD=1
source `+filepath.Join(dir, "bash-completion/completions/ktstr-verify")+`; _ktstr_verify; echo "${COMPREPLY[@]}"`, "")
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(got) != 2 || got[0] != "scx_simple" || got[1] != "--allow-inconclusive" {
		t.Errorf("completions %q", got)
	}
}
