// Package e2e holds the end-to-end tests: they run the built ktstr-* tools
// (bin/, made by `make build`) against a real kernel from ktstr-kernel's
// cache, booted under QEMU. They run when KTSTR_E2E=1 (make test sets it).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/judge/knownbug"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// kernelSpec is the kernel the tests boot (KTSTR_E2E_KERNEL, default 6.12).
func kernelSpec() string {
	if k := os.Getenv("KTSTR_E2E_KERNEL"); k != "" {
		return k
	}
	return "6.12"
}

func binDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "bin")
}

// e2e skips unless end-to-end tests are enabled, gives each test its own
// TMPDIR (so that what the test's tools leave there, and the test's own
// processes, can be told apart from other runs on the machine) and checks
// for leaks when the test ends.
func e2e(t *testing.T) {
	t.Helper()
	if os.Getenv("KTSTR_E2E") != "1" {
		t.Skip("end-to-end test: set KTSTR_E2E=1 (make test does)")
	}
	if _, err := os.Stat(filepath.Join(binDir(t), "ktstr-boot")); err != nil {
		t.Fatalf("tools not built (make build): %v", err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	// Registered last, so it runs first: TMPDIR still names the test's
	// directory, which still exists. It runs after a failed test too.
	t.Cleanup(func() { assertNoLeaks(t) })
}

type result struct {
	code   int
	stdout string
	stderr string
	wall   time.Duration
}

// sh runs a bash pipeline with bin/ first on PATH and pipefail set, so the
// exit status is the first failing stage's.
func sh(t *testing.T, script string, stdin string) result {
	t.Helper()
	return shCtx(context.Background(), t, script, stdin)
}

func shCtx(ctx context.Context, t *testing.T, script string, stdin string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), wall: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	t.Logf("$ %s\n(exit %d, %.1fs)\nstderr:\n%s", script, r.code, r.wall.Seconds(), r.stderr)
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bootVerify runs "BOOT | tee RUNS | ktstr-verify [verifyArgs]" and
// returns the result (verdicts on stdout) and the run records.
func bootVerify(t *testing.T, boot, verifyArgs string) (result, []*record.Run) {
	t.Helper()
	runs := filepath.Join(t.TempDir(), "runs.ndjson")
	r := sh(t, boot+" | tee "+runs+" | ktstr-verify "+verifyArgs, "")
	var out []*record.Run
	for _, l := range records(t, readFile(t, runs))[record.KindRun] {
		out = append(out, decodeRun(t, l))
	}
	return r, out
}

// records splits NDJSON output into lines by kind.
func records(t *testing.T, out string) map[record.Kind][]string {
	t.Helper()
	byKind := map[record.Kind][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var h struct{ Kind record.Kind }
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatalf("stdout line is not a record: %q", sc.Text())
		}
		byKind[h.Kind] = append(byKind[h.Kind], sc.Text())
	}
	return byKind
}

// exactly returns the records of kind in out, failing the test at once
// unless there are n: a test must never pass on fewer runs or verdicts
// than it asked for (all skipped, none produced).
func exactly(t *testing.T, out string, kind record.Kind, n int) []string {
	t.Helper()
	got := records(t, out)[kind]
	if len(got) != n {
		t.Fatalf("%d %s records, want %d", len(got), kind, n)
	}
	return got
}

// onlyRun and onlyVerdict return the one record of their kind in out.
func onlyRun(t *testing.T, out string) *record.Run {
	t.Helper()
	return decodeRun(t, exactly(t, out, record.KindRun, 1)[0])
}

func onlyVerdict(t *testing.T, out string) *record.Verdict {
	t.Helper()
	return decodeVerdict(t, exactly(t, out, record.KindVerdict, 1)[0])
}

// wantRuns fails the test at once unless runs has n entries.
func wantRuns(t *testing.T, runs []*record.Run, n int) {
	t.Helper()
	if len(runs) != n {
		t.Fatalf("%d run records, want %d", len(runs), n)
	}
}

// wantPass fails the test unless v passed. A healthy scheduler on a
// healthy kernel must pass: inconclusive (host noise explained a
// violation) is not a pass.
func wantPass(t *testing.T, v *record.Verdict) {
	t.Helper()
	if v.Status != record.StatusPass {
		t.Errorf("%s: %s, want pass: %s", v.Subject, v.Status, notPassed(v))
	}
}

// notPassed lists the checks of v that failed, errored or were
// inconclusive, with their details.
func notPassed(v *record.Verdict) string {
	var out []string
	for _, c := range v.Checks {
		switch c.Status {
		case record.StatusFail, record.StatusError, record.StatusInconclusive:
			out = append(out, fmt.Sprintf("%s %s: %s", c.Name, c.Status, c.Detail))
		}
	}
	return strings.Join(out, "; ")
}

func decodeRun(t *testing.T, line string) *record.Run {
	t.Helper()
	var r record.Run
	if err := record.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func decodeVerdict(t *testing.T, line string) *record.Verdict {
	t.Helper()
	var v record.Verdict
	if err := record.Unmarshal([]byte(line), &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// leakPlaces are where a ktstr run could leave something behind.
type leakPlaces struct {
	// tmp is the temporary directory the tools use (os.TempDir(), i.e.
	// $TMPDIR or /tmp): ktstr-boot makes ktstr-boot-PID-* job directories
	// there. It also identifies the test's processes: a tool or QEMU whose
	// temporary directory is tmp belongs to the test (e2e gives each test
	// its own).
	tmp string
	// shm holds the guest-RAM files, ktstr-PID-NAME-nodeN.
	shm string
	// cgroup is the cgroup mount root; the host-side tools create no
	// cgroups, so any named ktstr* is a leak.
	cgroup string
}

// hostLeakPlaces are the places the tools really use.
func hostLeakPlaces() leakPlaces {
	return leakPlaces{tmp: os.TempDir(), shm: "/dev/shm", cgroup: "/sys/fs/cgroup"}
}

// ownerGone reports whether name (prefix + "PID-...") names no live
// process, or no pid at all.
func ownerGone(name, prefix string) bool {
	pidText, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return true
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// process is a running process: its pid and command line.
type process struct {
	pid  int
	args []string
}

// toolProcesses returns the running ktstr-* tools and QEMUs whose
// temporary directory is tmp: their $TMPDIR (else /tmp) is tmp, or their
// command line names a ktstr entry in it (QEMU's initrd and result file).
func toolProcesses(tmp string) []process {
	tmp = filepath.Clean(tmp)
	var out []process
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		prog := filepath.Base(args[0])
		if !strings.HasPrefix(prog, "qemu-system") && !strings.HasPrefix(prog, "ktstr-") {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(dir, "environ"))
		procTmp := "/tmp"
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, "TMPDIR="); ok && v != "" {
				procTmp = filepath.Clean(v)
			}
		}
		if procTmp == tmp || strings.Contains(string(cmdline), tmp+"/ktstr-") {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			out = append(out, process{pid, args})
		}
	}
	return out
}

// findLeaks returns one line per thing a ktstr run left behind in p:
// tool or QEMU processes of this test still running, temporary entries
// and guest-RAM files whose owner is gone, and ktstr cgroups. Entries of a
// live owner are some other run's work in progress; if that owner is this
// test's, the process check reports it.
func findLeaks(p leakPlaces) []string {
	var leaks []string
	for _, pr := range toolProcesses(p.tmp) {
		leaks = append(leaks, fmt.Sprintf("process %d still running: %.200s", pr.pid, strings.Join(pr.args, " ")))
	}
	entries, _ := filepath.Glob(filepath.Join(p.tmp, "ktstr-*"))
	for _, e := range entries {
		if ownerGone(filepath.Base(e), "ktstr-boot-") {
			leaks = append(leaks, "temporary entry left: "+e)
		}
	}
	shm, _ := filepath.Glob(filepath.Join(p.shm, "ktstr-*"))
	for _, f := range shm {
		if ownerGone(filepath.Base(f), "ktstr-") {
			leaks = append(leaks, "guest-RAM file left: "+f)
		}
	}
	// cgroup v2 has one tree, v1 one per controller: three levels deep
	// covers a cgroup at the top of every hierarchy and one level below.
	for depth := 1; depth <= 3; depth++ {
		pattern := filepath.Join(append([]string{p.cgroup}, slices.Repeat([]string{"*"}, depth-1)...)...)
		dirs, _ := filepath.Glob(filepath.Join(pattern, "ktstr*"))
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				leaks = append(leaks, "cgroup left: "+d)
			}
		}
	}
	return leaks
}

// assertNoLeaks checks that the test left no QEMU or tool process, no
// temporary directory, no /dev/shm guest-RAM file and no cgroup behind.
// Killed processes take a moment to be reaped, so it retries for 5 s.
func assertNoLeaks(t *testing.T) {
	t.Helper()
	var leaks []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if leaks = findLeaks(hostLeakPlaces()); len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}
}

// startSh starts a pipeline in its own process group and returns the
// command and its output buffers.
func startSh(t *testing.T, script string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir(t)+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out, &errb
}

// knownRace is a real, rare scheduler bug, documented by name, that a
// healthy-set test may hit: its checks were right to fail the run. A
// healthy-set test that hits one logs a FINDING (and, for a behaviour race,
// runs the job once more, which must then pass); every other failure —
// inconclusive included, and a kernel watchdog death of the scheduler —
// fails the test. Findings are counted over the whole go test run, and
// more than maxFindings fail it: a race that turns up often is no longer
// rare, and a rerun that keeps saving a test hides a regression.
type knownRace struct {
	name  string
	sched string
	// match reports whether a failed verdict and its run are this race.
	match func(v *record.Verdict, run *record.Run) bool
	// rerun: the job is run once more and must pass; otherwise every
	// check but the outcome must have passed.
	rerun bool
}

var knownRaces = []knownRace{
	{
		// CI, stop 20: one cgroup left off flatcg's cgroup tree for 2.9 s
		// of a 3 s run (both its workers stuck, 94 % less CPU than its
		// equal sibling); 17 of 17 reruns passed on a quiet host.
		// Rerun with one host CPU hog (2026-12-05): 2 of 7 runs of
		// cgroup_cpuset_cross_llc_steady failed only the monitor's work
		// conservation — a CPU halted 28 s with a task queued on it
		// (stranded) while the scenario set up — and with
		// --watchdog-timeout 4s one run starved a cgroup's two workers:
		// the same lost cgroup (see the next race for how it is lost).
		name: "scx_flatcg leaves a cgroup off its cgroup tree", sched: "scx_flatcg", rerun: true,
		match: func(v *record.Verdict, _ *record.Run) bool { return onlyChecksFailed(v, strandedOrBehaviour) },
	},
	{
		// CI, 2026-12-05: init[19657] failed to run for 41.9 s of a 3 s
		// cgroup_cpuset_cross_llc_steady run and the sched_ext watchdog
		// disabled flatcg — the race above, past the watchdog. Rerun here
		// with --watchdog-timeout 4s and one host CPU hog, it took 2 of
		// the first 10 such runs; the exit dump showed the agent (init[1])
		// waiting 14.8 s in the root cgroup's queue (dsq_id=0x1) while
		// every dispatch found flatcg's cgroup tree empty (PNC nocgrp).
		// flatcg's enqueue puts the cgroup on its tree before the kernel
		// inserts the task into the cgroup's queue (the direct dispatch
		// runs after ops.enqueue returns); a CPU that pops the cgroup in
		// between finds the queue empty, and the check meant to catch
		// that (scx_bpf_dsq_nr_queued) runs before the insert too: the
		// cgroup is stashed off the tree with its task queued. Matched on
		// those traces only: the stalled task waits in a cgroup's queue
		// (not the fallback queue 0 or a built-in one) and flatcg's last
		// statistics show dispatches finding no cgroup. CI, stop 27: the
		// same death as "watchdog failed to check in for 30.004s" — the
		// watchdog's own kworker, queued in the root cgroup's queue, is
		// the task stranded (matched when the dump shows a task waiting in
		// a cgroup's queue since the watchdog's work was due).
		name: knownbug.FlatcgStrandedCgroup.Name + " until the watchdog", sched: "scx_flatcg", rerun: true,
		match: bugTrace(knownbug.FlatcgStrandedCgroup),
	},
	{
		// EEVDF (no sched_ext scheduler): its group balancing can leave
		// one of two equal cgroups with less CPU than the 35-point limit
		// allows when the host keeps the vCPUs waiting — documented in
		// README, "Not yet" (the loaded fidelity gate: 42 % less at 84 %
		// host wait). CI-like runs, 2026-12-06: cgroup_exhaust_reuse, 2
		// workers each, 42 % less at 51–52 % wait on both cgroups' vCPUs.
		// Matched only when cgroup_fairness alone failed; rerun once, and
		// the rerun must pass.
		name: "EEVDF's group balancing leaves equal cgroups unequal under host wait", sched: "",
		rerun: true,
		match: func(v *record.Verdict, _ *record.Run) bool {
			return onlyChecksFailed(v, func(c record.Check) bool { return strings.HasPrefix(c.Name, "cgroup_fairness[") })
		},
	},
	{
		// Seen once in the fidelity sweep: the kernel disabled
		// scx_central for dispatching a migration-disabled task to
		// another CPU (its runtime-error exit).
		name: knownbug.CentralMigrationDisabled.Name, sched: "scx_central",
		match: bugTrace(knownbug.CentralMigrationDisabled),
	},
}

// bugTrace matches a run whose scheduler's death shows bug's trace
// (lib/judge/knownbug, which ktstr-verify also names in the verdict).
func bugTrace(bug *knownbug.Bug) func(*record.Verdict, *record.Run) bool {
	return func(v *record.Verdict, run *record.Run) bool { return knownbug.Match(run, v.Checks) == bug }
}

// maxFindings is how many known races one go test run may hit.
const maxFindings = 2

var findings struct {
	sync.Mutex
	n    int
	what []string
}

// finding counts one known race hit and fails t past maxFindings.
func finding(t *testing.T, what string) {
	t.Helper()
	findings.Lock()
	defer findings.Unlock()
	findings.n++
	findings.what = append(findings.what, what)
	t.Logf("FINDING %d of at most %d this run: %s", findings.n, maxFindings, what)
	if findings.n > maxFindings {
		t.Errorf("%d known-race findings in one run, more than %d: %s", findings.n, maxFindings, strings.Join(findings.what, "; "))
	}
}

// raceOf returns the known race a failed run of a healthy scheduler is, or
// nil.
func raceOf(v *record.Verdict, run *record.Run) *knownRace {
	if run == nil || run.Job == nil || v.Status != record.StatusFail {
		return nil
	}
	sched := "" // EEVDF
	if run.Job.Scheduler != nil {
		sched = run.Job.Scheduler.Name
	}
	for i, r := range knownRaces {
		if r.sched == sched && r.match(v, run) {
			return &knownRaces[i]
		}
	}
	return nil
}

// wantHealthy is wantPass for a healthy scheduler's run: it must pass,
// unless it hit a known race (see knownRace).
func wantHealthy(t *testing.T, v *record.Verdict, run *record.Run, rerunArgs string) {
	t.Helper()
	race, problems := judgeHealthy(v, run)
	for _, p := range problems {
		t.Error(p)
	}
	if race == nil {
		return
	}
	finding(t, fmt.Sprintf("%s (%s, %s): %s", race.name, v.Subject, v.RunID, notPassed(v)))
	if race.rerun {
		v, _ = rerunOnce(t, v, run, rerunArgs)
		if v.Status != record.StatusPass {
			t.Errorf("%s: %s again on its rerun, want pass: %s", v.Subject, v.Status, notPassed(v))
		}
	}
}

// judgeHealthy says what is wrong with a healthy scheduler's verdict: the
// known race it hit (nil if none) and the problems that fail the test.
func judgeHealthy(v *record.Verdict, run *record.Run) (*knownRace, []string) {
	if v.Status == record.StatusPass {
		return nil, nil
	}
	race := raceOf(v, run)
	if race == nil {
		return nil, []string{fmt.Sprintf("%s: %s, want pass: %s", v.Subject, v.Status, notPassed(v))}
	}
	var problems []string
	if !race.rerun {
		for _, c := range v.Checks {
			if c.Name != "outcome" && (c.Status == record.StatusFail || c.Status == record.StatusError || c.Status == record.StatusInconclusive) {
				problems = append(problems, fmt.Sprintf("%s: %s %s: %s", v.Subject, c.Name, c.Status, c.Detail))
			}
		}
	}
	return race, problems
}

// behaviourChecks are the checks that judge what a live scheduler did with
// the workers (as opposed to outcome, topology or the harness's errors).
var behaviourChecks = map[string]bool{
	"starvation": true, "spread": true, "fair_share": true, "gap": true, "cgroup_fairness": true, "work_conservation": true,
}

// onlyBehaviourChecksFailed reports whether every check of v that did not
// pass is a behaviour check (names are "check" or "check[cgroups]") that
// failed: an inconclusive check, an error, or a failed outcome, topology or
// monitor check is never a behaviour race.
func onlyBehaviourChecksFailed(v *record.Verdict) bool {
	return onlyChecksFailed(v, func(c record.Check) bool {
		name, _, _ := strings.Cut(c.Name, "[")
		return behaviourChecks[name]
	})
}

// strandedOrBehaviour: a behaviour check, or the monitor's work
// conservation finding a CPU halted with tasks queued on it (stranded) —
// what a task left in a queue no CPU looks at shows.
func strandedOrBehaviour(c record.Check) bool {
	name, _, _ := strings.Cut(c.Name, "[")
	return behaviourChecks[name] || (c.Name == "monitor_work_conservation" && strings.Contains(c.Detail, "(stranded:"))
}

// onlyChecksFailed reports whether every check of v that did not pass
// failed and is one of these.
func onlyChecksFailed(v *record.Verdict, these func(record.Check) bool) bool {
	for _, c := range v.Checks {
		if c.Status == record.StatusPass || c.Status == record.StatusSkip {
			continue
		}
		if c.Status != record.StatusFail || !these(c) {
			return false
		}
	}
	return true
}

// rerunOnce runs a job that hit a known behaviour race again, alone, on
// the same topology, with args (scheduler and scenario arguments), and
// returns the new verdict and run.
func rerunOnce(t *testing.T, v *record.Verdict, run *record.Run, args string) (*record.Verdict, *record.Run) {
	t.Helper()
	tp := run.Job.Topology
	if !strings.Contains(args, "--scenario") && run.Scenario != nil {
		args += " --scenario " + run.Scenario.Name
	}
	t.Logf("%s (%s): running it once more", v.Subject, v.RunID)
	r, runs := bootVerify(t, fmt.Sprintf("ktstr-boot --kernel %s --topology %d,%d,%d,%d %s", kernelSpec(),
		tp.NUMANodes, tp.LLCs, tp.CoresPerLLC, tp.ThreadsPerCore, args), "")
	wantRuns(t, runs, 1)
	return onlyVerdict(t, r.stdout), runs[0]
}
