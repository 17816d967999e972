package verdict

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/judge/knownbug"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

func run(outcome record.Outcome, observed *record.Topology) *record.Run {
	want := topology.Spec{NUMANodes: 2, LLCs: 4, CoresPerLLC: 2, ThreadsPerCore: 2}.Record(20)
	return &record.Run{ID: "r1", Outcome: outcome, Reason: "why", Job: &record.Job{ID: "j", Topology: want}, ObservedTopology: observed}
}

func TestJudgePass(t *testing.T) {
	obs := topology.Spec{NUMANodes: 2, LLCs: 4, CoresPerLLC: 2, ThreadsPerCore: 2}.Record(20)
	v := Judge(run(record.OutcomeCompleted, obs), nil)
	if v.Status != record.StatusPass || len(v.Checks) != 6 || v.Subject != "j" {
		t.Fatalf("%+v", v)
	}
}

func TestJudgeTopologyMismatch(t *testing.T) {
	obs := topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 8, ThreadsPerCore: 2}.Record(20)
	v := Judge(run(record.OutcomeCompleted, obs), nil)
	if v.Status != record.StatusFail {
		t.Fatalf("status %s", v.Status)
	}
	failed := Failed(v.Checks)
	names := []string{}
	for _, c := range failed {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "topology.llc_groups,topology.numa_nodes,topology.distances" {
		t.Errorf("failed checks %v", names)
	}
	if !strings.Contains(failed[0].Detail, "guest has 0-15, requested 0-3 4-7 8-11 12-15") {
		t.Errorf("detail %q", failed[0].Detail)
	}
}

func TestJudgeOutcomes(t *testing.T) {
	v := Judge(run(record.OutcomeKernelPanic, nil), nil)
	if v.Status != record.StatusFail || len(v.Checks) != 1 || v.Checks[0].Detail != "why" {
		t.Errorf("panic: %+v", v)
	}
	if v := Judge(run(record.OutcomeCompleted, nil), nil); v.Status != record.StatusFail {
		t.Errorf("completed without topology: %+v", v)
	}
	if v := Judge(run(record.OutcomeInterrupted, nil), nil); v.Status != record.StatusError {
		t.Errorf("interrupted: %+v", v)
	}
}

func TestExecCheck(t *testing.T) {
	obs := topology.Spec{NUMANodes: 2, LLCs: 4, CoresPerLLC: 2, ThreadsPerCore: 2}.Record(20)
	r := run(record.OutcomeCompleted, obs)
	r.Job.Exec = "false"
	r.Exec = &record.ExecResult{Command: "false", ExitCode: 1, Stderr: "a\nboom\n"}
	v := Judge(r, nil)
	if v.Status != record.StatusFail || !strings.Contains(Failed(v.Checks)[0].Detail, `"false" exited 1; stderr: boom`) {
		t.Errorf("%+v", v)
	}
}

func TestCombine(t *testing.T) {
	c := func(s ...record.Status) []record.Check {
		var out []record.Check
		for _, x := range s {
			out = append(out, record.Check{Status: x})
		}
		return out
	}
	cases := map[record.Status][]record.Check{
		record.StatusPass:         c(record.StatusPass, record.StatusSkip),
		record.StatusFail:         c(record.StatusPass, record.StatusFail, record.StatusInconclusive),
		record.StatusInconclusive: c(record.StatusPass, record.StatusInconclusive),
		record.StatusSkip:         c(record.StatusSkip),
		record.StatusError:        c(record.StatusError, record.StatusPass),
	}
	for want, checks := range cases {
		if got := Combine(checks); got != want {
			t.Errorf("%v → %s, want %s", checks, got, want)
		}
	}
}

func TestSchedulerAndObjectChecks(t *testing.T) {
	obs := topology.Spec{NUMANodes: 2, LLCs: 4, CoresPerLLC: 2, ThreadsPerCore: 2}.Record(20)
	r := run(record.OutcomeCompleted, obs)
	r.Job.Scheduler = &record.Scheduler{Name: "s"}
	progs := []record.BPFProgram{{Name: "big", VerifiedInsns: 800_000}, {Name: "small", VerifiedInsns: 10}}
	r.Scheduler = &record.SchedulerRun{Attached: true, Programs: progs}
	r.Job.BPFObjects = []string{"/x/a.o", "/x/b.o"}
	r.BPFObjects = []record.BPFObject{{Path: "/x/a.o", Programs: progs}}
	v := Judge(r, nil)
	byName := map[string]record.Check{}
	for _, c := range v.Checks {
		byName[c.Name] = c
	}
	for _, n := range []string{"bpf.verified_insns", "bpf_object[a.o]"} {
		c := byName[n]
		if c.Status != record.StatusPass || c.Value != uint32(800_000) || !strings.Contains(c.Detail, "warning: ≥ 75% of the limit: big 800000") {
			t.Errorf("%s: %+v", n, c)
		}
	}
	if c := byName["bpf_object[b.o]"]; c.Status != record.StatusFail {
		t.Errorf("missing object: %+v", c)
	}
}

// A scheduler death that shows a documented bug's trace stays a failure
// and names the bug; a death without the trace names none.
func TestJudgeNamesAKnownBug(t *testing.T) {
	run := func(exitKind string) *record.Run {
		return &record.Run{ID: "r", Outcome: record.OutcomeSchedulerDied, Reason: "the scheduler died",
			Job:       &record.Job{ID: "j", Scheduler: &record.Scheduler{Name: "scx_central"}},
			Scheduler: &record.SchedulerRun{Died: true, ExitKind: exitKind}}
	}
	v := Judge(run(`sched_ext: BPF scheduler "central" disabled (runtime error): central: SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301] from CPU 1 to 2`), nil)
	if v.Status != record.StatusFail || v.KnownBug != knownbug.CentralMigrationDisabled.Name {
		t.Errorf("status %s, known bug %q", v.Status, v.KnownBug)
	}
	if !strings.Contains(v.Checks[0].Detail, "known bug: "+knownbug.CentralMigrationDisabled.Name) {
		t.Errorf("outcome detail %q does not name the bug", v.Checks[0].Detail)
	}
	if v := Judge(run(`sched_ext: BPF scheduler "central" disabled (runnable task stall)`), nil); v.KnownBug != "" || v.Status != record.StatusFail {
		t.Errorf("status %s, known bug %q for a death without its trace", v.Status, v.KnownBug)
	}
}

// A living scheduler's known bug names a run that failed the way the bug
// fails it only: the monitor saw a stranded CPU. The same trace in a run
// that passed, or that failed something else, names nothing.
func TestJudgeNamesALivingKnownBugOnlyWhenItExplainsTheFailure(t *testing.T) {
	run := func(cpus func(i int, t float64) []record.MonitorCPUSample) *record.Run {
		r := monitorRun(cpus)
		r.ID, r.Job.ID, r.Job.Scheduler.Name = "r", "j", "scx_flatcg"
		r.Scenario.Strands = []record.Strand{{AtS: 6, ForS: 2, IdleCPUs: 1, Waiting: 1, Dump: true}}
		r.Scheduler = &record.SchedulerRun{Attached: true,
			Log: "PNC   next:     3  empty:     4 nocgrp:     7  gone:     0 race:     0 fail:     0\n",
			Dump: "Debug dump triggered by SysRq-D\n\nCPU states\n----------\n" +
				"CPU 0   : nr_run=1 flags=0x1 cpu_rel=0 ops_qseq=9 pnt_seq=4\n" +
				"          curr=swapper/0[0] class=idle_sched_class\n\n" +
				"  R kt:CpuSpin[301] -4000ms\n" +
				"      sticky/holding_cpu=-1/-1 dsq_id=0x1a3 dsq_vtime=0\n"}
		return r
	}
	stranded := func(i int, t float64) []record.MonitorCPUSample {
		c := healthy(i, t)
		if t >= 12 && t < 14 {
			c[0].VCPURunS, c[0].Nr, c[0].PID, c[0].Comm = 12*0.09, 1, 0, "swapper/0"
			c[3].VCPURunS, c[3].Nr, c[3].PID, c[3].Comm = 12*0.09, 0, 0, "swapper/3"
		}
		return c
	}
	v := Judge(run(stranded), nil)
	if v.Status != record.StatusFail || v.KnownBug != knownbug.FlatcgStrandedCgroup.Name {
		t.Fatalf("stranded: status %s, known bug %q; checks %+v", v.Status, v.KnownBug, v.Checks)
	}
	// The bug is named on the first check that failed, not on the outcome.
	for _, c := range v.Checks {
		if named := strings.Contains(c.Detail, "known bug: "); named != (c.Name == CheckMonitorWorkCons) {
			t.Errorf("%s (%s): %q", c.Name, c.Status, c.Detail)
		}
	}
	if v := Judge(run(healthy), nil); v.Status != record.StatusPass || v.KnownBug != "" {
		t.Errorf("healthy: status %s, known bug %q", v.Status, v.KnownBug)
	}
	// A failure the strand does not explain (the command) is not excused.
	r := run(stranded)
	r.Job.Exec, r.Exec = "true", &record.ExecResult{Command: "true", ExitCode: 1}
	if v := Judge(r, nil); v.Status != record.StatusFail || v.KnownBug != "" {
		t.Errorf("a failed command besides: status %s, known bug %q", v.Status, v.KnownBug)
	}
}
