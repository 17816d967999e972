package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// planInput is a kernel record (a file standing for its image: --plan
// boots nothing) and a topology record, as ktstr-boot --plan reads them.
func planInput(t *testing.T) string {
	t.Helper()
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	img := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(img, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	no := false
	k, _ := record.Marshal(&record.Kernel{Image: img, Label: "kernel_test", Arch: "x86_64", SchedExt: true, RuntimeCodePatching: &no, Source: record.KernelSource{Type: "image"}, Cache: "uncached"})
	topo, _ := record.Marshal(&record.Topology{Name: "1n1l2c1t", NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1, CPUs: 2,
		Nodes: []record.TopologyNode{{ID: 0, CPUs: "0-1", LLCs: []int{0}}}, LLCGroups: []record.LLCGroup{{ID: 0, CPUs: "0-1"}},
		SMTGroups: []string{"0", "1"}, Distances: [][]int{{10}}})
	return string(k) + "\n" + string(topo) + "\n"
}

// planJob runs ktstr-boot --plan with args and returns its one job.
func planJob(t *testing.T, args ...string) *record.Job {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), strings.NewReader(planInput(t)), &out, &errb, append([]string{"--plan", "--scenario", "cgroup_steady"}, args...))
	if code != cli.ExitOK {
		t.Fatalf("%q: exit %d: %s", args, code, errb.String())
	}
	var j record.Job
	if err := record.Unmarshal(bytes.TrimSpace(out.Bytes()), &j); err != nil {
		t.Fatalf("%q: %v: %s", args, err, out.String())
	}
	return &j
}

// TestFlagUnits (issue 25, item 2): --memory, --timeout and --duration take
// units; bare numbers keep their old meaning (MiB, seconds); the job
// record stays numeric.
func TestFlagUnits(t *testing.T) {
	j := planJob(t, "--memory", "1G", "--timeout", "1m30s", "--duration", "5s")
	if j.MemoryMB != 1024 || j.TimeoutS != 90 || j.DurationS != 5 {
		t.Errorf("units: memory_mb %d, timeout_s %g, duration_s %g", j.MemoryMB, j.TimeoutS, j.DurationS)
	}
	j = planJob(t, "--memory", "768", "--timeout", "30", "--duration", "2.5")
	if j.MemoryMB != 768 || j.TimeoutS != 30 || j.DurationS != 2.5 {
		t.Errorf("bare numbers: memory_mb %d, timeout_s %g, duration_s %g", j.MemoryMB, j.TimeoutS, j.DurationS)
	}
	if j = planJob(t); j.DurationS != 3 {
		t.Errorf("default --duration: %g", j.DurationS)
	}
}

// TestSchedulerArgsQuoted: --scheduler-args as README and --help write
// it, its value a word of its own that starts with a dash, is split as a
// shell would.
func TestSchedulerArgsQuoted(t *testing.T) {
	for _, args := range [][]string{
		{"--scheduler", "ktstr-fixture", "--scheduler-args", "-x 'a b'"},
		{"--scheduler", "ktstr-fixture", "--scheduler-args=-x 'a b'"},
	} {
		j := planJob(t, args...)
		if j.Scheduler == nil || fmt.Sprintf("%q", j.Scheduler.Args) != `["-x" "a b"]` {
			t.Errorf("%q: scheduler %+v, want args -x and a b", args, j.Scheduler)
		}
	}
}

// TestFlagUnitErrors: a bad size or duration is one line naming the flag
// and what is wrong, status 2.
func TestFlagUnitErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "1500K", "--plan"}, `ktstr-boot: --memory: size "1500K" is not a whole number of MiB (see ktstr-boot --help)`},
		{[]string{"--duration", "5x", "--plan"}, `ktstr-boot: --duration: duration "5x": unknown unit "x" (ns, us, ms, s, m, h, d, w) (see ktstr-boot --help)`},
		{[]string{"--timeout=-3", "--plan"}, `ktstr-boot: --timeout: duration "-3" is negative (see ktstr-boot --help)`},
		{[]string{"--watchdog-timeout", "3q", "--plan"}, `ktstr-boot: --watchdog-timeout: duration "3q": unknown unit "q" (ns, us, ms, s, m, h, d, w) (see ktstr-boot --help)`},
		{[]string{"--select", "--budget", "1x"}, `ktstr-boot: --budget: duration "1x": unknown unit "x" (ns, us, ms, s, m, h, d, w) (see ktstr-boot --help)`},
		{[]string{"--select"}, `ktstr-boot: --select needs --budget, more than 0 (e.g. 30m)`},
		{[]string{"--plan", "--budget", "1h"}, `ktstr-boot: --budget is --select's: ktstr-boot --select --budget 1h < jobs`},
		{[]string{"--plan", "--scheduler", "scx_qmap", "--scheduler-args=-x 'y"}, `ktstr-boot: --scheduler-args: unterminated single quote at byte 4 of "-x 'y"`},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), strings.NewReader(""), &out, &errb, c.args)
		if code != cli.ExitUsage || strings.TrimSpace(errb.String()) != c.want {
			t.Errorf("%q: exit %d, stderr %q; want %q", c.args, code, errb.String(), c.want)
		}
	}
}

// TestBudgetUnits: --select --budget takes the same durations (7d, a bare
// number of seconds) as every other duration.
func TestBudgetUnits(t *testing.T) {
	for _, b := range []string{"30m", "1800", "1d", "0.5h"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), strings.NewReader(""), &out, &errb, []string{"--select", "--budget", b, "--store", t.TempDir()})
		if code != cli.ExitOK {
			t.Errorf("--budget %s: exit %d: %s", b, code, errb.String())
		}
	}
}

// TestCompletionValues (issue 25, item 7): --kernel completes, at Tab time,
// the labels of the kernel cache's usable entries.
func TestCompletionValues(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", cache)
	dir := filepath.Join(cache, "kernels", "k1")
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"bzImage", "vmlinux", "config"} {
		os.WriteFile(filepath.Join(dir, f), []byte("data"), 0o644)
	}
	fh, _ := kernel.FragmentHash("minimal")
	meta, _ := json.Marshal(kernel.Metadata{Schema: kernel.MetadataSchema, Key: "k1", Version: "6.12.117", Profile: "minimal", Arch: kernel.Arch,
		FragmentHash: fh, Image: "bzImage", Vmlinux: "vmlinux", Config: "config"})
	os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644)
	var out, errb bytes.Buffer
	if code := run(context.Background(), strings.NewReader(""), &out, &errb, []string{"--complete-values", "kernel"}); code != 0 || out.String() != "kernel_6_12_117\n" || errb.Len() > 0 {
		t.Errorf("exit %d, %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	run(context.Background(), strings.NewReader(""), &out, &errb, []string{"--completion", "bash"})
	if !strings.Contains(out.String(), `"6.12 $(_ktstr_boot_values kernel)"`) {
		t.Errorf("the bash script does not ask for the labels:\n%s", out.String())
	}
}
