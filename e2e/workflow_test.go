package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run the shell of .github/workflows/gauntlet.yml's steps the
// way GitHub does (bash -eo pipefail) on records made for them, with a
// stand-in ktstr-verify whose verdicts and exit status the test chooses.
// actionlint (make lint) checks the workflow's form; these check that a
// failed verdict fails it and that the summary counts what it should.

// stepScript returns the `run: |` block of the step of the workflow that
// has the line marker (e.g. "id: judge"), dedented.
func stepScript(t *testing.T, workflow, marker string) string {
	t.Helper()
	lines := strings.Split(readFile(t, filepath.Join(binDir(t), "..", ".github", "workflows", workflow)), "\n")
	at := -1
	for i, l := range lines {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")) == marker {
			at = i
			break
		}
	}
	if at < 0 {
		t.Fatalf("%s has no step with %q", workflow, marker)
	}
	for i := at + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "- ") {
			break // the next step
		}
		if strings.TrimSpace(l) != "run: |" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		var body []string
		cut := -1
		for _, b := range lines[i+1:] {
			if strings.TrimSpace(b) == "" {
				body = append(body, "")
				continue
			}
			n := len(b) - len(strings.TrimLeft(b, " "))
			if n <= indent {
				break
			}
			if cut < 0 {
				cut = n
			}
			body = append(body, b[min(cut, n):])
		}
		return strings.Join(body, "\n") + "\n"
	}
	t.Fatalf("%s: the step with %q has no `run: |` block", workflow, marker)
	return ""
}

// runStep runs script with bash -eo pipefail in dir with env, and returns
// its exit status and the job summary it wrote.
func runStep(t *testing.T, dir, script string, env ...string) (int, string) {
	t.Helper()
	summary := filepath.Join(dir, "summary.md")
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GITHUB_STEP_SUMMARY="+summary, "GITHUB_OUTPUT="+filepath.Join(dir, "output")), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("step (exit %d):\n%s", code, out.String())
	b, _ := os.ReadFile(summary)
	return code, string(b)
}

func needJQ(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed (Debian: jq; scripts/install-deps.sh test): the workflow's summary is not tested")
	}
}

const (
	testVerdicts = `{"kind":"verdict","v":1,"subject":"a","status":"pass"}
{"kind":"verdict","v":1,"subject":"b","status":"fail"}
{"kind":"verdict","v":1,"subject":"c","status":"inconclusive"}
{"kind":"verdict","v":1,"subject":"d","status":"skip"}
{"kind":"verdict","v":1,"subject":"e","status":"pass"}
`
	testRuns = `{"kind":"run","v":1,"host":{"accel":"kvm"}}
{"kind":"run","v":1,"host":{"accel":"tcg"}}
{"kind":"run","v":1,"host":{"accel":"kvm"}}
{"kind":"skip","v":1,"subject":"x"}
`
)

// TestGauntletJudge: the merge job keeps ktstr-verify's status, counts the
// verdicts and the runs per accelerator in its summary, and its last step
// fails the workflow on a failed verdict (1) or unusable input (2), not on
// inconclusive ones (0 with --allow-inconclusive).
func TestGauntletJudge(t *testing.T) {
	needJQ(t)
	judge := stepScript(t, "gauntlet.yml", "id: judge")
	for _, status := range []string{"0", "1"} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "shards"), 0o755)
		os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
		writeFile(t, filepath.Join(dir, "shards", "runs-1.ndjson"), testRuns)
		writeFile(t, filepath.Join(dir, "verdicts.fixture"), testVerdicts)
		stub := "#!/bin/sh\ncat >/dev/null\ncat verdicts.fixture\nexit " + status + "\n"
		if err := os.WriteFile(filepath.Join(dir, "bin", "ktstr-verify"), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
		code, summary := runStep(t, dir, judge)
		if code != 0 {
			t.Errorf("the judge step exited %d; want 0, the status kept for the last step", code)
		}
		if out := readFile(t, filepath.Join(dir, "output")); !strings.Contains(out, "status="+status+"\n") {
			t.Errorf("step output %q; want status=%s", out, status)
		}
		for _, want := range []string{
			"ktstr-verify exit status " + status,
			"| pass | fail | inconclusive | error | skip |",
			"| 2 | 1 | 1 | 0 | 1 |",
			"- kvm: 2\n- tcg: 1\n",
			"- fail: b\n- inconclusive: c\n",
		} {
			if !strings.Contains(summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, summary)
			}
		}
	}
	gate := stepScript(t, "gauntlet.yml", "name: Verdicts")
	for status, want := range map[string]int{"0": 0, "1": 1, "2": 2} {
		if code, _ := runStep(t, t.TempDir(), gate, "STATUS="+status); code != want {
			t.Errorf("the verdict gate with ktstr-verify's status %s exited %d, want %d", status, code, want)
		}
	}
}

// TestGauntletShardAccel: each shard's summary counts its runs by
// host.accel, and says so when a shard left no run records.
func TestGauntletShardAccel(t *testing.T) {
	needJQ(t)
	step := stepScript(t, "gauntlet.yml", "name: Accelerator")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "runs-2.ndjson"), testRuns)
	if code, summary := runStep(t, dir, step, "SHARD=2"); code != 0 ||
		!strings.Contains(summary, "Shard 2: runs by accelerator (host.accel)\n- kvm: 2\n- tcg: 1\n") {
		t.Errorf("exit %d, summary:\n%s", code, summary)
	}
	if code, summary := runStep(t, t.TempDir(), step, "SHARD=3"); code != 0 || !strings.Contains(summary, "- no run records") {
		t.Errorf("a shard without records: exit %d, summary:\n%s", code, summary)
	}
}
