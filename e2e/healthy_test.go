package e2e

import (
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestJudgeHealthy: a healthy scheduler's run must pass; only a known race,
// matched by scheduler and failure, is a finding instead of a failure. It
// runs without VMs (make unit).
func TestJudgeHealthy(t *testing.T) {
	run := func(sched string, outcome record.Outcome, exitKind string) *record.Run {
		return &record.Run{Outcome: outcome, Job: &record.Job{Scheduler: &record.Scheduler{Name: sched}},
			Scheduler: &record.SchedulerRun{ExitKind: exitKind}}
	}
	// stranded is scx_flatcg disabled by the watchdog for worker 19657,
	// which the exit dump shows waiting in queue dsq ("" = no dump), with
	// flatcg's last statistics interval counting noCgrp dispatches that
	// found its cgroup tree empty.
	stranded := func(dsq, noCgrp string) *record.Run {
		r := run("scx_flatcg", record.OutcomeSchedulerDied,
			`sched_ext: BPF scheduler "flatcg" disabled (runnable task stall): flatcg: init[19657] failed to run for 41.940s`)
		r.Scheduler.Log = "PNC   next:     3  empty:     4 nocgrp:   417  gone:     0 race:     0 fail:     0\n" +
			"PNC   next:     0  empty:     0 nocgrp:   " + noCgrp + "  gone:     0 race:     0 fail:     0\n"
		if dsq != "" {
			r.Scheduler.Dump = "CPU 1   : nr_run=3 flags=0x1 cpu_rel=0 ops_qseq=1 pnt_seq=2\n" +
				"          curr=init[19650] class=ext_sched_class\n\n" +
				"  R init[19657] -41940ms\n" +
				"      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0\n" +
				"      sticky/holding_cpu=-1/-1 dsq_id=" + dsq + " dsq_vtime=0\n" +
				"      cpus=f\n"
		}
		return r
	}
	verdict := func(status record.Status, checks ...record.Check) *record.Verdict {
		return &record.Verdict{Subject: "s", Status: status, Checks: checks}
	}
	fail := func(name string) record.Check { return record.Check{Name: name, Status: record.StatusFail} }
	incon := func(name string) record.Check { return record.Check{Name: name, Status: record.StatusInconclusive} }
	for _, tc := range []struct {
		name     string
		v        *record.Verdict
		r        *record.Run
		race     bool
		problems int
	}{
		{"pass", verdict(record.StatusPass), run("scx_simple", record.OutcomeCompleted, ""), false, 0},
		{"EEVDF's unequal cgroups, cgroup_fairness alone, is its named race", verdict(record.StatusFail, fail("cgroup_fairness[cg_1,cg_2]")),
			&record.Run{Outcome: record.OutcomeCompleted, Job: &record.Job{}}, true, 0},
		{"EEVDF's unequal cgroups beside another failure are no race", verdict(record.StatusFail, fail("cgroup_fairness[cg_1,cg_2]"), fail("starvation[cg_1]")),
			&record.Run{Outcome: record.OutcomeCompleted, Job: &record.Job{}}, false, 1},
		{"a sched_ext scheduler's unequal cgroups are no EEVDF race", verdict(record.StatusFail, fail("cgroup_fairness[cg_1,cg_2]")),
			run("scx_simple", record.OutcomeCompleted, ""), false, 1},
		{"a watchdog death of a healthy scheduler fails", verdict(record.StatusFail, fail("outcome")),
			run("scx_simple", record.OutcomeSchedulerDied, `BPF scheduler "simple" disabled (runnable task stall)`), false, 1},
		{"scx_central's watchdog death is no known race", verdict(record.StatusFail, fail("outcome")),
			run("scx_central", record.OutcomeSchedulerDied, `BPF scheduler "central" disabled (runnable task stall)`), false, 1},
		{"scx_central's runtime error is its known race", verdict(record.StatusFail, fail("outcome")),
			run("scx_central", record.OutcomeSchedulerDied, `BPF scheduler "central" disabled (runtime error): central: SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301] from CPU 1 to 2`), true, 0},
		{"its race does not excuse a failed check beside it", verdict(record.StatusFail, fail("outcome"), fail("gap[cg_0]")),
			run("scx_central", record.OutcomeSchedulerDied, `BPF scheduler "central" disabled (runtime error): central: SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301] from CPU 1 to 2`), true, 1},
		{"scx_flatcg's lost cgroup is its known race", verdict(record.StatusFail, fail("cgroup_fairness[cg_0,cg_1]"), fail("starvation[cg_1]")),
			run("scx_flatcg", record.OutcomeCompleted, ""), true, 0},
		{"an inconclusive check is never a race", verdict(record.StatusFail, fail("cgroup_fairness[cg_0,cg_1]"), incon("spread[cg_1]")),
			run("scx_flatcg", record.OutcomeCompleted, ""), false, 1},
		{"inconclusive alone is not a pass", verdict(record.StatusInconclusive, incon("spread[cg_1]")),
			run("scx_flatcg", record.OutcomeCompleted, ""), false, 1},
		{"the same failure of another scheduler is not flatcg's race", verdict(record.StatusFail, fail("cgroup_fairness[cg_0,cg_1]")),
			run("scx_qmap", record.OutcomeCompleted, ""), false, 1},
		{"a CPU stranded under flatcg is its lost cgroup", verdict(record.StatusFail, record.Check{Name: "monitor_work_conservation", Status: record.StatusFail,
			Detail: "cpu2 halted with 1 tasks queued (stranded: nothing ran them) for 277 samples"}),
			run("scx_flatcg", record.OutcomeCompleted, ""), true, 0},
		{"a CPU stranded under another scheduler is no race", verdict(record.StatusFail, record.Check{Name: "monitor_work_conservation", Status: record.StatusFail,
			Detail: "cpu2 halted with 1 tasks queued (stranded: nothing ran them) for 277 samples"}),
			run("scx_simple", record.OutcomeCompleted, ""), false, 1},
		{"a monitor check is never a behaviour race", verdict(record.StatusFail, fail("monitor_work_conservation")),
			run("scx_flatcg", record.OutcomeCompleted, ""), false, 1},
		{"scx_flatcg's stranded cgroup is its known race", verdict(record.StatusFail, fail("outcome")),
			stranded("0x1a3", "1"), true, 0},
		{"a task stalled in flatcg's fallback queue is not that race", verdict(record.StatusFail, fail("outcome")),
			stranded("0x0", "1"), false, 1},
		{"a task stalled in a built-in queue is not that race", verdict(record.StatusFail, fail("outcome")),
			stranded("0x8000000000000002", "1"), false, 1},
		{"its cgroup tree not empty at the end, not that race", verdict(record.StatusFail, fail("outcome")),
			stranded("0x1a3", "0"), false, 1},
		{"no exit dump, not that race", verdict(record.StatusFail, fail("outcome")),
			stranded("", "1"), false, 1},
	} {
		race, problems := judgeHealthy(tc.v, tc.r)
		if (race != nil) != tc.race || len(problems) != tc.problems {
			t.Errorf("%s: race %v, problems %q; want race %v, %d problems", tc.name, race != nil, problems, tc.race, tc.problems)
		}
	}
}
