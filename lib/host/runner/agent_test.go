package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/initramfs"
)

// TestStaticAgentRefusesDynamic: a binary with a program interpreter (the
// host's /bin/sh) cannot be the guest agent; the error names the
// interpreter and the build that fixes it. (A static build is checked by
// e2e/install_test.go, which makes one.)
func TestStaticAgentRefusesDynamic(t *testing.T) {
	sh := "/bin/sh"
	interp, err := initramfs.Interpreter(sh)
	if err != nil || interp == "" {
		t.Skipf("%s is not a dynamically linked ELF here (%q, %v)", sh, interp, err)
	}
	err = staticAgent(sh)
	if err == nil {
		t.Fatal("a dynamically linked agent was accepted")
	}
	for _, want := range []string{sh + " is dynamically linked (interpreter " + interp + ")", "must be static", "CGO_ENABLED=0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// TestStaticAgentNotELF: what is not an ELF file is refused as such.
func TestStaticAgentNotELF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	if err := staticAgent(p); err == nil || !strings.Contains(err.Error(), "guest agent: read ELF "+p) {
		t.Errorf("staticAgent(script) = %v", err)
	}
}
