package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/newcread"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

func testRunner(t *testing.T, out *bytes.Buffer) *Runner {
	t.Helper()
	p, err := plan.New(plan.Flags{Accel: "auto", DurationS: 3, Workers: 2, Job: "default"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{cfg: Config{Source: "test", Jobs: 1, Log: &bytes.Buffer{}}, plan: p, out: record.NewWriter(out)}
}

func TestFeedTurnsRecordsIntoJobsAndPassesTheRestThrough(t *testing.T) {
	var out bytes.Buffer
	r := testRunner(t, &out)
	in := `{"kind":"topology","v":1,"name":"1n1l2c1t","numa_nodes":1,"llcs":1,"cores_per_llc":2,"threads_per_core":1,"cpus":2}
{"kind":"verdict","v":1,"run":"x","verdict":"pass","extra":"kept"}
not json
{"kind":"job","v":1,"id":"j2"}
{"kind":"job","v":1,"id":"j3","topology":{"name":"1n1l1c1t","numa_nodes":1,"llcs":1,"cores_per_llc":1,"threads_per_core":1,"cpus":1}}
`
	jobs, err := r.feed(context.Background(), strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Topology.Name != "1n1l2c1t" || jobs[1].ID != "j3" {
		t.Errorf("jobs %+v", jobs)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"extra":"kept"`) ||
		!strings.Contains(lines[1], `"kind":"error"`) || !strings.Contains(lines[2], "job has no topology") {
		t.Errorf("output:\n%s", out.String())
	}
	if !r.badInput.Load() {
		t.Error("bad lines must make the input bad")
	}
}

func TestFillRun(t *testing.T) {
	console := filepath.Join(t.TempDir(), "c.log")
	var lines []string
	for i := 0; i < 60; i++ {
		lines = append(lines, "line")
	}
	lines = append(lines, "Kernel panic - not syncing: boom")
	os.WriteFile(console, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	run := &record.Run{ConsoleLog: console, Timings: record.Timings{TimeoutS: 10}}
	res := &vm.Result{Messages: []proto.Message{
		{Type: proto.MsgHello, Hello: &record.GuestInfo{KernelRelease: "6.12"}},
		{Type: proto.MsgBPFObject, BPFObject: &record.BPFObject{Path: "a.o"}},
		{Type: proto.MsgBPFObject, BPFObject: &record.BPFObject{Path: "b.o"}},
		{Type: proto.MsgError, Text: "agent trouble"},
	}, DecodeErrors: []string{"line 3: truncated"}}
	fillRun(run, res)
	if run.Outcome != record.OutcomeKernelPanic || run.Guest.KernelRelease != "6.12" || len(run.BPFObjects) != 2 {
		t.Errorf("run %+v", run)
	}
	if len(run.GuestErrors) != 2 || run.GuestErrors[1] != "result channel: line 3: truncated" {
		t.Errorf("guest errors %q", run.GuestErrors)
	}
	if len(run.ConsoleTail) != consoleTailLines || !strings.Contains(run.ConsoleTail[consoleTailLines-1], "Kernel panic") {
		t.Errorf("console tail: %d lines", len(run.ConsoleTail))
	}
}

func TestWriteInitrdAlignsTheJobArchive(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	os.WriteFile(base, []byte("odd"), 0o644) // 3 bytes: the suffix must start at 4
	path := filepath.Join(dir, "initrd")
	j := &record.Job{ID: "j", Topology: &record.Topology{Name: "t"}}
	if err := writeInitrd(path, base, j); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b[:4]) != "odd\x00" {
		t.Fatalf("prefix %q", b[:4])
	}
	entries, err := newcread.ReadAll(bytes.NewReader(b[4:]))
	if err != nil || len(entries) == 0 || "/"+entries[len(entries)-1].Name != proto.JobPath {
		t.Errorf("suffix: %d entries, %v", len(entries), err)
	}
}

func TestInitrdCompression(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte("CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n"), 0o644)
	k := &record.Kernel{Config: cfg}
	for _, c := range []struct{ flag, accel, want string }{
		{"auto", vm.AccelTCG, "none"}, {"auto", vm.AccelKVM, "gzip"}, {"zstd", vm.AccelTCG, "zstd"},
	} {
		if got := initrdCompression(c.flag, c.accel, k); string(got) != c.want {
			t.Errorf("%s/%s: %s, want %s", c.flag, c.accel, got, c.want)
		}
	}
	if got := initrdCompression("auto", vm.AccelKVM, &record.Kernel{}); string(got) != "zstd" {
		t.Errorf("kvm without config: %s", got)
	}
}

func TestEmulatorAbortIsRecognised(t *testing.T) {
	abort := &record.Run{Outcome: record.OutcomeBootFailed, Reason: "the kernel never started the agent; QEMU said: qemu-system-x86_64: ../../hw/pci/msix.c:218: msix_table_mmio_write: Assertion `addr + size <= dev->msix_entries_nr * PCI_MSIX_ENTRY_SIZE' failed."}
	if !emulatorAbort(abort) {
		t.Error("a QEMU assertion before the agent is the emulator's fault")
	}
	for _, r := range []*record.Run{
		{Outcome: record.OutcomeBootFailed, Reason: "the kernel never started the agent"},
		{Outcome: record.OutcomeKernelPanic, Reason: "Kernel panic - not syncing: Assertion"},
		{Outcome: record.OutcomeCompleted},
		nil,
	} {
		if emulatorAbort(r) {
			t.Errorf("%+v taken for an emulator abort", r)
		}
	}
}

// TestRunCarriesTheVersion (issue 25, item 4): every run record starts as
// newRun's, with the version of the ktstr that made it.
func TestRunCarriesTheVersion(t *testing.T) {
	r := testRunner(t, &bytes.Buffer{})
	run := r.newRun("r1", &launch{job: &record.Job{ID: "j", MemoryMB: 512}, accel: vm.AccelTCG})
	if run.KtstrVersion == "" || run.KtstrVersion != version.String() || run.Host.MemoryMB != 512 {
		t.Errorf("run %+v", run)
	}
	b, _ := record.Marshal(run)
	if !strings.Contains(string(b), `"ktstr_version":"`+version.String()+`"`) {
		t.Errorf("record: %s", b)
	}
}
