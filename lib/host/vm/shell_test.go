package vm

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// TestArgsShell: a shell machine gets a second serial port on stdio,
// multiplexed with the monitor and without QEMU's own SIGINT handling; a
// plain machine has no stdio at all.
func TestArgsShell(t *testing.T) {
	m := &Machine{Name: "1-1", Topology: topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(21),
		MemoryMB: 512, Kernel: "k", Initrd: "i", Cmdline: "c", Accel: AccelTCG, TCGThreads: TCGMulti, ConsoleLog: "log", Results: "res"}
	plain, err := m.Args()
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(plain, " "); strings.Contains(s, "stdio") {
		t.Errorf("plain machine uses stdio: %s", s)
	}
	m.Shell = true
	args, err := m.Args()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(args, " ")
	for _, want := range []string{"-chardev stdio,id=shell,mux=on,signal=off", "-serial chardev:shell", "-mon chardev=shell,mode=readline"} {
		if !strings.Contains(s, want) {
			t.Errorf("shell machine lacks %q: %s", want, s)
		}
	}
	// The console stays ttyS0: its -serial comes first.
	if c, sh := strings.Index(s, "-serial chardev:console"), strings.Index(s, "-serial chardev:shell"); c < 0 || sh < c {
		t.Errorf("serial order: console at %d, shell at %d; the shell must be the second port (ttyS1)", c, sh)
	}
}
