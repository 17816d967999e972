// Package knownbug recognises a scheduler's death as a documented bug of
// that scheduler, by the traces the run recorded (the kernel's sched_ext
// exit line, its exit dump, the scheduler's own statistics), never by the
// verdict alone. The verdict stays what it is — a real bug found is a
// failure — and carries the bug's name, so CI and the fidelity gate can
// tell a scheduler's known bug from a check's false alarm.
package knownbug

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Bug is a documented bug of one scheduler.
type Bug struct {
	Name      string
	Scheduler string
	// matches reports whether run, in which the scheduler died, shows
	// the bug's trace.
	matches func(sr *record.SchedulerRun) bool
}

// FlatcgStrandedCgroup: flatcg's enqueue puts the cgroup on its tree
// before the kernel inserts the direct-dispatched task into the cgroup's
// queue; a CPU that pops the cgroup in between finds the queue empty (and
// the scx_bpf_dsq_nr_queued recheck runs before the insert too), so the
// cgroup is stashed off the tree with its task queued, until the watchdog.
// Its trace: the stalled task waits in a cgroup's queue (not the fallback
// queue 0 or a built-in one) and flatcg's last statistics show dispatches
// finding no cgroup.
var FlatcgStrandedCgroup = &Bug{
	Name: "scx_flatcg strands a cgroup off its tree until the watchdog", Scheduler: "scx_flatcg",
	matches: flatcgStrandedCgroup,
}

// CentralMigrationDisabled: the kernel disables scx_central (6.12) for
// dispatching a migration-disabled task to another CPU, its runtime-error
// exit: "SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301]
// from CPU 1 to 2" (fidelity sweep at load 9, 2026-12-05).
var CentralMigrationDisabled = &Bug{
	Name: "scx_central dispatches a migration-disabled task to another CPU (6.12)", Scheduler: "scx_central",
	matches: func(sr *record.SchedulerRun) bool {
		return strings.Contains(sr.ExitKind, "disabled (runtime error)") && strings.Contains(sr.ExitKind, "cannot move migration disabled")
	},
}

// Bugs are the scheduler bugs this tool recognises; README, "Scheduler
// bugs it finds in the kernel's examples", says how each was traced.
var Bugs = []*Bug{FlatcgStrandedCgroup, CentralMigrationDisabled}

// Match returns the known bug run shows, or nil: only a run whose
// scheduler died, of the bug's scheduler, with the bug's trace.
func Match(run *record.Run) *Bug {
	if run == nil || run.Outcome != record.OutcomeSchedulerDied || run.Scheduler == nil || run.Job == nil || run.Job.Scheduler == nil {
		return nil
	}
	for _, b := range Bugs {
		if run.Job.Scheduler.Name == b.Scheduler && b.matches(run.Scheduler) {
			return b
		}
	}
	return nil
}

var (
	stalledTask  = regexp.MustCompile(`runnable task stall\b.*?\[(\d+)\] failed to run`)
	flatcgNoCgrp = regexp.MustCompile(`(?m)^PNC\s.*\snocgrp:\s*(\d+)`)
)

func flatcgStrandedCgroup(sr *record.SchedulerRun) bool {
	m := stalledTask.FindStringSubmatch(sr.ExitKind + " " + sr.Reason)
	if m == nil {
		return false
	}
	dsq, ok := dumpedDSQ(sr.Dump, m[1])
	if !ok || dsq == 0 || dsq&(1<<63) != 0 {
		return false
	}
	pnc := flatcgNoCgrp.FindAllStringSubmatch(sr.Log, -1)
	return len(pnc) > 0 && pnc[len(pnc)-1][1] != "0"
}

// dumpedDSQ finds task pid in a sched_ext exit dump and returns the id of
// the dispatch queue it waits in.
func dumpedDSQ(dump, pid string) (uint64, bool) {
	lines := strings.Split(dump, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "["+pid+"] ") {
			continue
		}
		for _, next := range lines[i+1 : min(i+4, len(lines))] {
			if _, rest, ok := strings.Cut(next, "dsq_id=0x"); ok {
				hex, _, _ := strings.Cut(rest, " ")
				id, err := strconv.ParseUint(hex, 16, 64)
				return id, err == nil
			}
		}
	}
	return 0, false
}
