package vm

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/proto"
)

func TestArgsTwoNodes(t *testing.T) {
	m := &Machine{Name: "1-1", Topology: topology.Spec{NUMANodes: 2, LLCs: 4, CoresPerLLC: 2, ThreadsPerCore: 2}.Record(21),
		MemoryMB: 1024, Kernel: "/k/bzImage", Initrd: "/r/initrd", Cmdline: "console=ttyS0", Accel: AccelTCG, TCGThreads: TCGMulti,
		ConsoleLog: "/r/console.log", Results: "/r/results", ShmDir: "/dev/shm"}
	args, err := m.Args()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{
		"-machine q35,sata=off,smbus=off", "-smp 16,sockets=2,dies=2,cores=2,threads=2", "-m 1024M", "-accel tcg,thread=multi -cpu Skylake-Server",
		"-object memory-backend-file,id=mem1,size=512M,mem-path=/dev/shm/ktstr-1-1-node1,share=on",
		"-numa node,nodeid=1,memdev=mem1", "-numa cpu,node-id=1,socket-id=1", "-numa dist,src=0,dst=1,val=21",
		"-no-reboot", "-nodefaults", "name=" + proto.PortName, "-name 1-1,debug-threads=on",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	m.Accel, m.CPUVendor = AccelKVM, "amd"
	args, _ = m.Args()
	if !strings.Contains(strings.Join(args, " "), "-accel kvm -cpu host,+topoext") {
		t.Errorf("kvm on amd: %v", args)
	}
	m.MemoryMB = 1023
	if _, err := m.Args(); err == nil {
		t.Error("memory that does not split over nodes accepted")
	}
}

func TestTCGThreads(t *testing.T) {
	yes, no := true, false
	if m, _ := TCGThreads(&record.Kernel{RuntimeCodePatching: &no}, false); m != TCGMulti {
		t.Error("a non-patching kernel must get multi-threaded TCG")
	}
	for _, k := range []*record.Kernel{{RuntimeCodePatching: &yes}, {}} {
		if m, why := TCGThreads(k, false); m != TCGSingle || why == "" {
			t.Errorf("%+v: %s %s", k, m, why)
		}
	}
	if m, _ := TCGThreads(&record.Kernel{RuntimeCodePatching: &no}, true); m != TCGSingle {
		t.Error("probes must force single-threaded TCG")
	}
}

func TestTimeouts(t *testing.T) {
	if b := BootEstimateS(AccelTCG, TCGMulti, 16, 2); b < 15 || b > 40 {
		t.Errorf("boot estimate for 16 vCPUs on 2 CPUs: %.0f", b)
	}
	if s, m := BootEstimateS(AccelTCG, TCGSingle, 4, 2), BootEstimateS(AccelTCG, TCGMulti, 4, 2); s <= m {
		t.Errorf("single-threaded TCG must get longer: %.0f vs %.0f", s, m)
	}
	if d := DefaultTimeoutS(10, 20, 4, 2); d != 10+20*2+30 {
		t.Errorf("timeout %.0f", d)
	}
}

func TestClassify(t *testing.T) {
	done := []proto.Message{{Type: proto.MsgHello}, {Type: proto.MsgDone}}
	cases := []struct {
		name    string
		res     Result
		console []string
		want    record.Outcome
		reason  string
	}{
		{"completed", Result{Messages: done, Done: true}, nil, record.OutcomeCompleted, ""},
		{"panic", Result{}, []string{"[ 1.0] sysrq: Trigger a crash", "[ 1.1] Kernel panic - not syncing: sysrq triggered crash"}, record.OutcomeKernelPanic, "sysrq triggered crash"},
		{"agent died", Result{}, []string{"fatal error: runtime: eventfd failed", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200"}, record.OutcomeGuestError, "the agent (PID 1) died: fatal error: runtime: eventfd failed"},
		{"timeout", Result{TimedOut: true, Messages: done[:1]}, nil, record.OutcomeTimeout, `no result within the 30s timeout (last agent message "hello"`},
		{"agent error", Result{Done: true, Messages: []proto.Message{{Type: proto.MsgError, Text: "read job: boom\nmore"}, {Type: proto.MsgDone}}}, nil, record.OutcomeGuestError, "agent reported: read job: boom"},
		{"no channel", Result{}, []string{`KTSTR_AGENT_MESSAGE {"type":"error","text":"no port"}`}, record.OutcomeGuestError, "no result channel"},
		{"boot failed", Result{QEMUOutput: "qemu: could not load kernel", ExitErr: errors.New("exit status 1")}, nil, record.OutcomeBootFailed, "QEMU said: qemu: could not load kernel"},
		{"interrupted", Result{Interrupted: true, TimedOut: true}, nil, record.OutcomeInterrupted, "interrupted"},
	}
	for _, c := range cases {
		got, reason := Classify(&c.res, c.console, 30)
		if got != c.want || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %s %q, want %s containing %q", c.name, got, reason, c.want, c.reason)
		}
	}
}

func TestVCPUParsing(t *testing.T) {
	for comm, want := range map[string]int{"CPU 0/TCG": 0, "CPU 15/KVM": 15} {
		if n, ok := vcpuIndex(comm); !ok || n != want {
			t.Errorf("%q → %d %v", comm, n, ok)
		}
	}
	for _, comm := range []string{"qemu-system-x86", "CPU x/TCG", "CPU 1"} {
		if _, ok := vcpuIndex(comm); ok {
			t.Errorf("%q parsed", comm)
		}
	}
	u, ok := parseSchedstat("1500000000 250000000 42\n")
	if !ok || u.CPUS != 1.5 || u.RunDelayS != 0.25 {
		t.Errorf("%+v %v", u, ok)
	}
}

var decimal = regexp.MustCompile(`^[0-9]+$`)

// FuzzParseSchedstat: /proc/PID/task/TID/schedstat as the kernel writes it
// ("RUN_NS WAIT_NS SLICES") reads back exactly, and any text is accepted
// exactly when its first two fields are decimal numbers that fit 64 bits
// (math/big as the reference), giving those numbers in seconds.
func FuzzParseSchedstat(f *testing.F) {
	f.Add("1 2 3", uint64(0), uint64(0))
	f.Add("x", uint64(1), uint64(2))
	f.Add("18446744073709551616 1 0\n", uint64(18446744073709551615), uint64(1e9))
	f.Add("+1 -2 3", uint64(123456789), uint64(987654321))
	f.Fuzz(func(t *testing.T, s string, run, wait uint64) {
		u, ok := parseSchedstat(fmt.Sprintf("%d %d 42\n", run, wait))
		if !ok || u.CPUS != float64(run)/1e9 || u.RunDelayS != float64(wait)/1e9 {
			t.Fatalf("%d %d 42 read as %+v (%v)", run, wait, u, ok)
		}
		u, ok = parseSchedstat(s)
		fields := strings.Fields(s)
		var nums [2]*big.Int
		want := len(fields) >= 2
		for i := 0; want && i < 2; i++ {
			nums[i], want = new(big.Int).SetString(fields[i], 10)
			want = want && decimal.MatchString(fields[i]) && nums[i].IsUint64()
		}
		if ok != want {
			t.Fatalf("%q: accepted %v, want %v", s, ok, want)
		}
		if ok && (u.CPUS != float64(nums[0].Uint64())/1e9 || u.RunDelayS != float64(nums[1].Uint64())/1e9) {
			t.Fatalf("%q read as %+v", s, u)
		}
	})
}

func TestFollowerLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a\nb"), 0o644)
	f := &follower{path: p}
	if got := fmt.Sprintf("%q", f.lines()); got != `["a"]` {
		t.Errorf("%s", got)
	}
	fh, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("c\n\nd\n")
	fh.Close()
	if got := fmt.Sprintf("%q", f.lines()); got != `["bc" "d"]` {
		t.Errorf("%s", got)
	}
}

func TestSweepStaleShm(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, "ktstr-999999999-1-node0")
	mine := filepath.Join(dir, fmt.Sprintf("ktstr-%d-1-node0", os.Getpid()))
	other := filepath.Join(dir, "unrelated")
	for _, p := range []string{dead, mine, other} {
		os.WriteFile(p, nil, 0o644)
	}
	SweepStaleShm(dir)
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead process's file survived")
	}
	for _, p := range []string{mine, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed", p)
		}
	}
}

func TestQEMUNoiseFiltered(t *testing.T) {
	in := "qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.tsc-deadline [bit 24]\nreal problem\n"
	if got := filterQEMUNoise(in); got != "real problem" {
		t.Errorf("%q", got)
	}
}

// A machine with a firmware image runs it (-bios); without one, QEMU's
// default. The kernel command line drops legacy ptys and the RAPL PMU.
func TestArgsFirmware(t *testing.T) {
	m := &Machine{Name: "1-1", Topology: topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(10),
		MemoryMB: 512, Kernel: "/k/vmlinux", Initrd: "/r/initrd", Cmdline: KernelCmdline(false, nil), Accel: AccelTCG, TCGThreads: TCGMulti,
		ConsoleLog: "/r/console.log", Results: "/r/results"}
	args, _ := m.Args()
	if slices.Contains(args, "-bios") {
		t.Errorf("no firmware set, yet -bios: %v", args)
	}
	m.Firmware = "/usr/share/qemu/qboot.rom"
	args, _ = m.Args()
	if i := slices.Index(args, "-bios"); i < 0 || args[i+1] != m.Firmware {
		t.Errorf("firmware not passed: %v", args)
	}
	for _, want := range []string{"pty.legacy_count=0", "initcall_blacklist=rapl_pmu_init"} {
		if !slices.Contains(strings.Fields(m.Cmdline), want) {
			t.Errorf("command line lacks %s: %s", want, m.Cmdline)
		}
	}
}

// QBootImage finds qboot.rom in the data directory beside a QEMU binary,
// and nothing where there is none.
func TestQBootImage(t *testing.T) {
	prefix := t.TempDir()
	bin := filepath.Join(prefix, "bin", "qemu-system-x86_64")
	if got := QBootImage(bin); got != "" && !strings.HasPrefix(got, "/usr/") {
		t.Errorf("found %q under an empty prefix", got)
	}
	rom := filepath.Join(prefix, "share", "qemu", "qboot.rom")
	os.MkdirAll(filepath.Dir(rom), 0o755)
	os.WriteFile(rom, []byte("rom"), 0o644)
	if got := QBootImage(bin); got != rom {
		t.Errorf("QBootImage(%s) = %q, want %q", bin, got, rom)
	}
}
