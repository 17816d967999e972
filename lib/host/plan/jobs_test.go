package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// planLines writes the plan of the topology specs (with --scenario sc and
// scx_qmap's every profile) and returns its lines.
func planLines(t *testing.T, k *record.Kernel, o Options, specs ...string) []string {
	t.Helper()
	f := flags()
	f.Scenario, f.Scheduler, f.AllProfiles = "cgroup_steady,cgroup_cpuset_llc_steady", "scx_qmap", true
	p, err := New(f, fixed(k))
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	w := record.NewWriter(&in)
	for _, s := range specs {
		sp, err := topology.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(sp.Record(topology.DefaultRemoteDistance))
	}
	var out bytes.Buffer
	o.Source = "test"
	if _, err := p.WriteJobs(context.Background(), &in, record.NewWriter(&out), o); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func mustLookup(t *testing.T, name string) *sched.Definition {
	t.Helper()
	d, err := sched.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func subjectOf(t *testing.T, line string) string {
	t.Helper()
	var j record.Job
	if record.Unmarshal([]byte(line), &j) == nil {
		return j.ID
	}
	var s record.Skip
	if err := record.Unmarshal([]byte(line), &s); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return "skip:" + s.Subject
}

func TestWriteJobsExpandsCompletesAndNamesDeterministically(t *testing.T) {
	k := testKernel(t, true)
	lines := planLines(t, k, Options{}, "1,1,2,1", "1,2,2,1", "1,1,2,1")
	var ids []string
	for _, l := range lines {
		ids = append(ids, subjectOf(t, l))
	}
	// 3 topologies × 2 scenarios × scx_qmap's profiles; cgroup_cpuset_llc_steady
	// needs 2 LLCs: skips on 1n1l2c1t; the repeated topology gets #2.
	profiles := len(mustLookup(t, "scx_qmap").Profiles())
	if len(lines) != 3*2*profiles {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 3*2*profiles, strings.Join(ids, "\n"))
	}
	for _, want := range []string{"1n1l2c1t/cgroup_steady/scx_qmap:default", "1n1l2c1t/cgroup_steady/scx_qmap:default#2",
		"skip:1n1l2c1t/cgroup_cpuset_llc_steady/scx_qmap:default", "1n2l2c1t/cgroup_cpuset_llc_steady/scx_qmap:default"} {
		if !slices.Contains(ids, want) {
			t.Errorf("no %s in %v", want, ids)
		}
	}
	var j record.Job
	if err := record.Unmarshal([]byte(lines[0]), &j); err != nil || j.Kernel == nil || j.Kernel.Image != k.Image || j.MemoryMB == 0 {
		t.Errorf("first job not complete: %v %+v", err, j)
	}
	if again := planLines(t, k, Options{}, "1,1,2,1", "1,2,2,1", "1,1,2,1"); !slices.Equal(again, lines) {
		t.Error("the same input planned twice differs")
	}
	if ids := slices.Compact(slices.Sorted(slices.Values(ids))); len(ids) != len(lines) {
		t.Error("duplicate ids")
	}
}

func TestWriteJobsMultipliesByKernel(t *testing.T) {
	k1, k2 := testKernel(t, true), testKernel(t, true)
	k1.Version, k2.Version = "6.12.1", "6.13.0-rc2"
	ids := func(lines []string) map[string]bool {
		seen := map[string]bool{}
		for _, l := range lines {
			seen[subjectOf(t, l)] = true
		}
		return seen
	}
	want := []string{"1n1l2c1t/cgroup_steady/scx_qmap:default@kernel_6_12_1", "1n1l2c1t/cgroup_steady/scx_qmap:default@kernel_6_13_0_rc2"}
	// --kernel A --kernel B.
	f := flags()
	f.Scenario, f.Scheduler, f.AllProfiles = "cgroup_steady,cgroup_cpuset_llc_steady", "scx_qmap", true
	f.Kernels = []*record.Kernel{k1, k2}
	p, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags := ids(writePlan(t, p, topo(t, "1,1,2,1")))
	for _, w := range want {
		if !fromFlags[w] {
			t.Errorf("--kernel: no %s in %v", w, fromFlags)
		}
	}
	// Every job names its kernel; each kernel gets every job.
	per := map[string]int{}
	for _, l := range writePlan(t, p, topo(t, "1,1,2,1")) {
		var j record.Job
		if record.Unmarshal([]byte(l), &j) == nil {
			per[j.Kernel.Label]++
			if !strings.HasSuffix(j.ID, "@"+j.Kernel.Label) {
				t.Errorf("job %s does not end in its kernel's label %s", j.ID, j.Kernel.Label)
			}
		}
	}
	if len(per) != 2 || per["kernel_6_12_1"] != per["kernel_6_13_0_rc2"] || per["kernel_6_12_1"] == 0 {
		t.Errorf("jobs per kernel %v", per)
	}
}

// writePlan plans the topology records with p.
func writePlan(t *testing.T, p *Planner, recs ...record.Record) []string {
	t.Helper()
	var in, out bytes.Buffer
	w := record.NewWriter(&in)
	for _, r := range recs {
		w.Write(r)
	}
	res, err := p.WriteJobs(context.Background(), &in, record.NewWriter(&out), Options{Source: "test"})
	if err != nil || res.BadInput {
		t.Fatalf("WriteJobs: %+v %v\n%s", res, err, out.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func TestKernelRecordsOnStdinMultiplyTheJobs(t *testing.T) {
	k1, k2 := testKernel(t, true), testKernel(t, true)
	k1.Version, k2.Version = "6.12.117", "6.12.117-variant"
	k2.Fragment = "variant"
	f := flags()
	f.Scenario = "cgroup_steady"
	p, err := New(f, func(context.Context) (*record.Kernel, error) {
		return nil, errors.New("the default kernel was asked for")
	})
	if err != nil {
		t.Fatal(err)
	}
	// Kernel records before and after the topology: the jobs start once
	// stdin ends, so both count.
	lines := writePlan(t, p, k1, topo(t, "1,1,2,1"), k2)
	var got []string
	for _, l := range lines {
		var j record.Job
		if err := record.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		got = append(got, j.ID+" "+j.Kernel.Image)
	}
	want := []string{"1n1l2c1t/cgroup_steady@kernel_6_12_117 " + k1.Image, "1n1l2c1t/cgroup_steady@kernel_6_12_117_variant " + k2.Image}
	if !slices.Equal(got, want) {
		t.Errorf("jobs %q, want %q", got, want)
	}
}

func TestKernelLabelsMustDiffer(t *testing.T) {
	k1, k2 := testKernel(t, true), testKernel(t, true)
	k1.Version, k2.Version = "6.12.117", "6.12.117"
	f := flags()
	f.Kernels = []*record.Kernel{k1, k1, k2}
	if _, err := New(f, nil); err == nil || !IsInputError(err) || !strings.Contains(err.Error(), "kernel_6_12_117") ||
		!strings.Contains(err.Error(), `"label" of its own in a kernel record on stdin`) {
		t.Errorf("two kernels with one label: %v; want an input error naming the label", err)
	}
	// The same kernel twice is one kernel: no @ in the ids.
	f.Kernels = []*record.Kernel{k1, k1}
	p, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if js := p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")}); len(js) != 1 || js[0].Kernel.Image != k1.Image || strings.Contains(js[0].ID, "@") {
		t.Errorf("one kernel named twice: %d jobs %+v", len(js), js)
	}
	bad := testKernel(t, true)
	bad.Label = "Kernel 6.12!"
	if err := p.AddKernel(bad); err == nil || !IsInputError(err) {
		t.Errorf("a malformed label was accepted: %v", err)
	}
}

// TestJobRecordKernelLabelIsChecked: a job record that brings its own
// kernel with a malformed label is an input error naming the label, in
// Complete and so in a written plan, as a kernel record's is.
func TestJobRecordKernelLabelIsChecked(t *testing.T) {
	k := testKernel(t, true)
	k.Label = "Bad Label/../x"
	p, err := New(flags(), nil)
	if err != nil {
		t.Fatal(err)
	}
	j := &record.Job{Topology: topo(t, "1,1,2,1"), Kernel: k}
	if _, err := p.Complete(context.Background(), j); !IsInputError(err) || !strings.Contains(err.Error(), `"Bad Label/../x"`) {
		t.Errorf("Complete = %v; want an input error naming the label", err)
	}
	var in, out bytes.Buffer
	record.NewWriter(&in).Write(&record.Job{Topology: topo(t, "1,1,2,1"), Kernel: k})
	res, err := p.WriteJobs(context.Background(), &in, record.NewWriter(&out), Options{Source: "test"})
	if err != nil || !res.BadInput || res.Jobs != 0 || !strings.Contains(out.String(), "Bad Label/../x") {
		t.Errorf("plan: %+v %v\n%s", res, err, out.String())
	}
	k.Label = "kernel_6_12_117"
	if _, err := p.Complete(context.Background(), &record.Job{Topology: topo(t, "1,1,2,1"), Kernel: k}); err != nil {
		t.Errorf("a well-formed label: %v", err)
	}
}

func TestShardsPartitionThePlan(t *testing.T) {
	k := testKernel(t, true)
	specs := []string{"1,1,2,1", "1,2,2,1", "1,2,2,2", "2,2,2,1"}
	whole := planLines(t, k, Options{}, specs...)
	for _, n := range []int{1, 2, 3, 5} {
		var union []string
		for i := 1; i <= n; i++ {
			part := planLines(t, k, Options{Shard: Shard{K: i, N: n}}, specs...)
			if again := planLines(t, k, Options{Shard: Shard{K: i, N: n}}, specs...); !slices.Equal(again, part) {
				t.Errorf("shard %d/%d differs between two runs", i, n)
			}
			if len(part) == 1 && part[0] == "" {
				continue
			}
			union = append(union, part...)
		}
		slices.Sort(union)
		w := slices.Sorted(slices.Values(whole))
		if !slices.Equal(union, w) {
			t.Errorf("N=%d: the union of the shards (%d lines) is not the plan (%d lines)", n, len(union), len(w))
		}
	}
}

func TestShardHasIsStableAndBalanced(t *testing.T) {
	// FNV-1a of fixed ids: the same on every host and build.
	if shardHash("") != 0xcbf29ce484222325 || shardHash("a") != 0xaf63dc4c8601ec8c {
		t.Fatal("shardHash is not FNV-1a")
	}
	counts := make([]int, 4)
	for i := 0; i < 4000; i++ {
		id := fmt.Sprintf("job-%d", i)
		in := 0
		for k := 1; k <= 4; k++ {
			if (Shard{K: k, N: 4}).Has(id) {
				in++
				counts[k-1]++
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d shards", id, in)
		}
	}
	for k, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d/4 has %d of 4000", k+1, c)
		}
	}
}

func TestParseShard(t *testing.T) {
	if s, err := ParseShard("2/4"); err != nil || s != (Shard{2, 4}) {
		t.Errorf("2/4: %v %v", s, err)
	}
	for _, bad := range []string{"", "0/4", "5/4", "1/0", "a/b", "2", "-1/3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// fakeBzImage writes a file ktstr-kernel resolves as a prebuilt bzImage of
// release version.
func fakeBzImage(t *testing.T, version string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bzImage")
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	b[0x20E], b[0x20F] = 0x00, 0x01 // the version string at 0x300
	copy(b[0x300:], version+" (test) #1\x00")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKernelSpecs: --kernel A --kernel B resolve when the first job is
// expanded, into a matrix with the kernels' labels; one that does not
// resolve fails every job with its error, and no job gets another kernel.
func TestKernelSpecs(t *testing.T) {
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	a, b := fakeBzImage(t, "6.12.1"), fakeBzImage(t, "6.13.0-rc2")
	f := flags()
	f.KernelSpecs = []string{a, b}
	p, err := New(f, func(context.Context) (*record.Kernel, error) {
		return nil, errors.New("the default kernel was asked for")
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")}) {
		ids = append(ids, j.ID+" "+j.Kernel.Image)
	}
	if want := []string{"1n1l2c1t@kernel_6_12_1 " + a, "1n1l2c1t@kernel_6_13_0_rc2 " + b}; !slices.Equal(ids, want) {
		t.Errorf("jobs %q, want %q", ids, want)
	}

	f.KernelSpecs = []string{a, "/no/such/bzImage"}
	p, err = New(f, fixed(testKernel(t, false)))
	if err != nil {
		t.Fatal(err)
	}
	js := p.Expand(&record.Job{Topology: topo(t, "1,1,2,1")})
	if len(js) != 1 || js[0].Kernel != nil {
		t.Fatalf("with a kernel that does not resolve: %d jobs, kernel %+v", len(js), js[0].Kernel)
	}
	if _, err := p.Complete(context.Background(), js[0]); err == nil || !IsInputError(err) || !strings.Contains(err.Error(), "/no/such/bzImage") {
		t.Errorf("Complete = %v; want the spec's input error, not the default kernel", err)
	}
}

// TestKernelCopiesShareNoSlices: a job record whose include list has spare
// capacity (3 includes decode with capacity 4) multiplied over two kernels
// by --scheduler: each copy's include list names its own kernel's
// scheduler binary only. Copies that share the backing array let the
// second Complete overwrite the first one's binary.
func TestKernelCopiesShareNoSlices(t *testing.T) {
	ka, kb := testKernel(t, true), testKernel(t, true)
	ka.Version, kb.Version = "6.12.1", "6.13.0"
	ka.Schedulers = map[string]string{"scx_simple": "/cache/a/scx_simple"}
	kb.Schedulers = map[string]string{"scx_simple": "/cache/b/scx_simple"}
	f := flags()
	f.Scheduler = "scx_simple"
	f.Scenario = "cgroup_steady"
	f.Kernels = []*record.Kernel{ka, kb}
	p, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	var j record.Job
	line := `{"kind":"job","topology":` + string(must(json.Marshal(topo(t, "1,1,2,1")))) +
		`,"include":["/bin/a","/bin/b","/bin/c"],"kernel_args":["x=1","y=2","z=3"]}`
	if err := record.Unmarshal([]byte(line), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Include) >= cap(j.Include) || len(j.KernelArgs) >= cap(j.KernelArgs) {
		t.Fatalf("the test needs spare capacity: len %d cap %d", len(j.Include), cap(j.Include))
	}
	jobs := p.Expand(&j)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}
	for _, c := range jobs {
		if _, err := p.Complete(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range jobs {
		own := c.Kernel.Schedulers["scx_simple"]
		if c.Scheduler.Binary != own || !slices.Contains(c.Include, own) {
			t.Errorf("%s: binary %s, include %q; want its kernel's %s", c.ID, c.Scheduler.Binary, c.Include, own)
		}
		for _, inc := range c.Include {
			if strings.HasSuffix(inc, "/scx_simple") && inc != own {
				t.Errorf("%s: another kernel's scheduler in its include list: %q", c.ID, c.Include)
			}
		}
		if !slices.Contains(c.Include, "/bin/a") || len(c.KernelArgs) < 3 {
			t.Errorf("%s: the record's own include or kernel args lost: %q %q", c.ID, c.Include, c.KernelArgs)
		}
	}
	if &jobs[0].Include[0] == &jobs[1].Include[0] || &jobs[0].KernelArgs[0] == &jobs[1].KernelArgs[0] {
		t.Error("the kernel copies share a backing array")
	}
	if len(j.Include) != 3 {
		t.Errorf("the input job changed: %q", j.Include)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
