// Package vm runs one guest under QEMU: it builds the command line from a
// topology (q35, sockets = NUMA nodes, dies = LLCs per node, file-backed
// memory per node on /dev/shm, SLIT distances), chooses the accelerator and
// the TCG threading mode, runs QEMU with a console log and a separate result
// channel, enforces the timeout, measures what the host gave each vCPU, and
// removes everything it created on every exit path.
package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// Accelerators and TCG modes.
const (
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
	TCGMulti  = "multi"
	TCGSingle = "single"
	// TCGIcount is single-threaded TCG whose guest clock counts executed
	// instructions (-icount shift=N,sleep=off) instead of following the
	// host's clock: the guest's view of time no longer depends on host
	// load. An experiment (issue 9): see scripts/bench-icount.sh.
	TCGIcount = "icount"
	// icountShift makes one guest instruction 2^shift ns of guest time.
	icountShift = 3
	shmPrefix   = "ktstr-"
	defaultQEMU = "qemu-system-x86_64"
)

// Machine is everything QEMU needs for one guest.
type Machine struct {
	// Name identifies the VM (QEMU -name, /dev/shm file names).
	Name     string
	Topology *record.Topology
	MemoryMB int
	Kernel   string // the bzImage, or the vmlinux for a PVH boot
	Initrd   string
	// Firmware, if set, is the firmware image QEMU runs (-bios, e.g.
	// QBootImage); QEMU's default (SeaBIOS) otherwise.
	Firmware string
	Cmdline  string
	Accel    string
	// TCGThreads is TCGMulti or TCGSingle (TCG only).
	TCGThreads string
	// CPUVendor selects -cpu under KVM ("amd" adds topoext).
	CPUVendor string
	// ConsoleLog receives the kernel console (ttyS0).
	ConsoleLog string
	// Results receives the result channel (virtio-serial port).
	Results string
	// ShmDir holds the guest-RAM files ("/dev/shm").
	ShmDir string
	// Channel, if set, makes the result channel a unix socket at this path
	// that the host listens on and QEMU connects to: bidirectional, so the
	// host can hand a restored guest its job (proto.Start). Results then
	// still land in Results, copied from the socket by Run.
	Channel string
	// Incoming, if set, restores the machine from this migration stream
	// (a snapshot saved by Save) instead of booting it.
	Incoming string
	// IncomingRAM, with Incoming, are the guest-RAM files of the snapshot,
	// one per NUMA node (see SharedRAMSnapshot): Run copies each into a
	// fresh ShmFiles file before QEMU starts.
	IncomingRAM []string
	// SharedRAMSnapshot leaves guest RAM out of migration streams (QEMU's
	// x-ignore-shared capability): RAM lives in the shared /dev/shm files,
	// which Save copies beside the stream (sparse: only pages in use) and
	// a restore copies back, much faster than QEMU parsing every page of a
	// stream. A restore needs QMP (the capability is set through it).
	SharedRAMSnapshot bool
	// QMP, if set, is a unix socket path for QEMU's machine protocol
	// (Save drives the migration through it).
	QMP string
	// Shell adds a second serial port (proto.ShellConsole) on QEMU's stdio,
	// multiplexed with the monitor (Ctrl-A X quits QEMU, Ctrl-A C toggles the
	// monitor), for an interactive shell; Ctrl-C goes to the guest.
	Shell bool
}

// ShmFiles are the guest-RAM backing files of m, one per NUMA node.
func (m *Machine) ShmFiles() []string {
	dir := m.ShmDir
	if dir == "" {
		dir = "/dev/shm"
	}
	out := make([]string, m.Topology.NUMANodes)
	for i := range out {
		out[i] = filepath.Join(dir, fmt.Sprintf("%s%s-node%d", shmPrefix, m.Name, i))
	}
	return out
}

// Args is QEMU's argument list for m.
func (m *Machine) Args() ([]string, error) {
	t := m.Topology
	s := topology.SpecOf(t)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("topology %s: %w", t.Name, err)
	}
	if m.MemoryMB%s.NUMANodes != 0 {
		return nil, fmt.Errorf("memory %d MB does not split evenly over %d nodes", m.MemoryMB, s.NUMANodes)
	}
	args := []string{
		"-name", m.Name + ",debug-threads=on",
		// No SATA controller and no SMBus: the guest has no disks and no
		// sensors, and each is a PCI function its kernel would probe.
		"-machine", "q35,sata=off,smbus=off",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-smp", fmt.Sprintf("%d,sockets=%d,dies=%d,cores=%d,threads=%d", s.CPUs(), s.NUMANodes, s.LLCsPerNode(), s.CoresPerLLC, s.ThreadsPerCore),
		"-m", fmt.Sprintf("%dM", m.MemoryMB),
	}
	switch m.Accel {
	case AccelKVM:
		cpu := "host"
		if m.CPUVendor == "amd" {
			cpu = "host,+topoext"
		}
		args = append(args, "-accel", "kvm", "-cpu", cpu)
	case AccelTCG:
		// An Intel model: AMD models lose SMT and LLC information under TCG.
		if m.TCGThreads == TCGIcount {
			args = append(args, "-accel", "tcg,thread=single", "-icount", fmt.Sprintf("shift=%d,sleep=off", icountShift), "-cpu", "Skylake-Server")
		} else {
			args = append(args, "-accel", "tcg,thread="+m.TCGThreads, "-cpu", "Skylake-Server")
		}
	default:
		return nil, fmt.Errorf("unknown accelerator %q", m.Accel)
	}
	perNode := m.MemoryMB / s.NUMANodes
	for i, path := range m.ShmFiles() {
		args = append(args,
			"-object", fmt.Sprintf("memory-backend-file,id=mem%d,size=%dM,mem-path=%s,share=on", i, perNode, path),
			"-numa", fmt.Sprintf("node,nodeid=%d,memdev=mem%d", i, i),
			"-numa", fmt.Sprintf("cpu,node-id=%d,socket-id=%d", i, i))
	}
	for i, row := range t.Distances {
		for j, d := range row {
			if i != j {
				args = append(args, "-numa", fmt.Sprintf("dist,src=%d,dst=%d,val=%d", i, j, d))
			}
		}
	}
	args = append(args,
		"-chardev", "file,id=console,path="+m.ConsoleLog,
		"-serial", "chardev:console",
	)
	if m.Shell {
		args = append(args,
			"-chardev", "stdio,id=shell,mux=on,signal=off",
			"-serial", "chardev:shell",
			"-mon", "chardev=shell,mode=readline")
	}
	results := "file,id=results,path=" + m.Results
	if m.Channel != "" {
		results = "socket,id=results,path=" + m.Channel
	}
	args = append(args,
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", results,
		"-device", "virtserialport,bus=vser0.0,chardev=results,name="+proto.PortName,
		"-kernel", m.Kernel,
		"-initrd", m.Initrd,
		"-append", m.Cmdline,
	)
	if m.Firmware != "" {
		args = append(args, "-bios", m.Firmware)
	}
	if m.QMP != "" {
		args = append(args, "-qmp", "unix:"+m.QMP+",server=on,wait=off")
	}
	switch {
	case m.Incoming != "" && m.SharedRAMSnapshot:
		// The capability must be set before the stream is read: Run does
		// both through QMP.
		args = append(args, "-incoming", "defer")
	case m.Incoming != "":
		args = append(args, "-incoming", incomingURI(m.Incoming))
	}
	return args, nil
}

// SnapshotArgs is the part of m's command line a snapshot of m depends on:
// Args with a result channel socket and without what differs between runs
// of one machine (its name, the console log, the guest-RAM file names, the
// sockets, the snapshot to restore). Two machines with equal SnapshotArgs
// can restore each other's snapshots.
func (m *Machine) SnapshotArgs() ([]string, error) {
	c := *m
	c.Name, c.ConsoleLog, c.Results, c.Channel, c.QMP, c.Incoming, c.IncomingRAM, c.ShmDir = "snapshot", "console", "", "channel", "", "", nil, "/dev/shm"
	return c.Args()
}

// incomingURI is the migration URI that reads the stream at path.
func incomingURI(path string) string { return "exec:cat " + shellQuote(path) }

// shellQuote quotes s for /bin/sh (QEMU runs exec: URIs with it).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// KernelCmdline is the guest command line: console on ttyS0, reboot (and so
// QEMU exit, with -no-reboot) immediately on panic, the agent as init,
// settings that make runs reproducible, and two that shorten a boot under
// TCG by about 75 ms (measured on 1,2,2,1): no legacy BSD ptys (pty_init
// registers 512 tty devices for them, ~65 ms; the guest's ptys are
// Unix98's: /dev/ptmx, devpts mounted by the agent) and no RAPL perf PMU (its probe takes ~15 ms and
// finds no counters in a VM). Kernels without either ignore the argument.
// extra is appended.
func KernelCmdline(dmesg bool, extra []string) string {
	level := "loglevel=4"
	if dmesg {
		level = "loglevel=7"
	}
	args := []string{
		"console=ttyS0", "panic=-1", "rdinit=/init", level, "nokaslr", "mitigations=off", "no_timer_check",
		"random.trust_cpu=on", "i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd",
		"numa_balancing=disable", "sysctl.kernel.sched_schedstats=1", "sysctl.kernel.unprivileged_bpf_disabled=0",
		"pty.legacy_count=0", "initcall_blacklist=rapl_pmu_init",
	}
	return strings.Join(append(args, extra...), " ")
}

// QEMUBinary finds qemu-system-x86_64 ($KTSTR_QEMU overrides).
func QEMUBinary() (string, error) {
	name := os.Getenv("KTSTR_QEMU")
	if name == "" {
		name = defaultQEMU
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: install qemu-system-x86 (scripts/install-deps.sh)", name)
	}
	return p, nil
}

// QEMUVersion returns "7.2.22" style version text of the binary.
func QEMUVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	for i, w := range f {
		if w == "version" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return strings.TrimSpace(string(out))
}

// TCGThreads chooses the TCG threading mode for a kernel. Multi-threaded TCG
// crashes kernels that patch their own code at run time; such kernels, and
// kernels whose config is unknown, run single-threaded.
func TCGThreads(k *record.Kernel, forceSingle bool) (mode, reason string) {
	switch {
	case forceSingle:
		return TCGSingle, "the job patches kernel text at run time (probes)"
	case k.RuntimeCodePatching == nil:
		return TCGSingle, "the kernel's config is unknown, so it may patch its own code at run time"
	case *k.RuntimeCodePatching:
		return TCGSingle, "the kernel patches its own code at run time (JUMP_LABEL or PREEMPT_DYNAMIC)"
	}
	return TCGMulti, "the kernel does not patch its own code at run time"
}

// BootEstimateS is how long a guest takes to reach the agent: measured ~3 s
// for 4 vCPUs and ~4 s for 16 under TCG on 2 host cores; single-threaded TCG
// serialises vCPUs. The estimate is generous: it only feeds the timeout.
func BootEstimateS(accel, tcgThreads string, cpus, hostCPUs int) float64 {
	if accel == AccelKVM {
		return 5
	}
	est := 10 + 0.5*float64(cpus)*max(1, float64(cpus)/float64(max(hostCPUs, 1))/4)
	if tcgThreads == TCGSingle || tcgThreads == TCGIcount {
		est *= 2
	}
	return est
}

// DefaultTimeoutS derives a run's timeout: boot estimate + the job's
// duration (scaled for overcommitted vCPUs) + a margin.
func DefaultTimeoutS(bootS, durationS float64, cpus, hostCPUs int) float64 {
	over := max(1, float64(cpus)/float64(max(hostCPUs, 1)))
	return bootS + durationS*min(over, 4) + 30
}
