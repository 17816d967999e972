package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/initramfs"
)

// tools are the binaries `go install .../cmd/...` makes.
var tools = []string{"ktstr-topo", "ktstr-kernel", "ktstr-boot", "ktstr-verify", "ktstr-stats", "ktstr-repro"}

// goTool is the go command that runs these tests.
func goTool(t *testing.T) string {
	t.Helper()
	// go test puts its own GOROOT/bin first in the tests' PATH.
	p, err := exec.LookPath("go")
	if err != nil {
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
// dynamic loader and cannot be the guest's /init: the job becomes an error
// record, before QEMU starts, whose one line says how to build it.
func TestDynamicAgentRefused(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler: go builds static binaries anyway")
	}
	dyn := filepath.Join(t.TempDir(), "ktstr-boot")
	goRun(t, []string{"CGO_ENABLED=1"}, "build", "-o", dyn, "./cmd/ktstr-boot")
	if interp, err := initramfs.Interpreter(dyn); err != nil || interp == "" {
		t.Skipf("a cgo build of ktstr-boot is static here (%v): nothing to refuse", err)
	}
	// A kernel image that resolves (the boot header and its version
	// string), so that the job gets as far as its initramfs.
	image := filepath.Join(t.TempDir(), "bzImage")
	hdr := make([]byte, 0x400)
	copy(hdr[0x202:], "HdrS")
	hdr[0x20F] = 0x01 // version string at 0x200 + 0x100
	copy(hdr[0x300:], "6.12.0-test (ktstr) #1\x00")
	writeFile(t, image, string(hdr))
	cmd := exec.Command(dyn, "--topology", "1,1,2,1", "--kernel", image, "--no-snapshot")
	cmd.Env = append(os.Environ(), "KTSTR_CACHE_DIR="+t.TempDir(), "TMPDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if !ok || ee.ExitCode() != 1 || !strings.Contains(last, "is dynamically linked") || !strings.Contains(last, "CGO_ENABLED=0") {
		t.Errorf("dynamic ktstr-boot: %v, stderr %q; want exit 1 and a last line saying to build with CGO_ENABLED=0", err, lines)
	}
	recs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(recs) != 1 || !strings.Contains(recs[0], `"kind":"error"`) || !strings.Contains(recs[0], "must be static") {
		t.Errorf("stdout %q; want the job's one error record", out)
	}
}
