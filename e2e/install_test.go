package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/initramfs"
)

// tools are the binaries `go install .../cmd/...` makes.
var tools = []string{"ktstr-topo", "ktstr-kernel", "ktstr-boot", "ktstr-verify", "ktstr-stats", "ktstr-repro"}

// goTool is the go command that runs these tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command to build with")
	}
	return p
}

// goRun runs the go command in the module's root with env added.
func goRun(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(goTool(t), args...)
	cmd.Dir = filepath.Join(binDir(t), "..")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), err, out)
	}
}

// TestGoInstallStatic: the README's install without the repository,
// `CGO_ENABLED=0 go install github.com/ktstr-go/ktstr/cmd/...@latest`, is
// from this module `CGO_ENABLED=0 go install ./cmd/...`: six binaries, each
// static (no program interpreter, as the guest agent must be), that work
// away from the repository (ktstr-topo in an empty directory). It needs no
// VM, so it runs without KTSTR_E2E.
func TestGoInstallStatic(t *testing.T) {
	gobin := t.TempDir()
	goRun(t, []string{"CGO_ENABLED=0", "GOBIN=" + gobin}, "install", "./cmd/...")
	for _, tool := range tools {
		p := filepath.Join(gobin, tool)
		interp, err := initramfs.Interpreter(p)
		if err != nil {
			t.Errorf("%s: %v", tool, err)
		} else if interp != "" {
			t.Errorf("%s is dynamically linked (interpreter %s); want a static binary", tool, interp)
		}
	}
	cmd := exec.Command(filepath.Join(gobin, "ktstr-topo"), "1,1,2,1")
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil || !bytes.Contains(out, []byte(`"kind":"topology"`)) {
		t.Errorf("installed ktstr-topo 1,1,2,1 in an empty directory: %v, %q", err, out)
	}
}

// TestDynamicAgentRefused: a ktstr-boot built with cgo (a go install
// without CGO_ENABLED=0, where a C compiler is installed) needs the host's
// dynamic loader and cannot be the guest's /init: it refuses to boot
// anything, in one line that says how to build it.
func TestDynamicAgentRefused(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler: go builds static binaries anyway")
	}
	dyn := filepath.Join(t.TempDir(), "ktstr-boot")
	goRun(t, []string{"CGO_ENABLED=1"}, "build", "-o", dyn, "./cmd/ktstr-boot")
	if interp, err := initramfs.Interpreter(dyn); err != nil || interp == "" {
		t.Skipf("a cgo build of ktstr-boot is static here (%v): nothing to refuse", err)
	}
	cmd := exec.Command(dyn, "--topology", "1,1,2,1")
	cmd.Env = append(os.Environ(), "KTSTR_CACHE_DIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if !ok || ee.ExitCode() != 1 || len(out) != 0 || len(lines) != 1 ||
		!strings.Contains(lines[0], "is dynamically linked") || !strings.Contains(lines[0], "CGO_ENABLED=0") {
		t.Errorf("dynamic ktstr-boot: %v, stdout %q, stderr %q; want exit 1 and one line saying to build with CGO_ENABLED=0", err, out, lines)
	}
}

// TestMakeRelease: `make release` puts the six tools, static, in
// DIST/linux-amd64 with a DIST/SHA256SUMS that sha256sum -c accepts, and
// that catches a changed byte.
func TestMakeRelease(t *testing.T) {
	for _, c := range []string{"make", "sha256sum"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed", c)
		}
	}
	dist := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("make", "-s", "release", "DIST="+dist, "GO="+goTool(t))
	cmd.Dir = filepath.Join(binDir(t), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	for _, tool := range tools {
		if interp, err := initramfs.Interpreter(filepath.Join(dist, "linux-amd64", tool)); err != nil || interp != "" {
			t.Errorf("%s: interpreter %q, %v; want a static binary", tool, interp, err)
		}
	}
	sums := readFile(t, filepath.Join(dist, "SHA256SUMS"))
	if n := strings.Count(sums, "  linux-amd64/ktstr-"); n != len(tools) {
		t.Errorf("SHA256SUMS lists %d tools, want %d:\n%s", n, len(tools), sums)
	}
	verify := func() (string, error) {
		c := exec.Command("sha256sum", "-c", "SHA256SUMS")
		c.Dir = dist
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(dist, "linux-amd64", "ktstr-topo"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	if out, err := verify(); err == nil || !strings.Contains(out, "linux-amd64/ktstr-topo: FAILED") {
		t.Errorf("sha256sum -c accepted a changed ktstr-topo: %v\n%s", err, out)
	}
}
