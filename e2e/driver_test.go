package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// driver is the path of scripts/ktstr; KTSTR_E2E_DRIVER runs these tests
// against another copy (e.g. an older one, to see them fail).
func driver(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KTSTR_E2E_DRIVER"); d != "" {
		return d
	}
	return filepath.Join(binDir(t), "..", "scripts", "ktstr")
}

// errorLines returns stderr's lines without the driver's progress notes
// (a tool rebuild when the sources are newer than bin/).
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "ktstr: building tools into ") {
			out = append(out, l)
		}
	}
	return out
}

// usageError asserts that args make the driver exit 2 with nothing on
// stdout and exactly one line on stderr, containing want.
func usageError(t *testing.T, args, want string) {
	t.Helper()
	r := sh(t, driver(t)+" "+args, "")
	lines := errorLines(r.stderr)
	if r.code != 2 || r.stdout != "" || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("ktstr %s: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", args, r.code, r.stdout, lines, want)
	}
}

// TestDriverUsage: help for every command, and each mistake in the
// driver's own arguments is one line and exit 2, before any tool or kernel
// is touched. It runs no tool, so it needs no KTSTR_E2E.
func TestDriverUsage(t *testing.T) {
	for _, args := range []string{"--help", "-h", "help", "test --help", "gauntlet --help", "verifier -h", "setup --help"} {
		r := sh(t, driver(t)+" "+args, "")
		if r.code != 0 || !strings.Contains(r.stdout, "ktstr test ") || !strings.Contains(r.stdout, "ktstr verifier ") || r.stderr != "" {
			t.Errorf("ktstr %s: exit %d, stderr %q, stdout %.100q", args, r.code, r.stderr, r.stdout)
		}
	}
	// No command: the usage, as an error.
	if r := sh(t, driver(t), ""); r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "ktstr test ") {
		t.Errorf("ktstr: exit %d, stdout %.100q, stderr %.100q; want 2 and the usage on stderr", r.code, r.stdout, r.stderr)
	}
	usageError(t, "bogus", "ktstr: unknown command bogus")
	usageError(t, "test --bogus", "ktstr: unknown test option --bogus")
	usageError(t, "test extra", "ktstr: unknown test option extra")
	usageError(t, "setup --bogus", "ktstr: unknown setup option --bogus")
	for _, cmd := range []string{"test", "gauntlet", "verifier"} {
		for _, opt := range []string{"--kernel", "--topology", "--scenario", "--scheduler"} {
			usageError(t, cmd+" "+opt, "ktstr: "+opt+" needs a value")
		}
	}
	usageError(t, "setup --kernel", "ktstr: --kernel needs a value")
	// The missing scheduler is named before the kernel is resolved (a
	// kernel that does not exist would fail first otherwise).
	usageError(t, "verifier", "ktstr: verifier needs --scheduler")
	usageError(t, "verifier --kernel /nonexistent --max-cpus 4", "ktstr: verifier needs --scheduler")
}

// TestDriverToolErrors: a mistake the tools find (a topology filter or
// spec, a ktstr-boot flag, a scenario or scheduler name) stops the driver
// with that tool's one line and its exit status 2, before any VM boots.
// `gauntlet --max-cpus` without a value used to end as ktstr-verify's
// "nothing to judge", exit 1.
func TestDriverToolErrors(t *testing.T) {
	e2e(t)
	k := " --kernel " + kernelSpec()
	usageError(t, "gauntlet"+k+" --max-cpus", "ktstr-topo: --max-cpus: expected int value")
	usageError(t, "gauntlet"+k+" --bogus-filter", "ktstr-topo: unknown flag --bogus-filter")
	usageError(t, "verifier"+k+" --scheduler scx_simple --max-llcs", "ktstr-topo: --max-llcs")
	usageError(t, "test"+k+" --topology 9,9", `ktstr-topo: topology "9,9"`)
	usageError(t, "test"+k+" -- --bogus", "ktstr-boot: unknown flag --bogus")
	usageError(t, "test"+k+" -- --duration", "ktstr-boot: --duration")
	usageError(t, "gauntlet"+k+" --max-cpus 4 --scenario nosuch", `ktstr-boot: scenario "nosuch"`)
	usageError(t, "verifier"+k+" --scheduler nosuch", `ktstr-boot: scheduler "nosuch"`)
	usageError(t, "kernel bogus", "ktstr-kernel: unexpected argument bogus")
	if r := sh(t, driver(t)+" kernel --help", ""); r.code != 0 || !strings.Contains(r.stdout, "ktstr-kernel") {
		t.Errorf("kernel --help: exit %d, stdout %.100q", r.code, r.stdout)
	}
}

// TestDriverKernelList: `ktstr kernel list` is ktstr-kernel list, and
// shows the cached kernel the tests boot.
func TestDriverKernelList(t *testing.T) {
	e2e(t)
	k, r := resolveKernel(t, kernelSpec())
	if k == nil {
		t.Fatalf("resolve %s: %s", kernelSpec(), r.stderr)
	}
	l := sh(t, driver(t)+" kernel list", "")
	if l.code != 0 || !strings.Contains(l.stdout, `{"kind":"kernel","v":1,"key":"`+k.Key+`"`) {
		t.Errorf("kernel list: exit %d, stdout %q; want a kernel record of %s", l.code, l.stdout, k.Key)
	}
}

// TestDriverTest: `ktstr test` on a small topology boots one VM, runs the
// default scenario under EEVDF and passes.
func TestDriverTest(t *testing.T) {
	e2e(t)
	r := sh(t, driver(t)+" test --kernel "+kernelSpec()+" --topology 1,1,2,1 -- --duration 2", "")
	v := onlyVerdict(t, r.stdout)
	wantPass(t, v)
	if r.code != 0 || !strings.Contains(v.Subject, "1n1l2c1t") || !strings.Contains(v.Subject, "cgroup_steady") {
		t.Errorf("exit %d, verdict %s %s", r.code, v.Subject, v.Status)
	}
}

// TestDriverGauntlet: `ktstr gauntlet` with a filter that leaves one
// preset (tiny-1llc, 4 CPUs) boots it once and passes.
func TestDriverGauntlet(t *testing.T) {
	e2e(t)
	r := sh(t, driver(t)+" gauntlet --kernel "+kernelSpec()+" --max-cpus 4 --max-llcs 1 -- --duration 2", "")
	v := onlyVerdict(t, r.stdout)
	wantPass(t, v)
	if r.code != 0 || !strings.Contains(v.Subject, "tiny-1llc") && !strings.Contains(v.Subject, "1n1l4c1t") {
		t.Errorf("exit %d, verdict %s %s", r.code, v.Subject, v.Status)
	}
}

// TestDriverVerifier: `ktstr verifier` loads the scheduler with each of
// its flag profiles (scx_simple: default and fifo) on the presets the
// filter leaves (one) and shows the BPF program table.
func TestDriverVerifier(t *testing.T) {
	e2e(t)
	r := sh(t, driver(t)+" verifier --kernel "+kernelSpec()+" --scheduler scx_simple --max-cpus 4 --max-llcs 1", "")
	for _, l := range exactly(t, r.stdout, record.KindVerdict, 2) {
		wantPass(t, decodeVerdict(t, l))
	}
	if r.code != 0 || !strings.Contains(r.stderr, "=== BPF programs") {
		t.Errorf("exit %d; no program table on stderr", r.code)
	}
}

// TestDriverStageStatus: when ktstr-boot ends with a status of its own
// (here 130: interrupted while the VM runs), the driver exits with it and
// says so, although ktstr-verify, judging the interrupted run an error,
// exits 1.
func TestDriverStageStatus(t *testing.T) {
	e2e(t)
	cmd, out, errb := startSh(t, "exec "+driver(t)+" test --kernel "+kernelSpec()+" --topology 1,1,1,1 -- --exec 'sleep 1000' --timeout 300")
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	// Wait for the VM; the deadline only bounds a hang.
	var boot int
	for deadline := time.Now().Add(2 * time.Minute); boot == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no VM started; stderr: %s", errb)
		}
		// The ktstr-boot that owns the VM is QEMU's parent (the driver
		// also runs short-lived ktstr-boot processes to check its flags).
		// Only a QEMU given -kernel is a VM: a short-lived ktstr-boot also
		// runs "qemu-system-x86_64 --version", and signalling its parent
		// found a process already gone (CI, stop 28).
		for _, p := range toolProcesses(os.TempDir()) {
			if filepath.Base(p.args[0]) == "qemu-system-x86_64" && slices.Contains(p.args, "-kernel") {
				boot = parentPID(p.pid)
			}
		}
	}
	time.Sleep(time.Second)
	if err := syscall.Kill(boot, syscall.SIGINT); err != nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", boot))
		t.Fatalf("signal ktstr-boot %d (%q): %v; stderr so far: %s", boot, b, err, errb)
	}
	cmd.Wait()
	t.Logf("stderr:\n%s", errb)
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want ktstr-boot's 130", code)
	}
	if !strings.Contains(errb.String(), "ktstr: ktstr-boot exited with status 130") {
		t.Errorf("the driver does not name the failed stage")
	}
	if v := onlyVerdict(t, out.String()); v.Status != record.StatusError {
		t.Errorf("the interrupted run was judged %s, want error", v.Status)
	}
}

// parentPID reads a process's parent from /proc (0 if it is gone).
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
