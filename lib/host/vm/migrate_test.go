package vm

import (
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/topology"
)

func snapshotMachine() *Machine {
	return &Machine{Name: "9-1", Topology: topology.Spec{NUMANodes: 1, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(10),
		MemoryMB: 768, Kernel: "/k/vmlinux", Initrd: "/r/base", Cmdline: "console=ttyS0", Accel: AccelTCG, TCGThreads: TCGMulti,
		ConsoleLog: "/t/console.log", Results: "/t/results", ShmDir: "/dev/shm", Channel: "/t/channel.sock"}
}

// A snapshot machine's result channel is a socket; a restore with shared
// RAM waits for QMP (-incoming defer), one without reads its stream.
func TestArgsSnapshotMachine(t *testing.T) {
	m := snapshotMachine()
	args, _ := m.Args()
	got := strings.Join(args, " ")
	if !strings.Contains(got, "-chardev socket,id=results,path=/t/channel.sock") || strings.Contains(got, "-incoming") {
		t.Errorf("boot of a snapshot source: %s", got)
	}
	m.Incoming, m.SharedRAMSnapshot, m.QMP = "/c/it's/vmstate", true, "/t/qmp.sock"
	args, _ = m.Args()
	got = strings.Join(args, " ")
	if !strings.Contains(got, "-incoming defer") || !strings.Contains(got, "-qmp unix:/t/qmp.sock,server=on,wait=off") {
		t.Errorf("restore with shared RAM: %s", got)
	}
	m.SharedRAMSnapshot = false
	args, _ = m.Args()
	if i := slices.Index(args, "-incoming"); i < 0 || args[i+1] != `exec:cat '/c/it'\''s/vmstate'` {
		t.Errorf("restore from a stream: %v", args)
	}
}

// SnapshotArgs do not change with what differs between runs of one
// machine, and do change with what a snapshot depends on.
func TestSnapshotArgs(t *testing.T) {
	base, err := snapshotMachine().SnapshotArgs()
	if err != nil {
		t.Fatal(err)
	}
	same := snapshotMachine()
	same.Name, same.ConsoleLog, same.Channel, same.QMP, same.Incoming, same.IncomingRAM = "10-7", "/u/c.log", "/u/ch.sock", "/u/q.sock", "/c/vmstate", []string{"/c/node0.ram"}
	if got, _ := same.SnapshotArgs(); !slices.Equal(got, base) {
		t.Errorf("per-run names changed the snapshot args:\n%v\n%v", got, base)
	}
	for name, change := range map[string]func(*Machine){
		"tcg threads": func(m *Machine) { m.TCGThreads = TCGSingle },
		"memory":      func(m *Machine) { m.MemoryMB = 1024 },
		"cmdline":     func(m *Machine) { m.Cmdline += " loglevel=7" },
		"kernel":      func(m *Machine) { m.Kernel = "/k/bzImage" },
		"initrd":      func(m *Machine) { m.Initrd = "/r/other" },
		"firmware":    func(m *Machine) { m.Firmware = "/usr/share/qemu/qboot.rom" },
		"topology": func(m *Machine) {
			m.Topology = topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 4, ThreadsPerCore: 1}.Record(10)
		},
	} {
		m := snapshotMachine()
		change(m)
		if got, _ := m.SnapshotArgs(); slices.Equal(got, base) {
			t.Errorf("%s: snapshot args unchanged", name)
		}
	}
}

// QEMU's refusal of a migration stream is told apart from other output
// (a TCG assertion abort, feature warnings): only the refusal blames the
// snapshot.
func TestIncomingFailure(t *testing.T) {
	refused := []string{
		"qemu-system-x86_64: Unknown savevm section or instance 'foo' 0. Make sure that your current VM setup matches your saved VM setup, including any hotplugged devices\nqemu-system-x86_64: load of migration failed: Invalid argument",
		"qemu-system-x86_64: Missing section footer for 0000:00:02.0/virtio-console",
	}
	for _, out := range refused {
		if incomingFailure(out) == "" {
			t.Errorf("refusal not seen in %q", out)
		}
	}
	other := []string{
		"",
		"qemu-system-x86_64: ../../accel/tcg/cpu-exec.c:1003: cpu_exec_setjmp: Assertion `cpu == current_cpu' failed.",
		"qemu-system-x86_64: terminating on signal 9",
	}
	for _, out := range other {
		if got := incomingFailure(out); got != "" {
			t.Errorf("%q taken for a refused migration: %q", out, got)
		}
	}
}
