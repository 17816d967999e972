package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
