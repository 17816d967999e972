package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// terminal is the test's end of a pty: everything the program wrote to it.
type terminal struct {
	mu  sync.Mutex
	out bytes.Buffer
	f   *os.File
}

func (tm *terminal) read() {
	buf := make([]byte, 4096)
	for {
		n, err := tm.f.Read(buf)
		tm.mu.Lock()
		tm.out.Write(buf[:n])
		tm.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (tm *terminal) text() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// waitFor waits until the terminal shows re (after offset from), and
// returns the offset just past the match.
func (tm *terminal) waitFor(t *testing.T, from int, re string, timeout time.Duration) int {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s := tm.text()
		if from > len(s) {
			from = len(s)
		}
		if loc := rx.FindStringIndex(s[from:]); loc != nil {
			return from + loc[1]
		}
	}
	t.Fatalf("terminal never showed %q within %s; it shows:\n%s", re, timeout, tm.text())
	return 0
}

// TestShellSession drives ktstr-boot --shell through a pty as a person
// would: it boots 1,1,2,1 with scx_simple attached, types nproc and reads
// sched_ext's ops name in the guest, then exit, and expects the guest to
// power off cleanly with the run record on stdout.
func TestShellSession(t *testing.T) {
	e2e(t)
	cmd := exec.Command(filepath.Join(binDir(t), "ktstr-boot"), "--kernel", kernelSpec(), "--shell", "--topology", "1,1,2,1", "--scheduler", "scx_simple")
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout // the run record; the terminal gets stdin and stderr
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tm := &terminal{f: f}
	go tm.read()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	at := tm.waitFor(t, 0, `ktstr:/tmp# `, 5*time.Minute)
	f.WriteString("echo N=$(nproc)\n")
	at = tm.waitFor(t, at, `N=(\d+)`, time.Minute)
	if got := regexp.MustCompile(`N=(\d+)`).FindAllStringSubmatch(tm.text(), -1); got[len(got)-1][1] != "2" {
		t.Errorf("nproc in the guest = %s, want 2 (topology 1,1,2,1)", got[len(got)-1][1])
	}
	at = tm.waitFor(t, at, `ktstr:/tmp# `, time.Minute)
	f.WriteString("echo OPS=$(cat /sys/kernel/sched_ext/root/ops)\n")
	tm.waitFor(t, at, `OPS=\w+`, time.Minute)
	if got := regexp.MustCompile(`OPS=(\w+)`).FindAllStringSubmatch(tm.text(), -1); got[len(got)-1][1] != "simple" {
		t.Errorf("sched_ext ops in the guest = %s, want simple (scx_simple)", got[len(got)-1][1])
	}
	f.WriteString("exit\n")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("ktstr-boot --shell: %v; terminal:\n%s", err, tm.text())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("ktstr-boot --shell did not exit after the shell's exit; terminal:\n%s", tm.text())
	}
	t.Logf("terminal:\n%s", tm.text())
	run := onlyRun(t, stdout.String())
	if run.Outcome != record.OutcomeCompleted {
		t.Errorf("outcome %s (%s), want completed", run.Outcome, run.Reason)
	}
	if run.Scheduler == nil || !run.Scheduler.Attached || run.Scheduler.Died {
		t.Errorf("scheduler state %+v, want attached and alive until the end", run.Scheduler)
	}
	if run.Exec == nil || run.Exec.ExitCode != 0 || !strings.Contains(run.Exec.Command, "shell") {
		t.Errorf("exec record %+v, want the shell with exit code 0", run.Exec)
	}
}

// TestShellNeedsTopology: without a terminal setup the flag combination is
// refused before anything boots.
func TestShellNeedsTopology(t *testing.T) {
	e2e(t)
	r := sh(t, "ktstr-boot --shell --scenario cgroup_steady --topology 1,1,2,1", "")
	if r.code != 2 || !strings.Contains(r.stderr, "--shell takes no --scenario") {
		t.Errorf("exit %d, stderr %q; want 2 and the reason", r.code, r.stderr)
	}
}

// TestShellEscape: Ctrl-A X, the documented way out of a hung guest, quits
// QEMU; ktstr-boot still writes the run record (not completed: the agent
// never said done) and leaves nothing behind (e2e's leak check).
func TestShellEscape(t *testing.T) {
	e2e(t)
	cmd := exec.Command(filepath.Join(binDir(t), "ktstr-boot"), "--kernel", kernelSpec(), "--shell", "--topology", "1,1,1,1")
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tm := &terminal{f: f}
	go tm.read()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tm.waitFor(t, 0, `ktstr:/tmp# `, 5*time.Minute)
	f.WriteString("\x01x")
	select {
	case <-exited:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("Ctrl-A X did not end the session; terminal:\n%s", tm.text())
	}
	run := onlyRun(t, stdout.String())
	if run.Outcome == record.OutcomeCompleted {
		t.Errorf("outcome completed after Ctrl-A X; want the run marked as not completed")
	}
	t.Logf("outcome %s: %s", run.Outcome, run.Reason)
}
