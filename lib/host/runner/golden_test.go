package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/golden"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/snapshot"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// fakeQEMU stands for qemu-system-x86_64: it appends the job the guest
// would read (the last job record in the initramfs) to $KTSTR_GUEST_JOBS
// and answers on the result channel as an agent that finished, then
// exits. Nothing boots.
const fakeQEMU = `#!/bin/sh
initrd= results=
while [ $# -gt 0 ]; do
	case $1 in
	-initrd) initrd=$2; shift ;;
	-chardev) case $2 in file,id=results,path=*) results=${2#file,id=results,path=} ;; esac; shift ;;
	esac
	shift
done
GREP -a -o '{"kind":"job".*' "$initrd" | TAIL -n 1 >>"$KTSTR_GUEST_JOBS"
echo '{"type":"done","t":0.5}' >>"$results"
`

// goldenRunner is a Runner whose QEMU is fakeQEMU and whose agent is a
// small file, on a host of 2 CPUs at load 3 (a load factor of 1.5), its
// planner's kernels given: a kernel that does not patch its code at run
// time (multi-threaded TCG) and one that does (single-threaded).
func goldenRunner(t *testing.T, root string, f plan.Flags, out, log *bytes.Buffer) *Runner {
	t.Helper()
	f.HostCPUs = 2
	p, err := plan.New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name    string
		patches bool
	}{{"kernel_a", false}, {"kernel_b", true}} {
		dir := filepath.Join(root, k.name)
		patches := k.patches
		rk := &record.Kernel{Image: writeFile(t, filepath.Join(dir, "bzImage"), 0o644), Label: k.name, Arch: "x86_64",
			SchedExt: true, RuntimeCodePatching: &patches, Source: record.KernelSource{Type: "image"}, Cache: "uncached",
			Schedulers: map[string]string{}}
		for _, s := range []string{"scx_simple", "scx_qmap", "scx_central"} {
			rk.Schedulers[s] = writeFile(t, filepath.Join(dir, s), 0o755)
		}
		if err := p.AddKernel(rk); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runner{cfg: Config{Source: "ktstr-boot", Jobs: 1, Snapshot: SnapshotOff, InitrdCompression: "auto",
		LogDir: filepath.Join(root, "logs"), Log: log, Console: log, NoMonitor: true, TCGThreads: "auto", Boot: "auto"},
		plan: p, out: record.NewWriter(out), qemu: filepath.Join(root, "bin", "qemu"), qemuVersion: "7.2.0",
		firmware: "seabios", agent: writeFile(t, filepath.Join(root, "agent"), 0o755), cacheRoot: filepath.Join(root, "cache"),
		hostCPUs: 2, bases: map[string]string{}, snapshots: &snapshot.Cache{Dir: filepath.Join(root, "cache", "snapshots")},
		gate: newVCPUGate(2, DefaultOvercommit)}
	r.agentCheck.Do(func() {}) // the fake agent is no static ELF
	os.MkdirAll(r.cfg.LogDir, 0o755)
	return r
}

// fakeHost makes the files goldenRunner's runs need under a temporary
// root, which it returns: fakeQEMU, the payloads' binaries on a $PATH of
// their own, a kernel cache, and a load average of 3.
func fakeHost(t *testing.T) string {
	t.Helper()
	grep, err1 := exec.LookPath("grep")
	tail, err2 := exec.LookPath("tail")
	if err1 != nil || err2 != nil {
		t.Skip("needs grep and tail")
	}
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", filepath.Join(root, "cache"))
	t.Setenv("KTSTR_GUEST_JOBS", filepath.Join(root, "guest-jobs.ndjson"))
	bin := filepath.Join(root, "bin")
	for _, d := range payload.Builtins() {
		writeFile(t, filepath.Join(bin, d.Binary), 0o755)
	}
	script := strings.NewReplacer("GREP", grep, "TAIL", tail).Replace(fakeQEMU)
	if err := os.WriteFile(filepath.Join(bin, "qemu"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	old := loadavgPath
	loadavgPath = writeFile(t, filepath.Join(root, "loadavg"), 0o644)
	os.WriteFile(loadavgPath, []byte("3.00 2.00 1.00 1/100 1\n"), 0o644)
	t.Cleanup(func() { loadavgPath = old })
	return root
}

func writeFile(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func specJob(t *testing.T, spec string) *record.Job {
	t.Helper()
	s, err := topology.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &record.Job{Topology: s.Record(topology.DefaultRemoteDistance)}
}

// volatile are run record fields that differ from run to run (times,
// samples, this process's pid and the build), left out of the golden text.
var volatile = regexp.MustCompile(`^(id|ktstr_version|vcpus|host_samples|timings\.(prepare_ms|wall_s|agent_start_s|agent_clock_s))$`)

// Names that differ from run to run: this process's pid (in run ids, VM
// names, temporary directories), the random part of a temporary
// directory's name and the time in a run id.
var (
	pid      = regexp.MustCompile(fmt.Sprintf(`\b%d\b`, os.Getpid()))
	tempName = regexp.MustCompile(`/[^"]*ktstr-boot-PID-[0-9]+`)
	runTime  = regexp.MustCompile(`\b[0-9]{8}T[0-9]{6}\b`)
)

// normalize drops the volatile fields of a record line and names the
// temporary root and this process's pid alike in every run.
func normalize(t *testing.T, line, root string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return line
	}
	var drop func(prefix string, m map[string]any)
	drop = func(prefix string, m map[string]any) {
		for k, v := range m {
			if volatile.MatchString(prefix + k) {
				delete(m, k)
			} else if sub, ok := v.(map[string]any); ok {
				drop(prefix+k+".", sub)
			}
		}
	}
	drop("", m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s := pid.ReplaceAllString(strings.ReplaceAll(string(b), root, "$TMP"), "PID")
	s = tempName.ReplaceAllString(s, "$$TMPDIR/ktstr-boot-PID-RAND")
	return runTime.ReplaceAllString(s, "TIME")
}

// TestRunGolden (issue 24): the run records ktstr-boot writes, and the job
// each guest is given, for jobs planned from a matrix of inputs — derived
// and given timeouts (the load factor, vCPU overcommit, payload waits,
// single-threaded TCG), stall limits from merged thresholds, schedulers
// and profiles, commands, skips and errors — are those in
// testdata/runs.golden, which the code before the resolved-job refactor
// wrote. QEMU is a script (fakeQEMU): nothing boots. go test -run
// TestRunGolden -update rewrites it.
func TestRunGolden(t *testing.T) {
	root := fakeHost(t)

	thresholds := func(spec, js string) *record.Job {
		j := specJob(t, spec)
		if err := json.Unmarshal([]byte(js), j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	cases := []struct {
		name  string
		flags plan.Flags
		jobs  []*record.Job
	}{
		{"scenarios, derived timeouts", plan.Flags{Scenario: "cgroup_steady,hackbench_steady"},
			[]*record.Job{specJob(t, "1,1,2,1"), specJob(t, "1,2,2,1"), specJob(t, "2,2,2,2")}},
		{"qmap profiles on both kernels", plan.Flags{Scenario: "cgroup_steady", Scheduler: "scx_qmap", SchedulerFlags: "highpri,batch", SchedulerArgs: "-t 20", DurationS: 5, Workers: 3},
			[]*record.Job{specJob(t, "1,2,2,1")}},
		{"central, thresholds and stall limits", plan.Flags{Scenario: "cgroup_steady", Scheduler: "scx_central"},
			[]*record.Job{
				thresholds("1,1,2,1", `{"id":"gap-1500","thresholds":{"max_gap_ms":1500,"off":["min_busy_pct"]}}`),
				thresholds("1,1,2,1", `{"id":"gap-off","thresholds":{"off":["max_gap_ms"]}}`),
				thresholds("1,1,2,1", `{"id":"stall-700","stall_after_ms":700,"thresholds":{"max_gap_ms":900}}`),
			}},
		{"given timeouts, commands, skips and errors", plan.Flags{TimeoutS: 77, Exec: "true", Dmesg: true},
			[]*record.Job{
				specJob(t, "1,1,2,1"),
				thresholds("1,1,2,1", `{"id":"own-timeout","timeout_s":12.5,"scenario":{"name":"s","steps":[{"cgroups":[{"name":"a"}]}]}}`),
				thresholds("1,1,2,1", `{"id":"too-small","scenario":{"name":"big","min_llcs":4,"steps":[{"cgroups":[{"name":"a"}]}]}}`),
				thresholds("1,1,2,1", `{"id":"bad","thresholds":{"max_gap_ms":-1}}`),
			}},
	}
	var got bytes.Buffer
	for _, c := range cases {
		f := c.flags
		f.Accel, f.Job = "auto", "default"
		if f.DurationS == 0 {
			f.DurationS, f.Workers = 3, 2
		}
		var out, log bytes.Buffer
		os.Remove(os.Getenv("KTSTR_GUEST_JOBS"))
		r := goldenRunner(t, root, f, &out, &log)
		sum := r.Run(context.Background(), c.jobs)
		fmt.Fprintf(&got, "=== %s: %+v\n", c.name, sum)
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			fmt.Fprintln(&got, normalize(t, l, root))
		}
		b, _ := os.ReadFile(os.Getenv("KTSTR_GUEST_JOBS"))
		guest := strings.Split(strings.TrimSpace(string(b)), "\n")
		sort.Strings(guest)
		for _, l := range guest {
			fmt.Fprintf(&got, "guest: %s\n", strings.ReplaceAll(l, root, "$TMP"))
		}
	}
	golden.Compare(t, "runs.golden", got.Bytes())
}

// TestBootLeavesTheResolvedJob (issue 24, item 1): nothing after
// plan.Complete changes the job. Boot gives the guest and the run record
// the job as it runs — with the timeout it derived for this host and the
// resolved stall limit — and leaves the planned job as it was.
func TestBootLeavesTheResolvedJob(t *testing.T) {
	root := fakeHost(t)
	var out, log bytes.Buffer
	r := goldenRunner(t, root, plan.Flags{Accel: "auto", Job: "default", DurationS: 3, Workers: 2, Scenario: "hackbench_steady"}, &out, &log)
	j := r.plan.Expand(specJob(t, "1,2,2,1"))[0]
	res, err := r.plan.Complete(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := record.Marshal(res.Job)
	run, err := r.Boot(context.Background(), res, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := record.Marshal(res.Job); string(after) != string(before) {
		t.Errorf("Boot changed the planned job:\nbefore %s\nafter  %s", before, after)
	}
	if res.Job.TimeoutS != 0 || res.Job.StallAfterMS != 0 {
		t.Errorf("planned job has timeout %g, stall %g: resolved values belong to the job as run", res.Job.TimeoutS, res.Job.StallAfterMS)
	}
	// 4 vCPUs on 2 host CPUs under multi-threaded TCG at load 3 (×1.5):
	// boot 12 s + (3 s + hackbench's 120 s of payload waits) × 2 + 30 s.
	want := res.TimeoutS(plan.Machine{Accel: vm.AccelTCG, TCGThreads: vm.TCGMulti, HostCPUs: 2, Load: 1.5})
	if run.Job == res.Job || run.Job.TimeoutS != want || run.Timings.TimeoutS != want || run.Job.StallAfterMS != res.StallAfterMS || res.StallAfterMS != 2000 {
		t.Errorf("job as run: timeout %g (record %g), stall %g; want timeout %g, stall %g", run.Job.TimeoutS, run.Timings.TimeoutS, run.Job.StallAfterMS, want, res.StallAfterMS)
	}
	guest, _ := os.ReadFile(os.Getenv("KTSTR_GUEST_JOBS"))
	if g, _ := record.Marshal(run.Job); strings.TrimSpace(string(guest)) != string(g) {
		t.Errorf("the guest got\n%s\nthe run record says\n%s", guest, g)
	}
}
