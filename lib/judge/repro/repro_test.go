package repro

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/sched"
)

const dump = `ktstr_enqueue[71] triggered exit kind 1024:
  runtime error (ktstr fixture: error after 500 enqueues)

Backtrace:
  scx_bpf_error_bstr+0x60/0x80
  bpf_prog_6b2e5b1e3c7d9f00_ktstr_enqueue+0x4a/0x63
  bpf__sched_ext_ops_enqueue+0x3b/0x73
  do_enqueue_task+0x2a8/0x3b0
  tick_nohz_handler+0x0/0xe2
  enqueue_task_scx+0x1a6/0x260
  enqueue_task+0x31/0xd0
  ttwu_do_activate+0x6a/0x1d0
  try_to_wake_up+0x26b/0x650
  _raw_spin_lock+0x10/0x20

CPU states
----------
  R init[69] -4728ms
    do_nanosleep+0x60/0x140
`

var panicConsole = []string{
	"[    5.100000] sysrq: Trigger a crash",
	"[    5.100100] Kernel panic - not syncing: sysrq triggered crash",
	"[    5.100200] CPU: 1 UID: 0 PID: 80 Comm: sh Not tainted 6.12.117 #1",
	"[    5.100300] Call Trace:",
	"[    5.100310]  <TASK>",
	"[    5.100320]  dump_stack_lvl+0x2c/0x50",
	"[    5.100330]  panic+0x11b/0x2d0",
	"[    5.100340]  ? sysrq_handle_showmem+0x10/0x10",
	"[    5.100350]  sysrq_handle_crash+0x15/0x20",
	"[    5.100360]  __handle_sysrq+0x9c/0x170",
	"[    5.100370]  write_sysrq_trigger+0x60/0x80",
	"[    5.100380]  proc_reg_write+0x53/0xa0",
	"[    5.100390]  vfs_write+0xcd/0x3e0",
	"[    5.100400]  do_syscall_64+0x4a/0xa4",
	"[    5.100410]  entry_SYSCALL_64_after_hwframe+0x4b/0x53",
	"[    5.100420]  </TASK>",
	"[    5.100430]  later_frame_not_in_trace+0x1/0x2",
}

func TestExitBacktrace(t *testing.T) {
	got := ExitBacktrace(dump)
	want := []string{"scx_bpf_error_bstr", "ktstr_enqueue", "bpf__sched_ext_ops_enqueue", "do_enqueue_task",
		"enqueue_task_scx", "enqueue_task", "ttwu_do_activate", "try_to_wake_up", "_raw_spin_lock"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExitBacktrace = %v, want %v (offset-0 frames and the CPU states left out)", got, want)
	}
	if got := BPFFrames(dump); !reflect.DeepEqual(got, []string{"ktstr_enqueue"}) {
		t.Errorf("BPFFrames = %v", got)
	}
}

func TestCallTrace(t *testing.T) {
	got := CallTrace(panicConsole)
	want := []string{"dump_stack_lvl", "panic", "sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger",
		"proc_reg_write", "vfs_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CallTrace = %v, want %v (the ? frame and lines after </TASK> left out)", got, want)
	}
}

// TestCallTraceUnreliable: a kernel whose unwinder marks every frame "?"
// (the guess unwinder of a minimal config) still gives its call trace.
func TestCallTraceUnreliable(t *testing.T) {
	console := []string{
		"[    2.512858] Kernel panic - not syncing: sysrq triggered crash",
		"[    2.513428] Call Trace:",
		"[    2.513713]  <TASK>",
		"[    2.513785]  ? panic+0xfd/0x28b",
		"[    2.513930]  ? sysrq_handle_crash+0x11/0x11",
		"[    2.513995]  ? __handle_sysrq+0x96/0x110",
		"[    2.514054]  ? write_sysrq_trigger+0x40/0x58",
		"[    2.514524]  </TASK>",
	}
	want := []string{"panic", "sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger"}
	if got := CallTrace(console); !reflect.DeepEqual(got, want) {
		t.Errorf("CallTrace = %v, want %v", got, want)
	}
}

func TestOpCaller(t *testing.T) {
	for prog, want := range map[string]string{
		"ktstr_enqueue": "do_enqueue_task", "qmap_dispatch": "balance_scx", "select_cpu": "select_task_rq_scx",
		"qmap_init_task": "scx_ops_init_task", "qmap_enable": "scx_ops_enable_task", "ktstr_init": "",
		"simple_running": "set_next_task_scx", "foo": "",
	} {
		if got := OpCaller(prog); got != want {
			t.Errorf("OpCaller(%q) = %q, want %q", prog, got, want)
		}
	}
}

func fixtureRun(t *testing.T) *record.Run {
	img := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(img, []byte("x"), 0o644)
	return &record.Run{
		ID: "run-1", Outcome: record.OutcomeSchedulerDied, Reason: "sched_ext state became disabling",
		Job: &record.Job{ID: "1n1l2c1t/cgroup_steady/ktstr-fixture:error", Topology: &record.Topology{Name: "1n1l2c1t", CPUs: 2},
			Kernel: &record.Kernel{Image: img}, MemoryMB: 512, DurationS: 4, Workers: 2, TimeoutS: 60,
			Scenario:  []byte(`{"name":"cgroup_steady"}`),
			Scheduler: &record.Scheduler{Name: "ktstr-fixture", Binary: sched.FixtureBinary, Args: []string{"--error-after=500"}, Profile: "error", Flags: []string{"error"}, Ops: "ktstr"}},
		Scheduler: &record.SchedulerRun{Attached: true, Died: true, Dump: dump,
			ExitKind: `sched_ext: BPF scheduler "ktstr" disabled (runtime error): ktstr fixture: error after 500 enqueues`,
			Programs: []record.BPFProgram{{ID: 7, Name: "ktstr_enqueue", Type: "StructOps"}, {ID: 8, Name: "ktstr_dispatch", Type: "StructOps"}, {ID: 9, Name: "other", Type: "Tracing"}}},
	}
}

func TestDeriveFixtureError(t *testing.T) {
	r := fixtureRun(t)
	j, err := Derive(r, nil)
	if err != nil || j == nil {
		t.Fatalf("Derive = %v, %v", j, err)
	}
	// The identical job: only the id, the timeout and the repro fields
	// differ, and the scheduler's argv is the profile's.
	c := *j
	c.ID, c.TimeoutS, c.Probes, c.ReproOf = r.Job.ID, r.Job.TimeoutS, nil, nil
	if !reflect.DeepEqual(&c, r.Job) {
		t.Errorf("repro job differs from the run's job beyond id/timeout/probes:\n%+v\n%+v", &c, r.Job)
	}
	if j.ID != r.Job.ID+"/repro" || j.TimeoutS != 120 || !slices.Equal(j.Scheduler.Args, []string{"--error-after=500"}) {
		t.Errorf("id %q timeout %v args %v", j.ID, j.TimeoutS, j.Scheduler.Args)
	}
	if j.Scheduler == r.Job.Scheduler {
		t.Error("the repro job shares the run's scheduler record")
	}
	o := j.ReproOf
	if o.RunID != "run-1" || o.Class != ClassSchedulerDied || !strings.Contains(o.Reason, "error after 500 enqueues") {
		t.Errorf("origin %+v", o)
	}
	p := j.Probes
	if p.Trigger != TriggerExit || !slices.Equal(p.BPF, []string{"ktstr_dispatch", "ktstr_enqueue"}) {
		t.Errorf("probes %+v", p)
	}
	// The BPF op's caller first, then the backtrace minus plumbing, then
	// the other ops' callers.
	want := []string{"do_enqueue_task", "enqueue_task_scx", "enqueue_task", "ttwu_do_activate", "try_to_wake_up", "balance_scx"}
	if !slices.Equal(p.Functions, want) {
		t.Errorf("functions %v, want %v", p.Functions, want)
	}
}

func TestDeriveSkipsAndPasses(t *testing.T) {
	r := fixtureRun(t)
	r.Outcome = record.OutcomeCompleted
	if j, err := Derive(r, &record.Verdict{RunID: r.ID, Status: record.StatusPass}); j != nil || err != nil {
		t.Errorf("passing run: %v, %v", j, err)
	}
	// A failed check that is not a repro's business needs no repro.
	v := &record.Verdict{Status: record.StatusFail, Checks: []record.Check{{Name: "isolation[a]", Status: record.StatusFail}}}
	if j, err := Derive(r, v); j != nil || err != nil {
		t.Errorf("isolation failure: %v, %v", j, err)
	}
	v.Checks = append(v.Checks, record.Check{Name: "starvation[a]", Status: record.StatusFail})
	j, err := Derive(r, v)
	if err != nil || j == nil || j.ReproOf.Class != ClassCheck || !slices.Equal(j.ReproOf.Checks, []string{"starvation[a]"}) {
		t.Fatalf("starvation: %+v, %v", j, err)
	}
	// A repro run is never rerun.
	r.Job.ReproOf = j.ReproOf
	if j, err := Derive(r, v); j != nil || err != nil {
		t.Errorf("repro run rerun: %v, %v", j, err)
	}
	r.Job.ReproOf = nil

	eevdf := fixtureRun(t)
	eevdf.Job.Scheduler, eevdf.Scheduler = nil, nil
	var skip *record.SkipError
	if _, err := Derive(eevdf, v); !asSkip(err, &skip) || skip.Reason != "eevdf" {
		t.Errorf("EEVDF stall: %v", err)
	}
	eevdf.Outcome = record.OutcomeKernelPanic
	eevdf.ConsoleTail = panicConsole
	j, err = Derive(eevdf, nil)
	if err != nil || j.Probes.Trigger != TriggerPanic || j.Probes.BPF != nil ||
		!slices.Equal(j.Probes.Functions, []string{"sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "proc_reg_write", "vfs_write"}) {
		t.Errorf("EEVDF panic: %+v, %v", j.Probes, err)
	}
	missing := fixtureRun(t)
	missing.Job.Scheduler.Binary = "/nonexistent/scx_x"
	if _, err := Derive(missing, nil); !asSkip(err, &skip) || skip.Reason != "missing_binary" {
		t.Errorf("missing binary: %v", err)
	}
	missing.Job.Kernel.Image = "/nonexistent/bzImage"
	if _, err := Derive(missing, nil); !asSkip(err, &skip) || skip.Reason != "missing_kernel" {
		t.Errorf("missing kernel: %v", err)
	}
	missing.Job = nil
	if _, err := Derive(missing, nil); !asSkip(err, &skip) || skip.Reason != "no_job" {
		t.Errorf("no job: %v", err)
	}
}

func asSkip(err error, s **record.SkipError) bool {
	return errors.Is(err, record.ErrSkip) && errors.As(err, s)
}

func TestDeriveNoProgramsFallsBackToCore(t *testing.T) {
	r := fixtureRun(t)
	r.Scheduler.Programs, r.Scheduler.Dump = nil, ""
	j, _ := Derive(r, nil)
	if !slices.Equal(j.Probes.Functions, CorePaths) || len(j.Probes.BPF) != 0 {
		t.Errorf("no frames, no programs: %+v", j.Probes)
	}
}

func TestReport(t *testing.T) {
	orig := fixtureRun(t)
	j, _ := Derive(orig, nil)
	rerun := fixtureRun(t)
	rerun.ID, rerun.Job = "run-2", j
	rerun.Host.TCGThreads = "single"
	rerun.Scheduler.ExitKind = `sched_ext: BPF scheduler "ktstr" disabled (runtime error): ktstr fixture: error after 501 enqueues`
	rerun.Probe = &record.ProbeResult{Trigger: TriggerExit, Targets: []record.ProbeTarget{{Name: "ktstr_enqueue", Type: "bpf", Events: 2}},
		Events: []record.ProbeEvent{{TNS: 30, Func: "ktstr_enqueue"}, {TNS: 10, Func: "do_enqueue_task"}}}
	rep := Report(rerun, nil)
	if !rep.Reproduced || !rep.ReasonMatched || rep.RunID != "run-1" || rep.ReproRunID != "run-2" || rep.TCGThreads != "single" {
		t.Errorf("same failure, another count: %+v", rep)
	}
	if rep.Events[0].TNS != 10 || len(rep.Chain) != 1 {
		t.Errorf("timeline not in time order or chain lost: %+v", rep.Events)
	}
	rerun.Scheduler.ExitKind = `sched_ext: BPF scheduler "ktstr" disabled (runnable task stall): ktstr: watchdog failed to check in for 5.020s`
	if rep := Report(rerun, nil); !rep.Reproduced || rep.ReasonMatched || !strings.Contains(rep.Detail, "another reason") {
		t.Errorf("other reason: %+v", rep)
	}
	rerun.Outcome, rerun.Scheduler = record.OutcomeCompleted, nil
	rep = Report(rerun, &record.Verdict{Status: record.StatusPass})
	if rep.Reproduced || rep.ReasonMatched || !strings.Contains(rep.Detail, "not reproduced: the rerun completed without the original scheduler_died") {
		t.Errorf("passing rerun: %+v", rep)
	}
	rerun.Outcome, rerun.Reason = record.OutcomeTimeout, "no result within 120s"
	if rep := Report(rerun, nil); rep.Reproduced || !strings.Contains(rep.Detail, "timeout: no result within 120s") {
		t.Errorf("timed-out rerun: %+v", rep)
	}
}

// TestReportChecks: a check failure reproduces when one of its checks
// fails again, and has the same reason when all of them do (more may
// fail under single-threaded TCG).
func TestReportChecks(t *testing.T) {
	orig := fixtureRun(t)
	orig.Outcome = record.OutcomeCompleted
	v := &record.Verdict{Status: record.StatusFail, Checks: []record.Check{{Name: "starvation[a]", Status: record.StatusFail}, {Name: "starvation[b]", Status: record.StatusFail}}}
	j, err := Derive(orig, v)
	if err != nil || j == nil {
		t.Fatal(j, err)
	}
	rerun := fixtureRun(t)
	rerun.Outcome, rerun.Job = record.OutcomeCompleted, j
	verdict := func(names ...string) *record.Verdict {
		v := &record.Verdict{Status: record.StatusFail}
		for _, n := range names {
			v.Checks = append(v.Checks, record.Check{Name: n, Status: record.StatusFail})
		}
		return v
	}
	for _, c := range []struct {
		checks            []string
		reproduced, match bool
	}{
		{[]string{"starvation[a]", "starvation[b]", "gap[a]"}, true, true},
		{[]string{"starvation[a]"}, true, false},
		{[]string{"gap[a]"}, false, false},
		{nil, false, false},
	} {
		rep := Report(rerun, verdict(c.checks...))
		if rep.Reproduced != c.reproduced || rep.ReasonMatched != c.match {
			t.Errorf("rerun failing %v: reproduced %v matched %v, want %v %v", c.checks, rep.Reproduced, rep.ReasonMatched, c.reproduced, c.match)
		}
	}
}

func TestNormalizeReason(t *testing.T) {
	a := NormalizeReason("watchdog failed to check in for 5.020s  (pid 71, 0xffff12)")
	b := NormalizeReason("watchdog failed to check in for 30.1s (pid 8, 0xabc)")
	if a != b || a != "watchdog failed to check in for #s (pid #, #)" {
		t.Errorf("%q vs %q", a, b)
	}
}

func TestConsoleEvents(t *testing.T) {
	lines := []string{
		"[    6.841428] CPU:1 [LOST 240 EVENTS]",
		"[    7.029154]       sh-51        1....1 9881637us : bpf_trace_printk: ktstr-probe 2 0 51 2 1255 0 0 0 0 0 0 0",
		"[    7.029276]       sh-51        1....1 9881817us : bpf_trace_printk: ktstr-probe 1 0 51 63 1 0 0 0 0 0 0 0",
		"[    7.029300]  kworker/0:1-12    0d..1. 9881900us : bpf_trace_printk: ktstr-probe 0 1 12 63 0 0 0 0 0 0 0 ffffffffffffffea",
		"[    7.029397]       sh-51        1....1 9882471us : bpf_trace_printk: ktstr-probe 9 0 51 63 1255 0 0 0 0 0 0 0",
		"[    7.029400]       sh-51        1....1 9882471us : bpf_trace_printk: something else",
	}
	targets := []record.ProbeTarget{
		{Name: "sysrq_handle_crash", Fields: []string{"key:uint"}},
		{Name: "__handle_sysrq", Fields: []string{"key:uint", "check_mask:bool"}},
		{Name: "write_sysrq_trigger", Fields: []string{"count:uint"}},
	}
	got := ConsoleEvents(lines, targets)
	if len(got) != 4 {
		t.Fatalf("%d events: %+v", len(got), got)
	}
	want := []record.ProbeEvent{
		{TNS: 9881637000, CPU: 1, Func: "write_sysrq_trigger", PID: 51, Comm: "sh", Args: []string{"count=2"}},
		{TNS: 9881817000, CPU: 1, Func: "__handle_sysrq", PID: 51, Comm: "sh", Args: []string{"key=99", "check_mask=true"}},
		{TNS: 9881900000, CPU: 0, Func: "sysrq_handle_crash", Exit: true, PID: 12, Comm: "kworker/0:1", Args: []string{"key=99"}, Ret: "0xffffffffffffffea"},
		{TNS: 9882471000, CPU: 1, Func: "target#9", PID: 51, Comm: "sh"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}
