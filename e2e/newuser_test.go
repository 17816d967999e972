package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitPipeRead waits until a thread of pid sleeps in the kernel's pipe
// read: the tool is blocked on its stdin. A signal sent earlier could land
// before the tool has installed its handlers.
func waitPipeRead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, w := range tasks {
			if b, err := os.ReadFile(w); err == nil && strings.Contains(string(b), "pipe_read") {
				return
			}
		}
	}
	t.Fatalf("process %d never blocked reading its stdin", pid)
}

// TestSignalWhileReadingStdin: SIGINT or SIGTERM while a tool waits on a
// stdin that never ends (a pipe whose writer stays open) stops the tool with
// status 130 (issue 17, bug 2: the reader ignored the cancelled context).
func TestSignalWhileReadingStdin(t *testing.T) {
	e2e(t)
	tools := [][]string{
		{"ktstr-verify"},
		{"ktstr-topo"},
		{"ktstr-boot", "--kernel", kernelSpec()},
	}
	for _, tool := range tools {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(tool[0]+"/"+sig.String(), func(t *testing.T) {
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pw.Close()
				cmd := exec.Command(filepath.Join(binDir(t), tool[0]), tool[1:]...)
				cmd.Stdin = pr
				var errb strings.Builder
				cmd.Stderr = &errb
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				pr.Close()
				waitPipeRead(t, cmd.Process.Pid)
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
				case <-time.After(30 * time.Second): // a hang, not a timing measurement
					cmd.Process.Kill()
					<-done
					t.Fatalf("%s still waiting on stdin 30 s after %s", tool[0], sig)
				}
				if code := cmd.ProcessState.ExitCode(); code != 130 {
					t.Errorf("%s exit %d after %s, want 130; stderr: %s", tool[0], code, sig, errb.String())
				}
			})
		}
	}
	// The issue's own pipeline: the tool is the pipeline's last process.
	// bash's wait on a pipeline waits for the whole job: the writer, sleep,
	// is killed once ktstr-verify has exited (the rightmost non-zero status
	// is then still ktstr-verify's).
	sleepPid := filepath.Join(t.TempDir(), "sleep.pid")
	r := sh(t, `{ echo $BASHPID >`+sleepPid+`; exec sleep 60; } | ktstr-verify & pid=$!
for i in $(seq 600); do grep -qs pipe_read /proc/$pid/task/*/wchan && break; sleep 0.1; done
kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.1; done
kill $(cat `+sleepPid+`); wait $pid; echo "status $?"`, "")
	if !strings.Contains(r.stdout, "status 130") {
		t.Errorf("sleep 60 | ktstr-verify & kill -TERM $!: %q, want status 130", r.stdout)
	}
}

// onTerminal runs a command line under script(1), so that the tools' stdin,
// stdout and stderr are a real terminal, and returns what it showed.
func onTerminal(t *testing.T, cmdline string) result {
	t.Helper()
	return sh(t, "script -qec "+shellQuote("stty cols 120; "+cmdline)+" /dev/null", "")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestTerminalOutput (issue 17, item 6): the README's way of running a
// command in the guest, on a terminal, prints one readable line for the run
// and where the records went; ktstr-verify on those records prints its
// table, not NDJSON.
func TestTerminalOutput(t *testing.T) {
	e2e(t)
	r := onTerminal(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 1,1,1,1 --exec 'echo hello from the guest'")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stdout)
	}
	var runLine, records string
	for _, l := range strings.Split(r.stdout, "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\x1b[K", ""))
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		switch {
		case strings.HasPrefix(l, "COMPLETED "):
			runLine = l
		case strings.HasPrefix(l, "records: "):
			records = strings.Fields(l)[1]
		}
	}
	if runLine == "" || !strings.Contains(runLine, `exec exit 0: "hello from the guest"`) || !strings.Contains(runLine, ".console.log") {
		t.Errorf("no run line with the exec output and the console log:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, `"kind":"run"`) {
		t.Errorf("run record on the terminal")
	}
	if records == "" {
		t.Fatalf("no records file named:\n%s", r.stdout)
	}
	defer os.Remove(records)
	exactly(t, readFile(t, records), "run", 1)
	v := onTerminal(t, "ktstr-verify < "+records)
	if v.code != 0 || !strings.Contains(v.stdout, "SUBJECT") || !strings.Contains(v.stdout, "1 pass, 0 fail") || strings.Contains(v.stdout, `"kind"`) {
		t.Errorf("ktstr-verify on a terminal: exit %d:\n%s", v.code, v.stdout)
	}
}

// TestSanityBeforeBoot (issue 17, item 10): what can be known before a VM
// boots is said at once: a topology far beyond the host, a garbage input
// line, an empty or negative thresholds file.
func TestSanityBeforeBoot(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-boot --kernel "+kernelSpec()+" --topology 4,8,8,2", "")
	if r.code != 2 || !strings.Contains(r.stderr, "128 vCPUs") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("4,8,8,2: exit %d, stderr %q", r.code, r.stderr)
	}
	exactly(t, r.stdout, "error", 1)
	r = sh(t, "echo garbage | ktstr-boot --kernel "+kernelSpec(), "")
	if r.code != 2 || !strings.Contains(r.stderr, `input line 1: not a JSON object (input "garbage")`) {
		t.Errorf("garbage: exit %d, stderr %q", r.code, r.stderr)
	}
	dir := t.TempDir()
	empty, neg := filepath.Join(dir, "empty.json"), filepath.Join(dir, "neg.json")
	writeFile(t, empty, "")
	writeFile(t, neg, `{"max_gap_ms": -5}`)
	for file, want := range map[string]string{empty: "empty; want a JSON object", neg: "max_gap_ms is -5"} {
		r := sh(t, "ktstr-verify --thresholds "+file+" --show-thresholds", "")
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q", file, r.code, r.stderr)
		}
	}
	r = sh(t, `echo '{"max_gap_ms": null}' > `+filepath.Join(dir, "off.json")+` && ktstr-verify --thresholds `+filepath.Join(dir, "off.json")+` --show-thresholds`, "")
	if !regexpMatch(`(?m)^max_gap_ms\s+off$`, r.stdout) {
		t.Errorf("null did not switch max_gap_ms off:\n%s", r.stdout)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
