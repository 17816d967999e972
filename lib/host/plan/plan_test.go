package plan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// flags are the command line's defaults with nothing else set.
func flags() Flags { return Flags{Accel: "auto", DurationS: 3, Workers: 2, Job: "default"} }

// testKernel is a cached kernel record whose image exists.
func testKernel(t *testing.T, schedExt bool) *record.Kernel {
	t.Helper()
	img := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(img, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &record.Kernel{Image: img, SchedExt: schedExt, Schedulers: map[string]string{"scx_qmap": "/cache/k/scx_qmap"}}
}

func fixed(k *record.Kernel) KernelFunc {
	return func(context.Context) (*record.Kernel, error) { return k, nil }
}

func topo(t *testing.T, spec string) *record.Topology {
	t.Helper()
	j, err := FromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return j.Topology
}

func TestNewRejectsBadFlags(t *testing.T) {
	cases := map[string]func(*Flags){
		"--flags, --all-profiles and --scheduler-args need --scheduler": func(f *Flags) { f.SchedulerFlags = "fifo" },
		"--flags and --all-profiles exclude each other":                 func(f *Flags) { f.Scheduler, f.SchedulerFlags, f.AllProfiles = "scx_simple", "fifo", true },
		`unknown flag "nope"`:              func(f *Flags) { f.Scheduler, f.SchedulerFlags = "scx_simple", "nope" },
		"--duration must be > 0":           func(f *Flags) { f.DurationS = 0 },
		"--job verifier needs --scheduler": func(f *Flags) { f.Job = "verifier" },
		"no_such_scenario":                 func(f *Flags) { f.Scenario = "cgroup_steady,no_such_scenario" },
		`scheduler "no_such_sched"`:        func(f *Flags) { f.Scheduler = "no_such_sched" },
		"include ./no/such/file":           func(f *Flags) { f.Include = []string{"./no/such/file"} },
		"takes no --scenario or --exec":    func(f *Flags) { f.Job, f.Scheduler, f.Exec = "verifier", "scx_simple", "true" },
		`--scheduler-args: unterminated double quote at byte 4 of "-x \"a b"`: func(f *Flags) { f.Scheduler, f.SchedulerArgs = "scx_qmap", `-x "a b` },
	}
	for want, mutate := range cases {
		f := flags()
		mutate(&f)
		_, err := New(f, nil)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want a usage error containing it", want, err)
		}
	}
	if _, err := New(flags(), nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestExpandScenarioTimesProfile(t *testing.T) {
	f := flags()
	f.Scenario = "cgroup_steady, cgroup_cpuset_llc_steady"
	f.Scheduler, f.AllProfiles = "scx_simple", true
	p, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs := p.Expand(&record.Job{Topology: topo(t, "1,2,2,1")})
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
		if j.Scheduler == nil || j.Scheduler.Name != "scx_simple" || len(j.Scenario) == 0 {
			t.Errorf("%s: scheduler %+v, scenario %s", j.ID, j.Scheduler, j.Scenario)
		}
	}
	want := []string{
		"1n2l2c1t/cgroup_steady/scx_simple:default", "1n2l2c1t/cgroup_cpuset_llc_steady/scx_simple:default",
		"1n2l2c1t/cgroup_steady/scx_simple:fifo", "1n2l2c1t/cgroup_cpuset_llc_steady/scx_simple:fifo",
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	if a := jobs[2].Scheduler.Args; !slices.Equal(a, []string{"-f"}) {
		t.Errorf("fifo profile args %q", a)
	}
}

func TestExpandKeepsWhatTheJobBrings(t *testing.T) {
	f := flags()
	f.Scenario = "all"
	f.Scheduler = "scx_qmap"
	p, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	own := json.RawMessage(`{"name":"mine","steps":[{"cgroups":[{"name":"a"}]}]}`)
	j := &record.Job{ID: "given", Topology: topo(t, "1,1,2,1"), Scenario: own, Scheduler: &record.Scheduler{Name: "other", Binary: "/x"}}
	got := p.Expand(j)
	if len(got) != 1 || got[0].ID != "given" || string(got[0].Scenario) != string(own) || got[0].Scheduler.Name != "other" {
		t.Errorf("job with its own scenario and scheduler: %+v", got)
	}
	if n := len(p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")})); n != len(scenario.Catalog()) {
		t.Errorf("--scenario all: %d jobs, catalog has %d", n, len(scenario.Catalog()))
	}
}

func TestCompleteFillsDefaultsRecordFieldsWin(t *testing.T) {
	k := testKernel(t, true)
	f := flags()
	f.Exec, f.KernelArgs, f.TimeoutS = "true", []string{"quiet"}, 77
	p, err := New(f, fixed(k))
	if err != nil {
		t.Fatal(err)
	}
	j := &record.Job{Topology: topo(t, "1,2,4,2")}
	if _, err := p.Complete(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if j.ID != "1n2l4c2t" || j.Kernel != k || j.Exec != "true" || j.TimeoutS != 77 || j.Accel != "auto" ||
		!slices.Equal(j.KernelArgs, []string{"quiet"}) || j.MemoryMB != topology.GuestMemoryMB(topology.SpecOf(j.Topology)) {
		t.Errorf("filled job %+v", j)
	}
	if j.DurationS != 0 || j.Workers != 0 {
		t.Errorf("duration and workers are scenario fields: %v %v", j.DurationS, j.Workers)
	}
	own := &record.Job{Topology: topo(t, "1,1,2,1"), Exec: "false", TimeoutS: 5, MemoryMB: 700, Accel: "tcg"}
	if _, err := p.Complete(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	if own.Exec != "false" || own.TimeoutS != 5 || own.MemoryMB != 700 || own.Accel != "tcg" {
		t.Errorf("record fields must win: %+v", own)
	}
}

func TestCompleteScenarioMemoryAndSkip(t *testing.T) {
	f := flags()
	f.Scenario = "cgroup_steady"
	p, err := New(f, fixed(testKernel(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	j := p.Expand(&record.Job{Topology: topo(t, "2,2,1,1")})[0]
	if _, err := p.Complete(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	sc, _ := scenario.Parse(j.Scenario)
	workers := sc.MaxWorkers(j.Topology, 2)
	base := topology.GuestMemoryMB(topology.SpecOf(j.Topology))
	if workers == 0 || j.MemoryMB < base+12*workers || j.MemoryMB%2 != 0 || j.DurationS != 3 || j.Workers != 2 {
		t.Errorf("memory %d for %d workers (base %d), duration %v, workers %d", j.MemoryMB, workers, base, j.DurationS, j.Workers)
	}

	// A scenario that needs more LLCs than the topology has is a skip.
	f.Scenario = "cgroup_cpuset_llc_steady"
	p, _ = New(f, fixed(testKernel(t, true)))
	j = p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")})[0]
	_, err = p.Complete(context.Background(), j)
	var skip *record.SkipError
	if !errors.Is(err, record.ErrSkip) || !errors.As(err, &skip) || skip.Reason != SkipTooSmall || !strings.Contains(skip.Detail, "scenario cgroup_cpuset_llc_steady: needs") {
		t.Errorf("small topology: %v, want a skip", err)
	}
}

func TestCompleteRejects(t *testing.T) {
	p, _ := New(flags(), fixed(testKernel(t, false)))
	ctx := context.Background()
	bad := &record.Job{Topology: topo(t, "1,1,2,1"), Scenario: json.RawMessage(`{"name":"x","steps":[{"cgroups":[{"name":"a","typo":1}]}]}`)}
	if _, err := p.Complete(ctx, bad); !IsInputError(err) {
		t.Errorf("malformed scenario: %v", err)
	}
	noExt := &record.Job{Topology: topo(t, "1,1,2,1"), Scheduler: &record.Scheduler{Name: "scx_qmap", Binary: "scx_qmap"}}
	if _, err := p.Complete(ctx, noExt); !IsInputError(err) || !strings.Contains(err.Error(), "has no sched_ext") {
		t.Errorf("scheduler on a kernel without sched_ext: %v", err)
	}
	zero := &record.Job{Topology: &record.Topology{Name: "broken"}}
	if _, err := p.Complete(ctx, zero); !IsInputError(err) || !strings.Contains(err.Error(), "topology broken") {
		t.Errorf("invalid topology: %v", err)
	}
	gone := &record.Job{Topology: topo(t, "1,1,1,1"), Kernel: &record.Kernel{Image: "/no/such/bzImage"}}
	if _, err := p.Complete(ctx, gone); err == nil || IsInputError(err) || !strings.Contains(err.Error(), "kernel image") {
		t.Errorf("missing kernel image: %v", err)
	}
	if _, err := p.Complete(ctx, &record.Job{}); !IsInputError(err) {
		t.Errorf("job without topology: %v", err)
	}
	none, _ := New(flags(), func(context.Context) (*record.Kernel, error) { return nil, errors.New("cache empty") })
	if _, err := none.Complete(ctx, &record.Job{Topology: topo(t, "1,1,1,1")}); err == nil || !strings.Contains(err.Error(), "cache empty") {
		t.Errorf("no default kernel: %v", err)
	}
}

func TestCompleteResolvesBuiltinSchedulerPerJob(t *testing.T) {
	f := flags()
	f.Scheduler, f.Scenario = "scx_qmap", "cgroup_steady,cgroup_steady"
	p, err := New(f, fixed(testKernel(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	jobs := p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")})
	for _, j := range jobs {
		if _, err := p.Complete(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		if j.Scheduler.Binary != "/cache/k/scx_qmap" || !slices.Contains(j.Include, "/cache/k/scx_qmap") {
			t.Errorf("%s: binary %q, include %q", j.ID, j.Scheduler.Binary, j.Include)
		}
	}
	if jobs[0].Scheduler == jobs[1].Scheduler {
		t.Error("expanded jobs share one scheduler record after Complete")
	}
}

// TestSanityOversizeTopology (issue 17, item 10): a topology far beyond the
// host is refused before boot unless forced, with the expected cost; one
// moderately beyond it boots with a warning, given once.
func TestSanityOversizeTopology(t *testing.T) {
	var warnings []string
	f := flags()
	f.HostCPUs = 2
	f.Warn = func(w string) { warnings = append(warnings, w) }
	p, _ := New(f, fixed(testKernel(t, false)))
	ctx := context.Background()
	_, err := p.Complete(ctx, &record.Job{Topology: topo(t, "4,8,8,2")})
	t.Log(err)
	if !IsInputError(err) || !strings.Contains(err.Error(), "128 vCPUs on 2 host CPUs") || !strings.Contains(err.Error(), "--force") ||
		!strings.Contains(err.Error(), "min") {
		t.Errorf("4,8,8,2 on 2 CPUs: %v", err)
	}
	for range 2 {
		if _, err := p.Complete(ctx, &record.Job{Topology: topo(t, "1,2,4,1")}); err != nil {
			t.Fatal(err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "8 vCPUs on 2 host CPUs (4× over)") {
		t.Errorf("warnings %q, want one for 1n2l4c1t", warnings)
	}
	if _, err := p.Complete(ctx, &record.Job{Topology: topo(t, "1,1,2,1")}); err != nil || len(warnings) != 1 {
		t.Errorf("2 vCPUs on 2 CPUs: %v, warnings %q", err, warnings)
	}
	f.Force = true
	forced, _ := New(f, fixed(testKernel(t, false)))
	if _, err := forced.Complete(ctx, &record.Job{Topology: topo(t, "4,8,8,2")}); err != nil {
		t.Errorf("--force: %v", err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[1], "128 vCPUs") {
		t.Errorf("forced run not warned: %q", warnings)
	}
}

// TestCompleteRejectsBadThresholds: a job's limits are validated before boot.
func TestCompleteRejectsBadThresholds(t *testing.T) {
	p, _ := New(flags(), fixed(testKernel(t, false)))
	neg := -1.0
	j := &record.Job{Topology: topo(t, "1,1,1,1"), Thresholds: &record.Thresholds{MaxGapMS: &neg}}
	if _, err := p.Complete(context.Background(), j); !IsInputError(err) || !strings.Contains(err.Error(), "max_gap_ms is -1") {
		t.Errorf("negative limit: %v", err)
	}
}

// TestSubjectsNameSchedulerArgs (issue 17, item 9): two runs that differ
// only in --scheduler-args get different job ids (verdict subjects).
func TestSubjectsNameSchedulerArgs(t *testing.T) {
	ids := map[string]bool{}
	for _, args := range []string{"", "-t 20", "-e  100", `-x "a b" 'c'`} {
		f := flags()
		f.Scheduler, f.Scenario, f.SchedulerArgs = "scx_qmap", "cgroup_steady", args
		p, err := New(f, fixed(testKernel(t, true)))
		if err != nil {
			t.Fatal(err)
		}
		jobs := p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")})
		if len(jobs) != 1 {
			t.Fatalf("%d jobs", len(jobs))
		}
		ids[jobs[0].ID] = true
		if a := jobs[0].Scheduler.Args; args != "" && !slices.Equal(a[len(a)-2:], map[string][]string{"-t 20": {"-t", "20"}, "-e  100": {"-e", "100"}, `-x "a b" 'c'`: {"a b", "c"}}[args]) {
			t.Errorf("--scheduler-args %s: the scheduler's arguments are %q", args, a)
		}
	}
	for _, want := range []string{"1n1l2c1t/cgroup_steady/scx_qmap:default", "1n1l2c1t/cgroup_steady/scx_qmap:default[-t 20]", "1n1l2c1t/cgroup_steady/scx_qmap:default[-e 100]", "1n1l2c1t/cgroup_steady/scx_qmap:default[-x 'a b' c]"} {
		if !ids[want] {
			t.Errorf("no job id %q in %v", want, ids)
		}
	}
}
