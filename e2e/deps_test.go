package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run the driver and scripts/install-deps.sh on a $PATH made in
// a temporary directory: a few real basic commands, stubs that stand for
// the commands a host may have, and stubs for the package tools (apt-get,
// dpkg, dpkg-query, sudo) that only record that they were called. They boot
// nothing, so they need no KTSTR_E2E and run in `make unit`.

// fakeHost is a $PATH directory and the log its recording stubs write to.
type fakeHost struct {
	dir, log string
}

// basics are the real commands the driver and install-deps.sh use before
// they get to the dependency check.
var basics = []string{"sh", "dirname", "find", "head", "id", "awk", "cat", "date", "env"}

// newFakeHost links basics into a fresh $PATH directory and adds a
// recording stub for each of stubs: it appends its name and arguments to
// the log and succeeds, as an installed command that does nothing would.
func newFakeHost(t *testing.T, stubs ...string) *fakeHost {
	t.Helper()
	h := &fakeHost{dir: t.TempDir()}
	h.log = filepath.Join(h.dir, "calls.log")
	for _, c := range basics {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("%s not on this host's PATH", c)
		}
		if err := os.Symlink(p, filepath.Join(h.dir, c)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stubs {
		script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >>%s\n", s, h.log)
		if err := os.WriteFile(filepath.Join(h.dir, s), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// calls returns what the recording stubs were asked to do.
func (h *fakeHost) calls() string {
	b, _ := os.ReadFile(h.log)
	return string(b)
}

// packageCalls returns the calls of package tools.
func (h *fakeHost) packageCalls() []string {
	var out []string
	for _, l := range strings.Split(h.calls(), "\n") {
		for _, p := range packageTools {
			if strings.HasPrefix(l, p+" ") {
				out = append(out, l)
			}
		}
	}
	return out
}

// run runs a script of the repository with sh, on the fake $PATH only.
func (h *fakeHost) run(t *testing.T, script string, args ...string) result {
	t.Helper()
	return h.runEnv(t, nil, script, args...)
}

// runEnv is run with more environment variables.
func (h *fakeHost) runEnv(t *testing.T, env []string, script string, args ...string) result {
	t.Helper()
	top := filepath.Join(binDir(t), "..")
	cmd := exec.Command(filepath.Join(h.dir, "sh"), append([]string{filepath.Join(top, script)}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), "PATH="+h.dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", script, err)
	}
	t.Logf("$ PATH=%s %s %s\n(exit %d)\nstderr:\n%s", h.dir, script, strings.Join(args, " "), r.code, r.stderr)
	return r
}

// packageTools are the stubs that must never run unless asked to install.
var packageTools = []string{"apt-get", "dpkg", "dpkg-query", "sudo"}

// TestDriverMissingDepsDebian: on a Debian host without QEMU, every
// command that boots a VM names what is missing and the apt-get line that
// installs it, exits 2, and runs neither apt-get nor dpkg.
func TestDriverMissingDepsDebian(t *testing.T) {
	for _, args := range [][]string{
		{"test"},
		{"gauntlet", "--max-cpus", "4"},
		{"verifier", "--scheduler", "scx_simple"},
		{"compare"},
		{"shell"},
	} {
		t.Run(args[0], func(t *testing.T) {
			h := newFakeHost(t, packageTools...)
			r := h.run(t, "scripts/ktstr", args...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, "ktstr: missing: ") || !strings.Contains(r.stderr, "qemu-system-x86_64") {
				t.Errorf("stderr does not name qemu-system-x86_64 as missing:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "apt-get install ") || !strings.Contains(r.stderr, "qemu-system-x86 ") ||
				!strings.Contains(r.stderr, "scripts/ktstr setup") {
				t.Errorf("stderr does not give the apt-get line (qemu-system-x86) and setup:\n%s", r.stderr)
			}
			if c := h.packageCalls(); len(c) > 0 {
				t.Errorf("package tools were run: %q", c)
			}
		})
	}
}

// TestDriverMissingDepsElsewhere: without apt-get or dpkg (Fedora, Arch)
// the driver says which commands to install, with no apt-get line, and
// exits 2.
func TestDriverMissingDepsElsewhere(t *testing.T) {
	h := newFakeHost(t)
	r := h.run(t, "scripts/ktstr", "test")
	if r.code != 2 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "ktstr: missing: ") || !strings.Contains(r.stderr, "qemu-system-x86_64") ||
		!strings.Contains(r.stderr, "with this system's package manager") {
		t.Errorf("stderr does not name qemu-system-x86_64 and how to install it:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "apt-get") || strings.Contains(r.stderr, "command not found") {
		t.Errorf("stderr names apt-get or a command it lacks:\n%s", r.stderr)
	}
}

// runtimeCommands stand for every command the runtime groups look for.
var runtimeCommands = []string{"go", "make", "qemu-system-x86_64", "busybox", "parallel", "ssh", "gcc", "flex",
	"bison", "bc", "pahole", "cpio", "tar", "xz", "zstd", "pkg-config", "clang", "llvm-ar", "ld.lld",
	"hackbench", "cyclictest", "stress-ng", "perf"}

// TestDepsCheckWithoutDpkg: a host with every command (clang without the
// -19 suffix, as Fedora and Arch name it) and no dpkg passes the check,
// which asks no package tool.
func TestDepsCheckWithoutDpkg(t *testing.T) {
	h := newFakeHost(t, runtimeCommands...)
	r := h.run(t, "scripts/install-deps.sh", "--check", "tools", "runtime")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	// The stubs record only pkg-config's questions.
	for _, l := range strings.Split(strings.TrimSpace(h.calls()), "\n") {
		if !strings.HasPrefix(l, "pkg-config --exists ") {
			t.Errorf("the check ran %q", l)
		}
	}
}

// TestDepsMixedLLVM: Debian's clang-19 beside another LLVM's unsuffixed
// llvm-ar (llvm 14 here, 2026-12-05) is not a toolchain the kernel build
// can use (LLVM=-19 wants llvm-ar-19): the check asks for llvm-19.
func TestDepsMixedLLVM(t *testing.T) {
	var cmds []string
	for _, c := range runtimeCommands {
		switch c {
		case "clang":
			c = "clang-19"
		case "ld.lld":
			c = "ld.lld-19"
		}
		cmds = append(cmds, c)
	}
	h := newFakeHost(t, append(cmds, "apt-get")...)
	r := h.run(t, "scripts/install-deps.sh", "--check", "kernel")
	if r.code != 2 || !strings.Contains(r.stderr, "missing: llvm-ar-19 or clang+llvm-ar") || !strings.Contains(r.stderr, "apt-get install llvm-19") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming llvm-ar-19 and apt-get install llvm-19", r.code, r.stderr)
	}
}

// TestDepsUnknownGroup: a mistake in the groups is one line and exit 2.
func TestDepsUnknownGroup(t *testing.T) {
	h := newFakeHost(t)
	r := h.run(t, "scripts/install-deps.sh", "--check", "bogus")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "install-deps: unknown group bogus") {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming the group", r.code, r.stderr)
	}
}

// TestSetupInstalls: `ktstr setup` is the command that installs: it asks
// apt-get for the runtime packages and not the test suite's (chromium,
// openssh-server), and when they are still missing afterwards (the stub
// installs nothing) it says so and stops before building anything.
func TestSetupInstalls(t *testing.T) {
	h := newFakeHost(t, packageTools...)
	r := h.run(t, "scripts/ktstr", "setup")
	calls := h.calls()
	if !strings.Contains(calls, "apt-get update") || !strings.Contains(calls, "apt-get install -y -qq --no-install-recommends ") ||
		!strings.Contains(calls, " qemu-system-x86 ") {
		t.Errorf("setup did not apt-get install qemu-system-x86; calls:\n%s", calls)
	}
	for _, pkg := range []string{"chromium", "openssh-server", "gnupg"} {
		if strings.Contains(calls, pkg) {
			t.Errorf("setup installs the test suite's %s; calls:\n%s", pkg, calls)
		}
	}
	if strings.Contains(calls, "dpkg") {
		t.Errorf("setup asked dpkg; calls:\n%s", calls)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "install-deps: still missing after apt-get install: qemu-system-x86_64") ||
		strings.Contains(r.stderr, "building tools") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1, the packages still missing named, nothing built", r.code, r.stderr)
	}
}

// TestDriverMissingKernelToolchain: with QEMU there but a kernel to build
// (an empty cache) and no toolchain, the driver names the toolchain and the
// packages before building anything, exits 2, and installs nothing; so
// does `ktstr kernel build`. It runs the built tools (bin/).
func TestDriverMissingKernelToolchain(t *testing.T) {
	if stale := toolsStale(t); stale != "" {
		t.Skipf("needs current tools in bin/ (make build; make test builds them first): %s", stale)
	}
	for _, args := range [][]string{{"test", "--topology", "1,1,2,1"}, {"kernel", "build", "6.12"}} {
		t.Run(args[0], func(t *testing.T) {
			h := newFakeHost(t, append([]string{"qemu-system-x86_64"}, packageTools...)...)
			r := h.runEnv(t, []string{"KTSTR_CACHE_DIR=" + t.TempDir()}, "scripts/ktstr", args...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			for _, want := range []string{"ktstr: missing: ", "pahole", "clang-19 or clang", "libelf (pkg-config)",
				"apt-get install ", " dwarves ", " clang-19 "} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "qemu-system-x86_64,") || strings.Contains(r.stderr, "building") {
				t.Errorf("stderr names QEMU, which is there, or builds:\n%s", r.stderr)
			}
			if c := h.packageCalls(); len(c) > 0 {
				t.Errorf("package tools were run: %q", c)
			}
		})
	}
}

// toolsStale says why bin/ would be rebuilt by the driver (no tools, or a
// source newer than them, as its stale check has it), "" when it is current.
func toolsStale(t *testing.T) string {
	t.Helper()
	st, err := os.Stat(filepath.Join(binDir(t), "ktstr-boot"))
	if err != nil {
		return "no bin/ktstr-boot"
	}
	newer := ""
	for _, d := range []string{"cmd", "lib", "internal"} {
		filepath.WalkDir(filepath.Join(binDir(t), "..", d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || newer != "" || e.IsDir() || !strings.HasSuffix(p, ".go") {
				return nil
			}
			if i, err := e.Info(); err == nil && i.ModTime().After(st.ModTime()) {
				newer = p + " is newer than bin/ktstr-boot"
			}
			return nil
		})
	}
	return newer
}
