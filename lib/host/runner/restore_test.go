package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// Jobs that cannot use a snapshot say why; the rest may.
func TestSnapshotUnusable(t *testing.T) {
	tcg := func(threads string) *record.Run {
		return &record.Run{Host: record.RunHost{Accel: vm.AccelTCG, TCGThreads: threads}}
	}
	plain := &record.Job{}
	cases := []struct {
		name string
		cfg  Config
		job  *record.Job
		run  *record.Run
		ok   bool
	}{
		{"scenario job, multi-threaded TCG", Config{Snapshot: SnapshotAuto}, plain, tcg(vm.TCGMulti), true},
		{"single-threaded TCG", Config{Snapshot: SnapshotOnly}, plain, tcg(vm.TCGSingle), true},
		{"--no-snapshot", Config{Snapshot: SnapshotOff}, plain, tcg(vm.TCGMulti), false},
		{"probes", Config{Snapshot: SnapshotAuto}, &record.Job{Probes: &record.Probes{}}, tcg(vm.TCGSingle), false},
		{"shell", Config{Snapshot: SnapshotAuto, Terminal: os.Stdin}, plain, tcg(vm.TCGMulti), false},
		{"kvm", Config{Snapshot: SnapshotAuto}, plain, &record.Run{Host: record.RunHost{Accel: vm.AccelKVM}}, false},
		{"icount", Config{Snapshot: SnapshotAuto}, plain, tcg(vm.TCGIcount), false},
	}
	for _, c := range cases {
		r := &Runner{cfg: c.cfg}
		why := r.snapshotUnusable(c.job, c.run)
		if (why == "") != c.ok {
			t.Errorf("%s: usable %v (%q), want %v", c.name, why == "", why, c.ok)
		}
	}
}

// A restored guest that never said anything refused its snapshot; one
// interrupted before it could did not.
func TestRestoreRefused(t *testing.T) {
	if !restoreRefused(&vm.Result{AgentSilent: true}) {
		t.Error("a silent restore was not refused")
	}
	if restoreRefused(&vm.Result{Messages: make([]proto.Message, 1)}) {
		t.Error("a restore that reached the agent was refused")
	}
	if restoreRefused(&vm.Result{Interrupted: true}) {
		t.Error("an interrupted restore was refused")
	}
}

// Restored guests get at least the job's memory, in few distinct sizes,
// split evenly over their nodes.
func TestSnapshotMemoryMB(t *testing.T) {
	for _, c := range []struct{ job, nodes, want int }{
		{768, 1, 1024}, {864, 1, 1024}, {888, 1, 1024}, {1024, 1, 1024}, {1536, 1, 1536}, {1537, 1, 2048},
		{1000, 3, 1026}, {2050, 2, 2560},
	} {
		got := snapshotMemoryMB(c.job, c.nodes)
		if got != c.want || got < c.job || got%c.nodes != 0 {
			t.Errorf("snapshotMemoryMB(%d, %d) = %d, want %d", c.job, c.nodes, got, c.want)
		}
	}
}

// Only a failed incoming migration blames the snapshot (it is removed);
// a silent guest whose migration did not fail is this run's failure.
func TestSnapshotToBlame(t *testing.T) {
	if !snapshotToBlame(&vm.Result{AgentSilent: true, IncomingFailed: "load of migration failed: Invalid argument"}) {
		t.Error("a refused migration did not blame the snapshot")
	}
	if snapshotToBlame(&vm.Result{AgentSilent: true, QEMUOutput: "Assertion `x' failed."}) {
		t.Error("a QEMU abort blamed the snapshot")
	}
	if snapshotToBlame(&vm.Result{AgentSilent: true}) {
		t.Error("a slow guest blamed the snapshot")
	}
}

// The wait for a restored guest stretches with the host's load like every
// other derived timeout.
func TestRestoreAgentTimeoutScales(t *testing.T) {
	load := filepath.Join(t.TempDir(), "loadavg")
	old := loadavgPath
	loadavgPath = load
	defer func() { loadavgPath = old }()
	r := &Runner{hostCPUs: 2}
	for _, c := range []struct {
		loadavg string
		factor  float64
	}{{"0.50 0.40 0.30 1/100 1", 1}, {"5.00 4.00 3.00 3/100 1", 2.5}, {"40.0 30.0 20.0 9/100 1", 4}} {
		os.WriteFile(load, []byte(c.loadavg), 0o644)
		want := time.Duration(restoreAgentTimeoutS * c.factor * float64(time.Second))
		if got := r.restoreAgentTimeout(); got != want {
			t.Errorf("load %s on 2 CPUs: restore agent timeout %v, want %v", c.loadavg, got, want)
		}
	}
}

// The console log of a refused restore: removed when empty, named in the
// reason when it has output (the record points to the next start's log).
func TestRefusedConsole(t *testing.T) {
	dir := t.TempDir()
	empty, said := filepath.Join(dir, "a.console.log"), filepath.Join(dir, "b.console.log")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(said, []byte("restore: guest silent\n"), 0o644)
	if got := refusedConsole(empty); got != "" {
		t.Errorf("empty log: %q", got)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Error("an empty console log of a refused restore stayed")
	}
	if got := refusedConsole(said); !strings.Contains(got, said) {
		t.Errorf("a console log with output is not named: %q", got)
	}
	if got := refusedConsole(filepath.Join(dir, "none")); got != "" {
		t.Errorf("missing log: %q", got)
	}
}
