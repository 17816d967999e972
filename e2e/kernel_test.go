package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func resolveKernel(t *testing.T, args string) (*record.Kernel, result) {
	t.Helper()
	r := sh(t, "ktstr-kernel resolve "+args, "")
	if r.code != 0 {
		return nil, r
	}
	var k record.Kernel
	if err := record.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &k); err != nil {
		t.Fatal(err)
	}
	return &k, r
}

// TestKernelEntry: the cached 6.12 entry is a hit, its config has what the
// harness needs, and list shows it.
func TestKernelEntry(t *testing.T) {
	e2e(t)
	k, r := resolveKernel(t, kernelSpec())
	if k == nil {
		t.Fatalf("resolve %s failed: %s", kernelSpec(), r.stderr)
	}
	if k.Cache != "hit" || !k.SchedExt || k.RuntimeCodePatching == nil || *k.RuntimeCodePatching {
		t.Errorf("record %+v", k)
	}
	f, err := os.Open(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kernel.ParseConfig(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"CONFIG_SCHED_CLASS_EXT": "y", "CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_NR_CPUS": "512", "CONFIG_JUMP_LABEL": "", "CONFIG_PREEMPT_DYNAMIC": ""} {
		got := cfg[opt]
		if got == "n" {
			got = ""
		}
		if got != want {
			t.Errorf("%s=%q, want %q", opt, got, want)
		}
	}
	for _, s := range kernel.SchedulerNames {
		if _, err := os.Stat(k.Schedulers[s]); err != nil {
			t.Errorf("scheduler %s: %v", s, err)
		}
	}
	// Piped, list writes a kernel record per usable entry (a skip record
	// per unusable one).
	l := sh(t, "ktstr-kernel list", "")
	found := false
	for _, line := range strings.Split(strings.TrimSpace(l.stdout), "\n") {
		var e record.Kernel
		found = found || (record.Unmarshal([]byte(line), &e) == nil && e.Key == k.Key)
	}
	if !found {
		t.Errorf("list does not show %s as a usable kernel: %s", k.Key, l.stdout)
	}
}

// TestKernelBadSpecs: each bad SPEC exits 2 with one clear line.
func TestKernelBadSpecs(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	notTree := filepath.Join(dir, "not-a-tree")
	os.Mkdir(notTree, 0o755)
	junk := filepath.Join(dir, "junk")
	os.Mkdir(junk, 0o755)
	os.WriteFile(filepath.Join(junk, "README"), []byte("not a kernel"), 0o644)
	tarball := filepath.Join(dir, "junk.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", dir, "junk").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cache := filepath.Join(dir, "cache")
	cases := map[string]string{
		filepath.Join(dir, "missing"): "no such file or directory",
		notTree:                       "not a Linux source tree: no Makefile",
		"6.99":                        "unknown version",
		tarball:                       "tarball is not a Linux kernel source",
		"bogus":                       "not a path, a tarball or a version",
	}
	for spec, want := range cases {
		r := sh(t, "ktstr-kernel build --cache-dir "+cache+" --source-dir "+dir+" --mirror http://127.0.0.1:9/ "+spec, "")
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2", spec, r.code)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "ktstr-kernel: kernel ") || !strings.Contains(last, want) {
			t.Errorf("%s: stderr %q, want a line containing %q", spec, r.stderr, want)
		}
	}
}

// TestKernelCorruptEntry: an entry whose image is gone is listed as corrupt
// with the reason and never returned by resolve.
func TestKernelCorruptEntry(t *testing.T) {
	e2e(t)
	k, r := resolveKernel(t, kernelSpec())
	if k == nil {
		t.Fatal(r.stderr)
	}
	cache := filepath.Join(t.TempDir(), "kernels")
	os.MkdirAll(cache, 0o755)
	copy := filepath.Join(cache, k.Key)
	if out, err := exec.Command("cp", "-a", k.Dir, copy).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// Intact, the copy resolves from the temporary cache.
	if got, r := resolveKernel(t, "--cache-dir "+cache+" "+kernelSpec()); got == nil || got.Dir != copy {
		t.Fatalf("intact copy not resolved: %+v %s", got, r.stderr)
	}
	os.Remove(filepath.Join(copy, "bzImage"))
	l := sh(t, "ktstr-kernel list --cache-dir "+cache, "")
	if !strings.Contains(l.stdout, `"reason":"kernel_corrupt","detail":"image missing`) {
		t.Errorf("list does not report the corrupt entry: %s", l.stdout)
	}
	got, r := resolveKernel(t, "--cache-dir "+cache+" --source-dir /nonexistent "+kernelSpec())
	if got != nil {
		t.Fatalf("resolve returned a corrupt entry: %+v", got)
	}
	if r.code == 0 || !strings.Contains(r.stderr, "not built yet") {
		t.Errorf("resolve of a corrupt-only cache: exit %d %q", r.code, r.stderr)
	}
	c := sh(t, "ktstr-kernel clean --corrupt-only --cache-dir "+cache, "")
	if c.code != 0 || !strings.Contains(c.stderr, "removed 1 entry") {
		t.Errorf("clean --corrupt-only: %d %q", c.code, c.stderr)
	}
}

// TestKernelBuildSIGINT: interrupting a build leaves no entry, staging or
// build directory, and the next build starts at once (no stale lock).
func TestKernelBuildSIGINT(t *testing.T) {
	e2e(t)
	tarball := "/usr/src/linux-source-6.12.tar.xz"
	if _, err := os.Stat(tarball); err != nil {
		t.Skip("needs " + tarball)
	}
	cache := t.TempDir()
	interruptAt := func(marker string) string {
		cmd, _, errb := startSh(t, "exec ktstr-kernel build --cache-dir "+cache+" "+tarball)
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(errb.String(), marker) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("build did not stop within 30s of SIGINT")
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit %d after SIGINT, want 130; stderr %s", code, errb)
		}
		return errb.String()
	}
	stderr := interruptAt("building 6.12")
	t.Logf("first build: %s", stderr)
	left, _ := filepath.Glob(filepath.Join(cache, "*"))
	hidden, _ := filepath.Glob(filepath.Join(cache, ".tmp-*"))
	builds, _ := filepath.Glob(filepath.Join(cache, ".build", "*"))
	for _, p := range left {
		if !strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("entry left after SIGINT: %s", p)
		}
	}
	if len(hidden)+len(builds) > 0 {
		t.Errorf("staging or build directories left: %v %v", hidden, builds)
	}
	stderr = interruptAt("extracting")
	if strings.Contains(stderr, "waiting for another build") {
		t.Errorf("the second build waited for a lock the interrupted one should have released: %s", stderr)
	}
}
