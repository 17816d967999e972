package baremetal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

func TestRestrict(t *testing.T) {
	spec, err := topology.ParseSpec("2,4,2,2")
	if err != nil {
		t.Fatal(err)
	}
	full := spec.Record(topology.DefaultRemoteDistance)
	// Node 1 holds CPUs 8-15 (LLCs 2 and 3); keep one core of LLC 2 and
	// LLC 3 whole.
	r := Restrict(full, []int{8, 9, 12, 13, 14, 15})
	if r.CPUs != 6 || r.NUMANodes != 1 || r.LLCs != 2 || r.ThreadsPerCore != 2 || r.CoresPerLLC != 2 {
		t.Errorf("restricted dims: cpus %d nodes %d llcs %d cores/llc %d threads %d; want 6 1 2 2 2", r.CPUs, r.NUMANodes, r.LLCs, r.CoresPerLLC, r.ThreadsPerCore)
	}
	if r.Name != "1n2l2c2t" {
		t.Errorf("name %s, want 1n2l2c2t", r.Name)
	}
	if len(r.Nodes) != 1 || r.Nodes[0].ID != 1 || r.Nodes[0].CPUs != "8-9,12-15" {
		t.Errorf("nodes %+v, want node 1 with 8-9,12-15", r.Nodes)
	}
	if len(r.Distances) != 1 || len(r.Distances[0]) != 1 || r.Distances[0][0] != topology.LocalDistance {
		t.Errorf("distances %v, want [[%d]]", r.Distances, topology.LocalDistance)
	}
	if got := len(r.SMTGroups); got != 3 {
		t.Errorf("%d SMT groups (%v), want 3", got, r.SMTGroups)
	}
	// Restricting to every CPU changes nothing that matters.
	all := Restrict(full, topology.Range(0, full.CPUs))
	if all.Name != full.Name || all.CPUs != full.CPUs || len(all.Distances) != 2 {
		t.Errorf("restricting to all CPUs: %s %d %v; want %s %d and the 2×2 matrix", all.Name, all.CPUs, all.Distances, full.Name, full.CPUs)
	}
}

func writeMountinfo(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCgroup2Mount(t *testing.T) {
	hybrid := writeMountinfo(t,
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
		"34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw")
	if got, err := cgroup2Mount(hybrid); err != nil || got != "/sys/fs/cgroup/unified" {
		t.Errorf("hybrid: %q, %v; want /sys/fs/cgroup/unified", got, err)
	}
	unified := writeMountinfo(t,
		"30 23 0:26 / /mnt/other rw shared:4 - cgroup2 cgroup2 rw",
		"31 23 0:26 / /sys/fs/cgroup rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate")
	if got, err := cgroup2Mount(unified); err != nil || got != "/sys/fs/cgroup" {
		t.Errorf("unified: %q, %v; want /sys/fs/cgroup", got, err)
	}
	v1 := writeMountinfo(t, "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset")
	if _, err := cgroup2Mount(v1); err == nil || !strings.Contains(err.Error(), "cgroup v2") {
		t.Errorf("v1 only: %v, want an error naming cgroup v2", err)
	}
}

// FuzzCgroup2Mount: whatever the file says, the answer is a mount point of
// a cgroup2 line in it, or an error.
func FuzzCgroup2Mount(f *testing.F) {
	f.Add("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw")
	f.Add("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n1 2 3 / /x - cgroup2 c rw")
	f.Add(" - cgroup2")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := cgroup2Mount(p)
		if err != nil {
			return
		}
		found := false
		for _, line := range strings.Split(text, "\n") {
			pre, post, ok := strings.Cut(line, " - ")
			fields, fs := strings.Fields(pre), strings.Fields(post)
			if ok && len(fields) >= 5 && len(fs) > 0 && fs[0] == "cgroup2" && fields[4] == got {
				found = true
			}
		}
		if !found {
			t.Errorf("cgroup2Mount = %q, not the mount point of a cgroup2 line in %q", got, text)
		}
	})
}

func TestCPUSet(t *testing.T) {
	sys := t.TempDir()
	dir := filepath.Join(sys, "devices/system/cpu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "online"), []byte("0-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := cpuSet("1,3", sys); err != nil || topology.FormatList(got) != "1,3" {
		t.Errorf("cpuSet(1,3) = %v, %v", got, err)
	}
	if _, err := cpuSet("2-5", sys); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "CPU 4 is not online") {
		t.Errorf("cpuSet(2-5) error %v, want a usage error naming CPU 4", err)
	}
	if _, err := cpuSet("x", sys); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("cpuSet(x) error %v, want a usage error", err)
	}
}

// TestSweep removes a directory tree bottom-up (a plain directory tree
// stands in for cgroups: no cgroup.kill, no processes).
func TestSweep(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run-1")
	if err := os.MkdirAll(filepath.Join(root, "cg_0", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "cg_1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sweep(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", root, err)
	}
	if err := sweep(root); err != nil {
		t.Errorf("sweeping what is gone: %v", err)
	}
}

// TestScenarioCPUUse: what makes a scenario skip on a CPU subset or a host
// without the cpuset controller, read from catalog scenarios.
func TestScenarioCPUUse(t *testing.T) {
	for _, c := range []struct {
		name              string
		cpusets, affinity bool
	}{
		{"cgroup_steady", false, false},
		{"cgroup_per_cpu", true, false},             // per_cpu: a cpuset per CPU
		{"cgroup_cpuset_apply_midrun", true, false}, // set_cpuset op
		{"cgroup_affinity_pinned", false, true},
	} {
		sc, err := scenario.Load(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := setsCpusets(sc); got != c.cpusets {
			t.Errorf("%s: setsCpusets = %v, want %v", c.name, got, c.cpusets)
		}
		if got := setsAffinity(sc); got != c.affinity {
			t.Errorf("%s: setsAffinity = %v, want %v", c.name, got, c.affinity)
		}
	}
}

// TestRunCarriesTheVersion (issue 25, item 4): a bare-metal run record
// carries the version of the ktstr that made it, as a VM's does.
func TestRunCarriesTheVersion(t *testing.T) {
	run := newRun("r1", &record.Job{ID: "j"}, t.TempDir())
	if run.KtstrVersion == "" || run.KtstrVersion != version.String() || run.Host.Accel != AccelNone {
		t.Errorf("run %+v", run)
	}
}

// TestAdmit: what bare metal refuses (a usage error), skips here (with
// why) and runs — resolved, its stall limit from the merged gap limit.
func TestAdmit(t *testing.T) {
	dir := t.TempDir()
	spec, _ := topology.ParseSpec("1,2,2,1")
	h := &Host{cfg: Config{sysRoot: dir}, mount: dir, parent: "p", cpus: []int{0, 1, 2, 3}, topo: spec.Record(topology.DefaultRemoteDistance)}
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	controllers := func(c string) { os.WriteFile(filepath.Join(dir, "p", "cgroup.subtree_control"), []byte(c), 0o644) }
	controllers("cpu cpuset")
	job := func(name string) *record.Job {
		sc, err := scenario.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(sc)
		return &record.Job{ID: "j", Topology: h.topo, Scenario: raw, Workers: 2, DurationS: 3}
	}
	usage := func(what string, j *record.Job, want string) {
		t.Helper()
		if _, _, err := h.admit(j); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error with %q", what, err, want)
		}
	}
	skips := func(what string, j *record.Job, want string) {
		t.Helper()
		if rj, skip, err := h.admit(j); err != nil || rj != nil || !strings.Contains(skip, want) {
			t.Errorf("%s: %v, skip %q, %v; want a skip with %q", what, rj, skip, err, want)
		}
	}
	usage("no scenario", &record.Job{}, "bare metal runs a scenario")
	withExec := job("cgroup_steady")
	withExec.Exec = "true"
	usage("a command", withExec, "they are guest features")
	usage("a scenario that does not decode", &record.Job{Scenario: json.RawMessage(`{"name": 3}`)}, "scenario")
	skips("too few nodes", job("cgroup_cpuset_numa_swap"), "needs 2 NUMA nodes")
	controllers("cpu")
	skips("no cpuset controller", job("cgroup_per_cpu"), "has no cpuset controller")
	controllers("cpu cpuset")
	h.cpus = []int{2, 3, 4, 5}
	skips("CPU numbers on a subset", job("cgroup_per_cpu"), "--cpus 2-5 is not that range")
	h.cpus = []int{0, 1, 2, 3}

	sched := job("cgroup_steady")
	sched.Scheduler = &record.Scheduler{Name: "scx_simple", Binary: "scx_simple"}
	usage("a scheduler not allowed", sched, "--allow-host-scheduler")
	h.cfg.AllowScheduler = true
	skips("no sched_ext", sched, "host kernel has no sched_ext")
	os.MkdirAll(filepath.Join(dir, "kernel/sched_ext/root"), 0o755)
	os.WriteFile(filepath.Join(dir, "kernel/sched_ext/state"), []byte("enabled\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "kernel/sched_ext/root/ops"), []byte("other\n"), 0o644)
	skips("another scheduler", sched, `host sched_ext is enabled (ops "other")`)
	os.WriteFile(filepath.Join(dir, "kernel/sched_ext/state"), []byte("disabled\n"), 0o644)

	gap := 900.0
	sched.Thresholds = &record.Thresholds{MaxGapMS: &gap}
	rj, skip, err := h.admit(sched)
	if err != nil || skip != "" || rj.Job != sched || rj.Scenario == nil || rj.Scenario.Name != "cgroup_steady" || rj.StallAfterMS != 900 {
		t.Errorf("runnable job: %+v, skip %q, %v", rj, skip, err)
	}
}
