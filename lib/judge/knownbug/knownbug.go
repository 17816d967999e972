// Package knownbug recognises a failed run as a documented bug of its
// scheduler, by the traces the run recorded (the kernel's sched_ext exit
// line, its exit dump, the dumps the agent asked for while a CPU stayed
// idle next to waiting tasks, the scheduler's own statistics), never by
// the verdict alone. The verdict stays what it is — a real bug found is a
// failure — and carries the bug's name, so CI and the fidelity gate can
// tell a scheduler's known bug from a check's false alarm.
package knownbug

import (
	"regexp"
	"slices"
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
	// matchesLiving, when set, reports whether run, which completed
	// with its scheduler alive and failed checks, shows the bug's trace.
	matchesLiving func(run *record.Run, checks []record.Check) bool
}

// FlatcgStrandedCgroup: flatcg's enqueue puts the cgroup on its tree
// before the kernel inserts the direct-dispatched task into the cgroup's
// queue; a CPU that pops the cgroup in between finds the queue empty (and
// the scx_bpf_dsq_nr_queued recheck runs before the insert too), so the
// cgroup is stashed off the tree with its task queued, until another task
// of it is enqueued or the watchdog fires. Its trace at a death: the
// stalled task waits in a cgroup's queue (not the fallback queue 0 or a
// built-in one) and flatcg's last statistics show dispatches finding no
// cgroup. Alive, the CPUs idle meanwhile fail work conservation, and a
// dump the agent asked for during the strand shows a task waiting in a
// cgroup's queue (flatcgStrandedLiving).
var FlatcgStrandedCgroup = &Bug{
	Name: "scx_flatcg strands a cgroup off its tree", Scheduler: "scx_flatcg",
	matches: flatcgStrandedCgroup, matchesLiving: flatcgStrandedLiving,
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

// Match returns the known bug a failed run shows, or nil: only a run of
// the bug's scheduler with the bug's trace, judged by the trace of a death
// when its scheduler died, and by the bug's living trace and the verdict's
// checks when the run completed with the scheduler alive. The caller
// passes only failed runs: a passing run shows no bug.
func Match(run *record.Run, checks []record.Check) *Bug {
	if run == nil || run.Scheduler == nil || run.Job == nil || run.Job.Scheduler == nil {
		return nil
	}
	died := run.Outcome == record.OutcomeSchedulerDied
	living := run.Outcome == record.OutcomeCompleted && !run.Scheduler.Died
	for _, b := range Bugs {
		if run.Job.Scheduler.Name != b.Scheduler {
			continue
		}
		if died && b.matches(run.Scheduler) || living && b.matchesLiving != nil && b.matchesLiving(run, checks) {
			return b
		}
	}
	return nil
}

var (
	stalledTask  = regexp.MustCompile(`runnable task stall\b.*?\[(\d+)\] failed to run`)
	checkInStall = regexp.MustCompile(`watchdog failed to check in for (\d+)\.(\d{3})s`)
	flatcgNoCgrp = regexp.MustCompile(`(?m)^PNC\s.*\snocgrp:\s*(\d+)`)
)

// flatcgStrandedCgroup: a task waits in a cgroup's queue past the
// watchdog while flatcg's cgroup tree is empty. The watchdog says so in
// one of two ways. It names the task ("init[55] failed to run for
// 14.996s"), or, when the stranded task is the watchdog's own work (it
// runs on an unbound kworker, which flatcg queues in the root cgroup's
// queue like any task of that cgroup), the tick finds the watchdog has
// not checked in ("watchdog failed to check in for 30.004s", CI
// 2026-12-05). The work was due halfway through that time (it is queued
// every timeout/2), so some task of the dump has waited in a cgroup's
// queue for at least 40 % of it (timer slack and the tick taken off).
func flatcgStrandedCgroup(sr *record.SchedulerRun) bool {
	pnc := flatcgNoCgrp.FindAllStringSubmatch(sr.Log, -1)
	if len(pnc) == 0 || pnc[len(pnc)-1][1] == "0" {
		return false
	}
	dump := deathDump(sr.Dump)
	why := sr.ExitKind + " " + sr.Reason
	if m := stalledTask.FindStringSubmatch(why); m != nil {
		dsq, ok := dumpedDSQ(dump, m[1])
		return ok && inCgroupQueue(dsq)
	}
	m := checkInStall.FindStringSubmatch(why)
	if m == nil {
		return false
	}
	s, _ := strconv.Atoi(m[1])
	ms, _ := strconv.Atoi(m[2])
	for _, t := range dumpedTasks(dump) {
		if t.queued && inCgroupQueue(t.dsq) && t.waitMs*10 >= int64(s*1000+ms)*4 {
			return true
		}
	}
	return false
}

// livingWaitMs is how long a task must have waited in a cgroup's queue
// during a strand to be stranded: the agent asks for a dump after 2 s of
// strand (lib/guest/engine), less a margin for the dump's jiffies and a
// task that started to wait after the strand began; a cgroup on the tree
// is picked by the next CPU that goes idle, within a slice (20 ms).
const livingWaitMs = 1500

// strandExplains says whether a failed check is one a stranded cgroup
// explains: the monitor's work conservation (CPUs halted while tasks
// waited) and the behaviour of the workers left waiting.
func strandExplains(c record.Check) bool {
	name, _, _ := strings.Cut(c.Name, "[")
	switch name {
	case "monitor_work_conservation", "starvation", "gap", "spread", "fair_share", "cgroup_fairness", "work_conservation", "stall":
		return true
	}
	return false
}

// flatcgStrandedLiving: the host's monitor saw CPUs halted while tasks
// waited (monitor_work_conservation failed) at the time of a strand the
// guest saw and took a dump of (within strandMarginS), every other check
// that did not pass failed the way the tasks left waiting do, a dump asked
// for while flatcg ran shows a task waiting in a cgroup's queue for
// livingWaitMs or longer, and some statistics interval counted dispatches
// that found the tree empty (which idle CPUs also count when nothing
// waits: corroboration, not proof). An idle CPU need not show in the dump:
// the agent's own thread runs on the CPU that writes it.
func flatcgStrandedLiving(run *record.Run, checks []record.Check) bool {
	var monitor []record.Span
	for _, c := range checks {
		if c.Status == record.StatusPass || c.Status == record.StatusSkip {
			continue
		}
		if c.Status != record.StatusFail || !strandExplains(c) {
			return false
		}
		if c.Name == "monitor_work_conservation" {
			monitor = append(monitor, c.Spans...)
		}
	}
	if run.Scenario == nil || !slices.ContainsFunc(run.Scenario.Strands, func(s record.Strand) bool {
		at := record.Span{FromS: s.AtS - s.ForS, ToS: s.AtS}
		return s.Dump && slices.ContainsFunc(monitor, func(v record.Span) bool { return at.Overlaps(v, strandMarginS) })
	}) || !anyNoCgrp(run.Scheduler.Log) {
		return false
	}
	for _, d := range liveDumps(run.Scheduler.Dump) {
		for _, t := range dumpedTasks(d) {
			if t.queued && inCgroupQueue(t.dsq) && t.waitMs >= livingWaitMs {
				return true
			}
		}
	}
	return false
}

// strandMarginS is how far apart a strand the guest saw and a violation
// the host's monitor saw may be and still be one event: the agent's clock
// is aligned to the host's to within a sample or two, and the monitor
// marks a violation from its first sample, the guest a strand from the
// reading before (both sample every second or faster).
const strandMarginS = 1.0

func anyNoCgrp(log string) bool {
	for _, m := range flatcgNoCgrp.FindAllStringSubmatch(log, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// liveDumps are the dumps asked for while the scheduler ran.
func liveDumps(dump string) []string {
	var out []string
	for _, s := range record.DumpSections(dump) {
		if record.IsLiveDump(s) {
			out = append(out, s)
		}
	}
	return out
}

// deathDump is the dump without the dumps asked for while the scheduler
// ran: a task's queue at its death is read from the exit dump, not from
// an earlier moment.
func deathDump(dump string) string {
	var out strings.Builder
	for _, s := range record.DumpSections(dump) {
		if !record.IsLiveDump(s) {
			out.WriteString(s)
		}
	}
	return out.String()
}

// inCgroupQueue: flatcg's cgroup queues are named by cgroup id, so not
// its fallback queue 0 nor a built-in queue (bit 63).
func inCgroupQueue(dsq uint64) bool { return dsq != 0 && dsq&(1<<63) == 0 }

// dumpedTask is one task of a sched_ext exit dump, which lists each
// CPU's runnable tasks:
//
//	R kworker/u8:1[45] -15012ms
//	    scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0
//	    sticky/holding_cpu=-1/-1 dsq_id=0x1 dsq_vtime=0
type dumpedTask struct {
	pid string
	// waitMs is how long it had been runnable, from the kernel's
	// runnable_at less the dump's time (negative when waiting).
	waitMs int64
	// dsq is the queue it waits in, when queued (not "(n/a)").
	dsq    uint64
	queued bool
}

var dumpedTaskLine = regexp.MustCompile(`\[(\d+)\] ([+-]\d+)ms\s*$`)

// dumpedTasks reads every task of a sched_ext exit dump.
func dumpedTasks(dump string) []dumpedTask {
	var tasks []dumpedTask
	lines := strings.Split(dump, "\n")
	for i, l := range lines {
		m := dumpedTaskLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		t := dumpedTask{pid: m[1]}
		if at, err := strconv.ParseInt(m[2], 10, 64); err == nil && at < 0 {
			t.waitMs = -at
		}
		t.dsq, t.queued = queueAfter(lines[i+1 : min(i+4, len(lines))])
		tasks = append(tasks, t)
	}
	return tasks
}

// dumpedDSQ finds task pid in a sched_ext exit dump and returns the id of
// the dispatch queue it waits in.
func dumpedDSQ(dump, pid string) (uint64, bool) {
	lines := strings.Split(dump, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "["+pid+"] ") {
			continue
		}
		if id, ok := queueAfter(lines[i+1 : min(i+4, len(lines))]); ok {
			return id, true
		}
	}
	return 0, false
}

// queueAfter reads the dsq_id of the first of a task's detail lines that
// has one.
func queueAfter(detail []string) (uint64, bool) {
	for _, next := range detail {
		if _, rest, ok := strings.Cut(next, "dsq_id=0x"); ok {
			hex, _, _ := strings.Cut(rest, " ")
			id, err := strconv.ParseUint(hex, 16, 64)
			return id, err == nil
		}
	}
	return 0, false
}
