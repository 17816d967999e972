package knownbug

import (
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

func dumpOf(pid, dsq string) string {
	return "CPU 1   : nr_run=3 flags=0x1 cpu_rel=0 ops_qseq=1 pnt_seq=2\n" +
		"          curr=init[19650] class=ext_sched_class\n\n" +
		"  R init[" + pid + "] -41940ms\n" +
		"      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=0/0\n" +
		"      sticky/holding_cpu=-1/-1 dsq_id=" + dsq + " dsq_vtime=0\n" +
		"      cpus=f\n"
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
		{"central's migration-disabled dispatch", died("scx_central", `sched_ext: BPF scheduler "central" disabled (runtime error): central: SCX_DSQ_LOCAL[_ON] cannot move migration disabled init[12301] from CPU 1 to 2`), CentralMigrationDisabled},
		{"another runtime error of central", died("scx_central", `sched_ext: BPF scheduler "central" disabled (runtime error): central: invalid DSQ ID 0x0000000000000007`), nil},
		{"central's watchdog death", died("scx_central", `BPF scheduler "central" disabled (runnable task stall)`), nil},
		{"a completed run", &record.Run{Outcome: record.OutcomeCompleted, Job: &record.Job{Scheduler: &record.Scheduler{Name: "scx_central"}},
			Scheduler: &record.SchedulerRun{ExitKind: "disabled (runtime error)"}}, nil},
		{"no scheduler", &record.Run{Outcome: record.OutcomeSchedulerDied}, nil},
	} {
		if got := Match(tc.run); got != tc.want {
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
