package plan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/golden"
	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// goldenWorld is the files a plan names, made under one temporary root
// that the golden text calls $TMP: two kernels with sched_ext (one that
// patches its code at run time) and one without, their built-in
// schedulers, the payloads' binaries on a $PATH of their own, an include
// file and a BPF object.
type goldenWorld struct {
	root                   string
	kernelA, kernelB, noSX string // kernel records (NDJSON lines)
}

func newGoldenWorld(t *testing.T) *goldenWorld {
	t.Helper()
	w := &goldenWorld{root: t.TempDir()}
	t.Setenv("KTSTR_CACHE_DIR", filepath.Join(w.root, "cache"))
	bin := filepath.Join(w.root, "bin")
	for _, d := range payload.Builtins() {
		w.file(t, filepath.Join(bin, d.Binary), 0o755)
	}
	t.Setenv("PATH", bin)
	w.file(t, filepath.Join(w.root, "inc", "notes.txt"), 0o644)
	w.file(t, filepath.Join(w.root, "obj", "prog.bpf.o"), 0o644)
	kernel := func(name, label string, schedExt, patches bool) string {
		dir := filepath.Join(w.root, name)
		k := &record.Kernel{Image: w.file(t, filepath.Join(dir, "bzImage"), 0o644), Label: label, Arch: "x86_64",
			SchedExt: schedExt, RuntimeCodePatching: &patches, Source: record.KernelSource{Type: "image"}, Cache: "uncached"}
		if schedExt {
			k.Schedulers = map[string]string{}
			for _, s := range []string{"scx_simple", "scx_qmap", "scx_central", "scx_flatcg"} {
				k.Schedulers[s] = w.file(t, filepath.Join(dir, s), 0o755)
			}
		}
		b, err := record.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	w.kernelA = kernel("ka", "kernel_a", true, false)
	w.kernelB = kernel("kb", "kernel_b", true, true)
	w.noSX = kernel("kc", "kernel_c", false, false)
	return w
}

func (w *goldenWorld) file(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// topoLine is the topology record of spec (N,L,C,T), named after preset
// when it is one.
func topoLine(t *testing.T, spec, preset string) string {
	t.Helper()
	s, err := topology.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Record(topology.DefaultRemoteDistance)
	r.Preset = preset
	b, err := record.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jobLine is a job record on the topology spec with the given fields
// (JSON members, without braces).
func jobLine(t *testing.T, spec, fields string) string {
	t.Helper()
	topo := strings.TrimPrefix(topoLine(t, spec, ""), `{"kind":"topology","v":1,`)
	line := `{"kind":"job","v":1,` + fields
	if fields != "" {
		line += ","
	}
	return line + `"topology":{` + topo + "}"
}

// goldenPlanCases are ktstr-boot --plan's inputs: flags (as the command
// line sets them) and records on stdin.
func goldenPlanCases(t *testing.T, w *goldenWorld) []struct {
	name  string
	flags Flags
	opts  Options
	in    []string
} {
	base := func(mod func(*Flags)) Flags {
		f := Flags{Accel: "auto", DurationS: 3, Workers: 2, Job: "default", HostCPUs: 2}
		if mod != nil {
			mod(&f)
		}
		return f
	}
	small, llc2, big, huge := topoLine(t, "1,1,2,1", ""), topoLine(t, "1,2,2,1", "tiny-2llc"), topoLine(t, "2,2,2,2", ""), topoLine(t, "2,4,4,2", "")
	inline := `"scenario":{"name":"inline","steps":[{"cgroups":[{"name":"a","works":[{"type":"CpuSpin"}]}]}]}`
	return []struct {
		name  string
		flags Flags
		opts  Options
		in    []string
	}{
		{"catalog on three topologies", base(func(f *Flags) { f.Scenario = "all" }), Options{}, []string{w.kernelA, small, llc2, big}},
		{"refused huge topology", base(func(f *Flags) { f.Scenario = "cgroup_steady,hackbench_steady" }), Options{}, []string{w.kernelA, huge}},
		{"qmap all profiles, args, two kernels", base(func(f *Flags) {
			f.Scheduler, f.AllProfiles, f.SchedulerArgs = "scx_qmap", true, `-t 20 'a b'`
			f.Scenario, f.DurationS, f.Workers, f.KernelArgs = "cgroup_steady,hackbench_steady", 5, 3, []string{"quiet"}
		}), Options{}, []string{w.kernelA, w.kernelB, llc2}},
		{"central thresholds composed with the job's", base(func(f *Flags) { f.Scheduler, f.Scenario = "scx_central", "cgroup_steady" }), Options{}, []string{w.kernelA,
			jobLine(t, "1,2,2,1", `"thresholds":{"max_gap_ms":1500,"off":["min_busy_pct"]}`),
			jobLine(t, "1,1,2,1", `"thresholds":{"off":["max_gap_ms"],"dispatch_cpu":1}`),
			jobLine(t, "1,1,2,1", `"stall_after_ms":700,"thresholds":{"max_gap_ms":900}`),
		}},
		{"fixture fault profile", base(func(f *Flags) { f.Scheduler, f.SchedulerFlags, f.Scenario = "ktstr-fixture", "stall", "cgroup_steady" }), Options{}, []string{w.kernelA, small}},
		{"job records bring their own", base(nil), Options{}, []string{w.kernelA,
			jobLine(t, "1,1,2,1", `"id":"own",`+inline+`,"timeout_s":42,"memory_mb":768,"duration_s":2,"workers":1,"scheduler":{"name":"mine","binary":"/bin/sh","profile":"default","ops":""}`),
			jobLine(t, "1,1,2,1", `"exec":"echo hi","dmesg":true,"accel":"tcg"`),
			jobLine(t, "1,2,2,1", inline+`,"thresholds":{"max_gap_ms":-1}`),
			`{"kind":"job","v":1,"id":"no-topology"}`,
			`not json`,
			`{"kind":"verdict","v":1,"run":"x","verdict":"pass"}`,
		}},
		{"scheduler on a kernel without sched_ext", base(func(f *Flags) { f.Scheduler = "scx_simple" }), Options{}, []string{w.noSX, small}},
		{"verifier job", base(func(f *Flags) {
			f.Job, f.Scheduler, f.BPFObjects = "verifier", "scx_simple", []string{filepath.Join(w.root, "obj", "prog.bpf.o")}
		}), Options{}, []string{w.kernelA, small}},
		{"exec, include, dmesg, timeout, memory, accel", base(func(f *Flags) {
			f.Exec, f.Include, f.Dmesg, f.TimeoutS, f.MemoryMB, f.Accel = "uname -a", []string{filepath.Join(w.root, "inc", "notes.txt")}, true, 90, 1024, "tcg"
			f.Scenario = "cgroup_steady"
		}), Options{}, []string{w.kernelA, small, big}},
		{"forced huge topology", base(func(f *Flags) { f.Force, f.Scenario = true, "cgroup_steady" }), Options{}, []string{w.kernelA, huge}},
		{"one shard of the catalog", base(func(f *Flags) { f.Scenario = "all" }), Options{Shard: Shard{K: 2, N: 3}}, []string{w.kernelA, llc2}},
	}
}

// TestPlanGolden (issue 24): the records and warnings ktstr-boot --plan
// writes for a matrix of inputs — topologies × scenarios × schedulers and
// profiles × kernels, thresholds, durations and the other flags, job
// records that bring their own fields, bad lines — are those in
// testdata/plan.golden, which the code before the resolved-job refactor
// wrote. go test -run TestPlanGolden -update rewrites it.
func TestPlanGolden(t *testing.T) {
	w := newGoldenWorld(t)
	var got bytes.Buffer
	for _, c := range goldenPlanCases(t, w) {
		var warnings []string
		f := c.flags
		f.Warn = func(s string) { warnings = append(warnings, s) }
		fmt.Fprintf(&got, "=== %s\n", c.name)
		p, err := New(f, nil)
		if err != nil {
			fmt.Fprintf(&got, "new: %v\n", err)
			continue
		}
		var out bytes.Buffer
		c.opts.Source = "ktstr-boot"
		res, err := p.WriteJobs(context.Background(), strings.NewReader(strings.Join(c.in, "\n")+"\n"), record.NewWriter(&out), c.opts)
		got.Write(out.Bytes())
		for _, w := range warnings {
			fmt.Fprintf(&got, "warning: %s\n", w)
		}
		fmt.Fprintf(&got, "result: %+v, error: %v\n", res, err)
	}
	text := strings.ReplaceAll(got.String(), w.root, "$TMP")
	golden.Compare(t, "plan.golden", []byte(text))
}
