package record

import (
	"strings"
	"testing"
)

const (
	liveDump = "Debug dump triggered by SysRq-D\n\nCPU states\n----------\nCPU 0   : nr_run=2 flags=0x1 cpu_rel=0 pnt_seq=4\n"
	exitDump = "kworker/u8:1[45] triggered exit kind 1026:\n  runnable task stall (flatcg: init[55] failed to run for 14.996s)\n\nBacktrace:\n  scx_watchdog_workfn+0x15a/0x1d0\n"
)

func TestDumpSections(t *testing.T) {
	s := DumpSections(liveDump + liveDump + exitDump)
	if len(s) != 3 || s[0] != liveDump || s[1] != liveDump || s[2] != exitDump {
		t.Fatalf("%q", s)
	}
	if IsExitDump(s[0]) || !IsExitDump(s[2]) {
		t.Error("the SysRq dump is not an exit dump; the last one is")
	}
	if ExitDump(liveDump+exitDump+liveDump) != exitDump || ExitDump(liveDump) != "" {
		t.Error("ExitDump finds the exit dump wherever it is, and none in a live dump")
	}
	// A task line naming a pid is not a header.
	if s := DumpSections(exitDump + " R init[55] -14996ms\n"); len(s) != 1 {
		t.Errorf("a task line split the dump: %q", s)
	}
	if s := DumpSections("no header\n" + exitDump); len(s) != 2 || s[0] != "no header\n" {
		t.Errorf("text before the first header: %q", s)
	}
}

func TestKeepLatestDumps(t *testing.T) {
	all := liveDump + liveDump + exitDump
	if KeepLatestDumps(all, len(all)) != all {
		t.Error("a dump within the limit is kept whole")
	}
	// One byte short: the first live dump goes, the latest two stay.
	if got := KeepLatestDumps(all, len(all)-1); got != liveDump+exitDump {
		t.Errorf("one byte over: %q", got)
	}
	if got := KeepLatestDumps(all, len(exitDump)); got != exitDump {
		t.Errorf("room for the exit dump only: %q", got)
	}
	if got := KeepLatestDumps(all, 10); got != exitDump[:10] {
		t.Errorf("the exit dump alone is too long: %q", got)
	}
}

// FuzzDumpSections: the sections put back together are the dump (empty
// lines aside, there are none here), each after the first starts with a
// header, and KeepLatestDumps returns at most limit bytes that end the
// dump.
func FuzzDumpSections(f *testing.F) {
	f.Add(liveDump+exitDump, uint16(200))
	f.Add("x[1] triggered exit kind 2:\nDebug dump triggered by y\n", uint16(5))
	f.Fuzz(func(t *testing.T, dump string, limit uint16) {
		dump = strings.ReplaceAll(dump, "\n\n", "\n")
		s := DumpSections(dump)
		if strings.Join(s, "") != strings.TrimPrefix(dump, "\n") && strings.Join(s, "") != dump {
			t.Fatalf("sections %q do not make %q", s, dump)
		}
		for i, sec := range s {
			first, _, _ := strings.Cut(sec, "\n")
			if i > 0 && !dumpHeader.MatchString(first) {
				t.Fatalf("section %d starts %q, no header", i, first)
			}
		}
		got := KeepLatestDumps(dump, int(limit))
		if len(got) > int(limit) && len(dump) > int(limit) {
			t.Fatalf("%d bytes kept, limit %d", len(got), limit)
		}
		if len(dump) > int(limit) && len(s) > 0 && !strings.HasSuffix(dump, got) && !strings.HasPrefix(s[len(s)-1], got) {
			t.Fatalf("%q is neither the dump's end nor the start of its last dump", got)
		}
	})
}
