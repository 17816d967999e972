// Package e2e holds the end-to-end tests: they run the built ktstr-* tools
// (bin/, made by `make build`) against a real kernel from ktstr-kernel's
// cache, booted under QEMU. They run when KTSTR_E2E=1 (make test sets it).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/record"
)

// kernelSpec is the kernel the tests boot (KTSTR_E2E_KERNEL, default 6.12).
func kernelSpec() string {
	if k := os.Getenv("KTSTR_E2E_KERNEL"); k != "" {
		return k
	}
	return "6.12"
}

func binDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "bin")
}

// e2e skips unless end-to-end tests are enabled and gives each test its own
// TMPDIR, so leaked temporary directories can be detected.
func e2e(t *testing.T) {
	t.Helper()
	if os.Getenv("KTSTR_E2E") != "1" {
		t.Skip("end-to-end test: set KTSTR_E2E=1 (make test does)")
	}
	if _, err := os.Stat(filepath.Join(binDir(t), "ktstr-boot")); err != nil {
		t.Fatalf("tools not built (make build): %v", err)
	}
	t.Setenv("TMPDIR", t.TempDir())
}

type result struct {
	code   int
	stdout string
	stderr string
	wall   time.Duration
}

// sh runs a bash pipeline with bin/ first on PATH and pipefail set, so the
// exit status is the first failing stage's.
func sh(t *testing.T, script string, stdin string) result {
	t.Helper()
	return shCtx(context.Background(), t, script, stdin)
}

func shCtx(ctx context.Context, t *testing.T, script string, stdin string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), wall: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	t.Logf("$ %s\n(exit %d, %.1fs)\nstderr:\n%s", script, r.code, r.wall.Seconds(), r.stderr)
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bootVerify runs "BOOT | tee RUNS | ktstr-verify [verifyArgs]" and
// returns the result (verdicts on stdout) and the run records.
func bootVerify(t *testing.T, boot, verifyArgs string) (result, []*record.Run) {
	t.Helper()
	runs := filepath.Join(t.TempDir(), "runs.ndjson")
	r := sh(t, boot+" | tee "+runs+" | ktstr-verify "+verifyArgs, "")
	var out []*record.Run
	for _, l := range records(t, readFile(t, runs))[record.KindRun] {
		out = append(out, decodeRun(t, l))
	}
	return r, out
}

// records splits NDJSON output into lines by kind.
func records(t *testing.T, out string) map[record.Kind][]string {
	t.Helper()
	byKind := map[record.Kind][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var h struct{ Kind record.Kind }
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatalf("stdout line is not a record: %q", sc.Text())
		}
		byKind[h.Kind] = append(byKind[h.Kind], sc.Text())
	}
	return byKind
}

func decodeRun(t *testing.T, line string) *record.Run {
	t.Helper()
	var r record.Run
	if err := record.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func decodeVerdict(t *testing.T, line string) *record.Verdict {
	t.Helper()
	var v record.Verdict
	if err := record.Unmarshal([]byte(line), &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// assertNoLeaks checks that no QEMU process, /dev/shm guest-RAM file or
// ktstr temporary directory is left behind.
func assertNoLeaks(t *testing.T) {
	t.Helper()
	// Killed processes take a moment to be reaped by init.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-x", "qemu-system-x86").Output()
		out2, _ := exec.Command("pgrep", "-f", "^qemu-system-x86_64").Output()
		procs := strings.TrimSpace(string(out) + string(out2))
		if procs == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("QEMU processes left running: %s", procs)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	shm, _ := filepath.Glob("/dev/shm/ktstr-*")
	if len(shm) > 0 {
		t.Errorf("guest-RAM files left in /dev/shm: %v", shm)
	}
	tmp, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "ktstr-*"))
	if len(tmp) > 0 {
		t.Errorf("temporary directories left: %v", tmp)
	}
}

// startSh starts a pipeline in its own process group and returns the
// command and its output buffers.
func startSh(t *testing.T, script string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out, &errb
}
