package knownbug

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func died(sched, exitKind string) *record.Run {
	return &record.Run{Outcome: record.OutcomeSchedulerDied, Job: &record.Job{Scheduler: &record.Scheduler{Name: sched}},
		Scheduler: &record.SchedulerRun{Died: true, ExitKind: exitKind}}
}

// stranded is a scheduler disabled by the watchdog for init[19657], which
// the exit dump shows waiting in queue dsq ("" = no dump), its last
// statistics interval counting noCgrp dispatches that found no cgroup.
func stranded(sched, dsq, noCgrp string) *record.Run {
	r := died(sched, `sched_ext: BPF scheduler "flatcg" disabled (runnable task stall): flatcg: init[19657] failed to run for 41.940s`)
	r.Scheduler.Log = "PNC   next:     3  empty:     4 nocgrp:   417  gone:     0 race:     0 fail:     0\n" +
		"PNC   next:     0  empty:     0 nocgrp:   " + noCgrp + "  gone:     0 race:     0 fail:     0\n"
	if dsq != "" {
		r.Scheduler.Dump = dumpOf("19657", dsq)
	}
	return r
}

// checkInStranded is flatcg disabled because its watchdog did not check
// in for 30.004 s, the dump showing the watchdog's kworker runnable for
// waitMs in queue dsq, next to a task that is running.
func checkInStranded(waitMs int, dsq, noCgrp string) *record.Run {
	r := stranded("scx_flatcg", "", noCgrp)
	r.Scheduler.ExitKind = `sched_ext: BPF scheduler "flatcg" disabled (runnable task stall): flatcg: watchdog failed to check in for 30.004s`
	r.Scheduler.Dump = "CPU 2   : nr_run=2 flags=0x1 cpu_rel=0 ops_qseq=9 pnt_seq=4\n" +
		"          curr=kt:CpuSpin[88] class=ext_sched_class\n\n" +
		" *R kt:CpuSpin[88] +0ms\n" +
		"      scx_state/flags=3/0xd dsq_flags=0x0 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=(n/a) dsq_vtime=0\n" +
		"      cpus=f\n\n" +
		"  R kworker/u8:1[45] -" + strconv.Itoa(waitMs) + "ms\n" +
		"      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=" + dsq + " dsq_vtime=0\n" +
		"      cpus=f\n"
	return r
}

func dumpOf(pid, dsq string) string {
	return "CPU 1   : nr_run=3 flags=0x1 cpu_rel=0 ops_qseq=1 pnt_seq=2\n" +
		"          curr=init[19650] class=ext_sched_class\n\n" +
		"  R init[" + pid + "] -41940ms\n" +
		"      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=" + dsq + " dsq_vtime=0\n" +
		"      cpus=f\n"
}

// living is flatcg alive with a strand the agent dumped: cpu0 runs a
// worker and init[301] waits in queue dsq for waitMs; noCgrp is the last
// statistics interval's count of dispatches that found no cgroup (an
// earlier one counted 0).
func living(waitMs int, dsq, noCgrp string) *record.Run {
	return &record.Run{Outcome: record.OutcomeCompleted,
		Job:      &record.Job{Scheduler: &record.Scheduler{Name: "scx_flatcg"}, Topology: &record.Topology{CPUs: 2}},
		Scenario: &record.ScenarioResult{Strands: []record.Strand{{AtS: 4, ForS: 2, IdleCPUs: 0.95, Waiting: 1, Dump: true}}},
		Scheduler: &record.SchedulerRun{
			Log: "PNC   next:     3  empty:     4 nocgrp:     0  gone:     0 race:     0 fail:     0\n" +
				"PNC   next:     3  empty:     4 nocgrp:   " + noCgrp + "  gone:     0 race:     0 fail:     0\n",
			Dump: liveDump(waitMs, dsq)}}
}

func liveDump(waitMs int, dsq string) string {
	return "Debug dump triggered by SysRq-D\n\nCPU states\n----------\n" +
		"CPU 0   : nr_run=2 flags=0x1 cpu_rel=0 ops_qseq=9 pnt_seq=4\n" +
		"          curr=kt:CpuSpin[88] class=ext_sched_class\n\n" +
		" *R kt:CpuSpin[88] +0ms\n" +
		"      scx_state/flags=3/0x5 dsq_flags=0x0 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=(n/a)\n" +
		"  R init[301] -" + strconv.Itoa(waitMs) + "ms\n" +
		"      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=" + dsq + " dsq_vtime=0\n"
}

// strandChecks are the failed checks of a strand: the monitor's work
// conservation and the starved cgroup's workers.
var strandChecks = []record.Check{
	{Name: "outcome", Status: record.StatusPass},
	{Name: "monitor_work_conservation", Status: record.StatusFail, Detail: "cpu1 halted with 1 tasks queued (stranded: nothing ran them)",
		Spans: []record.Span{{FromS: 2.2, ToS: 5.1}}},
	{Name: "starvation[cg_1]", Status: record.StatusFail},
	{Name: "cgroup_fairness[cg_0,cg_1]", Status: record.StatusFail},
	{Name: "spread[cg_0]", Status: record.StatusSkip},
}

// monitorAt is strandChecks with the monitor's violations at the spans
// given as from, to pairs (seconds into the scenario).
func monitorAt(fromTo ...float64) []record.Check {
	checks := slices.Clone(strandChecks)
	checks[1].Spans = nil
	for i := 0; i+1 < len(fromTo); i += 2 {
		checks[1].Spans = append(checks[1].Spans, record.Span{FromS: fromTo[i], ToS: fromTo[i+1]})
	}
	return checks
}

// with is strandChecks and one more.
func with(c record.Check) []record.Check { return append(slices.Clone(strandChecks), c) }

// TestMatchLiving: flatcg's strand while it lives, from a dump the agent
// asked for during it and the verdict's checks.
func TestMatchLiving(t *testing.T) {
	noStrand := living(5000, "0x1a3", "2")
	noStrand.Scenario.Strands = nil
	notDumped := living(5000, "0x1a3", "2")
	notDumped.Scenario.Strands[0].Dump = false
	inExitDump := living(5000, "0x1a3", "2")
	inExitDump.Scheduler.Dump = strings.Replace(inExitDump.Scheduler.Dump, "Debug dump triggered by SysRq-D", "kworker/1:1[45] triggered exit kind 1026:", 1)
	other := living(5000, "0x1a3", "2")
	other.Job.Scheduler.Name = "scx_simple"
	timedOut := living(5000, "0x1a3", "2")
	timedOut.Outcome = record.OutcomeTimeout
	died := living(5000, "0x1a3", "2")
	died.Scheduler.Died = true
	for _, tc := range []struct {
		name   string
		run    *record.Run
		checks []record.Check
		want   *Bug
	}{
		{"a task stranded in a cgroup's queue", living(5000, "0x1a3", "2"), strandChecks, FlatcgStrandedCgroup},
		{"at the limit", living(livingWaitMs, "0x1a3", "2"), strandChecks, FlatcgStrandedCgroup},
		{"a millisecond short", living(livingWaitMs-1, "0x1a3", "2"), strandChecks, nil},
		{"in the fallback queue", living(5000, "0x0", "2"), strandChecks, nil},
		{"in a built-in queue", living(5000, "0x8000000000000002", "2"), strandChecks, nil},
		{"in no queue", living(5000, "(n/a)", "2"), strandChecks, nil},
		{"no dispatch found the tree empty", living(5000, "0x1a3", "0"), strandChecks, nil},
		{"no strand seen by the guest", noStrand, strandChecks, nil},
		{"a strand without its dump", notDumped, strandChecks, nil},
		{"only an exit dump", inExitDump, strandChecks, nil},
		{"another scheduler", other, strandChecks, nil},
		{"a run that timed out", timedOut, strandChecks, nil},
		{"a scheduler that died", died, strandChecks, nil},
		// The monitor must have seen CPUs halted while tasks waited, at
		// the time of the dumped strand (2–4 s into the scenario).
		{"the monitor passed", living(5000, "0x1a3", "2"), strandChecks[2:], nil},
		{"the monitor's violation ends just within the margin before", living(5000, "0x1a3", "2"), monitorAt(0.5, 1.0), FlatcgStrandedCgroup},
		{"the monitor's violation ends before the strand", living(5000, "0x1a3", "2"), monitorAt(0.5, 0.9), nil},
		{"the monitor's violation starts just within the margin after", living(5000, "0x1a3", "2"), monitorAt(5.0, 6.0), FlatcgStrandedCgroup},
		{"the monitor's violation starts after the strand", living(5000, "0x1a3", "2"), monitorAt(5.1, 6.0), nil},
		{"a second violation at the strand's time", living(5000, "0x1a3", "2"), monitorAt(0.2, 0.8, 3.0, 3.5), FlatcgStrandedCgroup},
		{"a violation without its time", living(5000, "0x1a3", "2"), monitorAt(), nil},
		// Any failure a strand does not explain is not excused.
		{"a failed command besides", living(5000, "0x1a3", "2"), with(record.Check{Name: "exec.exit_code", Status: record.StatusFail}), nil},
		{"a failed imbalance check besides", living(5000, "0x1a3", "2"), with(record.Check{Name: "monitor_imbalance", Status: record.StatusFail}), nil},
		{"an inconclusive gap besides", living(5000, "0x1a3", "2"), with(record.Check{Name: "gap[cg_0]", Status: record.StatusInconclusive}), nil},
		{"a failed gap besides", living(5000, "0x1a3", "2"), with(record.Check{Name: "gap[cg_1]", Status: record.StatusFail}), FlatcgStrandedCgroup},
	} {
		if got := Match(tc.run, tc.checks); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	// A death is judged by its exit dump: the stalled task queued in a
	// cgroup's queue in an earlier live dump but in a built-in queue at
	// the death is not the bug.
	r := stranded("scx_flatcg", "0x8000000000000002", "1")
	r.Scheduler.Dump = "Debug dump triggered by SysRq-D\n" + dumpOf("19657", "0x1a3") +
		"kworker/1:1[45] triggered exit kind 1026:\n" + r.Scheduler.Dump
	if got := Match(r, nil); got != nil {
		t.Errorf("a death matched by a live dump's queue: %v", got)
	}
	r.Scheduler.Dump = "Debug dump triggered by SysRq-D\n" + dumpOf("19657", "0x8000000000000002") +
		"kworker/1:1[45] triggered exit kind 1026:\n" + dumpOf("19657", "0x1a3")
	if got := Match(r, nil); got != FlatcgStrandedCgroup {
		t.Errorf("a death whose exit dump shows the strand: %v", got)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  *record.Run
		want *Bug
	}{
		{"flatcg's stranded cgroup", stranded("scx_flatcg", "0x1a3", "1"), FlatcgStrandedCgroup},
		{"the task in flatcg's fallback queue", stranded("scx_flatcg", "0x0", "1"), nil},
		{"the task in a built-in queue", stranded("scx_flatcg", "0x8000000000000002", "1"), nil},
		{"its cgroup tree not empty at the end", stranded("scx_flatcg", "0x1a3", "0"), nil},
		{"no exit dump", stranded("scx_flatcg", "", "1"), nil},
		{"the same trace under another scheduler", stranded("scx_simple", "0x1a3", "1"), nil},
		// The watchdog's own kworker stranded: it was due at 15 s of the
		// 30.004 s, and 40 % of that is 12.0016 s.
		{"flatcg's stranded watchdog", checkInStranded(15012, "0x1", "3"), FlatcgStrandedCgroup},
		{"a queued task at 40 % of the check-in time", checkInStranded(12002, "0x1", "3"), FlatcgStrandedCgroup},
		{"no queued task that long", checkInStranded(12001, "0x1", "3"), nil},
		{"the long wait in a built-in queue", checkInStranded(15012, "0x8000000000000002", "3"), nil},
		{"the long wait in the fallback queue", checkInStranded(15012, "0x0", "3"), nil},
		{"the long wait in no queue", checkInStranded(15012, "(n/a)", "3"), nil},
		{"the check-in failure with flatcg's tree not empty", checkInStranded(15012, "0x1", "0"), nil},
		{"central's migration-disabled dispatch", died("scx_central", `sched_ext: BPF scheduler "central" disabled (runtime error): central: SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301] from CPU 1 to 2`), CentralMigrationDisabled},
		{"another runtime error of central", died("scx_central", `sched_ext: BPF scheduler "central" disabled (runtime error): central: invalid DSQ ID 0x0000000000000007`), nil},
		{"central's watchdog death", died("scx_central", `BPF scheduler "central" disabled (runnable task stall)`), nil},
		{"a completed run", &record.Run{Outcome: record.OutcomeCompleted, Job: &record.Job{Scheduler: &record.Scheduler{Name: "scx_central"}},
			Scheduler: &record.SchedulerRun{ExitKind: "disabled (runtime error)"}}, nil},
		{"no scheduler", &record.Run{Outcome: record.OutcomeSchedulerDied}, nil},
	} {
		if got := Match(tc.run, nil); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzDumpedDSQ: a task's queue written into a dump reads back; and
// whatever the dump, a queue found is one the dump names, in hex, after
// the task's line.
func FuzzDumpedDSQ(f *testing.F) {
	f.Add(dumpOf("19657", "0x1a3"), "19657", uint64(0x1a3))
	f.Add(dumpOf("1", "0x8000000000000002"), "1", uint64(1)<<63|2)
	f.Add("  R init[7] \n dsq_id=0x", "7", uint64(0))
	f.Add("", "", uint64(0))
	f.Fuzz(func(t *testing.T, dump, pid string, queue uint64) {
		if digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, pid); digits != "" {
			if got, ok := dumpedDSQ(dumpOf(digits, "0x"+strconv.FormatUint(queue, 16)), digits); !ok || got != queue {
				t.Fatalf("task [%s] written in queue %#x reads back as %#x, %v", digits, queue, got, ok)
			}
		}
		id, ok := dumpedDSQ(dump, pid)
		if !ok {
			return
		}
		task := strings.Index(dump, "["+pid+"] ")
		if task < 0 {
			t.Fatalf("queue %#x found for [%s], which the dump does not name", id, pid)
		}
		for rest := dump[task:]; ; {
			_, after, found := strings.Cut(rest, "dsq_id=0x")
			if !found {
				t.Fatalf("queue %#x found for [%s], but no dsq_id after it reads so", id, pid)
			}
			line, _, _ := strings.Cut(after, "\n")
			hex, _, _ := strings.Cut(line, " ")
			if n, err := strconv.ParseUint(hex, 16, 64); err == nil && n == id {
				return
			}
			rest = after
		}
	})
}

// FuzzDumpedTasks: a task written into a dump reads back with its wait
// and queue; and whatever the dump, every task read is named by its line
// with the wait read, and waits are never negative.
func FuzzDumpedTasks(f *testing.F) {
	f.Add(checkInStranded(15012, "0x1", "1").Scheduler.Dump, "45", int64(15012), uint64(1))
	f.Add(dumpOf("19657", "0x1a3"), "7", int64(0), uint64(1)<<63)
	f.Add("  R x[1] -5ms\n dsq_id=0xzz", "1", int64(-3), uint64(0))
	f.Fuzz(func(t *testing.T, dump, pid string, wait int64, queue uint64) {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, pid)
		if digits != "" && wait > -1<<62 && wait < 1<<62 {
			at := strconv.FormatInt(-wait, 10)
			if wait <= 0 {
				at = "+" + at
			}
			written := "  R w " + digits + "[" + digits + "] " + at + "ms\n      sticky/holding_cpu=-1/-1 dsq_id=0x" + strconv.FormatUint(queue, 16) + " dsq_vtime=0\n"
			got := dumpedTasks(written)
			if len(got) != 1 || got[0].pid != digits || got[0].waitMs != max(wait, 0) || !got[0].queued || got[0].dsq != queue {
				t.Fatalf("task [%s] waiting %d ms in %#x reads back as %+v", digits, wait, queue, got)
			}
		}
		for _, task := range dumpedTasks(dump) {
			if task.waitMs < 0 {
				t.Fatalf("negative wait %+v", task)
			}
			if task.waitMs > 0 && !dumpSaysWait(dump, task.pid, task.waitMs) {
				t.Fatalf("task %+v: the dump has no line [%s] -%dms", task, task.pid, task.waitMs)
			}
			if task.queued && !strings.Contains(dump, "dsq_id=0x") {
				t.Fatalf("task %+v queued, but the dump names no queue", task)
			}
		}
	})
}

// dumpSaysWait: some line of dump names task [pid] runnable for waitMs
// ("[pid] -Nms", N read as a number: "-01ms" is 1 ms).
func dumpSaysWait(dump, pid string, waitMs int64) bool {
	for rest := dump; ; {
		_, after, ok := strings.Cut(rest, "["+pid+"] -")
		if !ok {
			return false
		}
		rest = after
		n, _, ok := strings.Cut(after, "ms")
		if v, err := strconv.ParseInt(n, 10, 64); ok && err == nil && v == waitMs {
			return true
		}
	}
}
