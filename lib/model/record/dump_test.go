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
	if !IsLiveDump(s[0]) || IsLiveDump(s[2]) {
		t.Error("the SysRq dump is a live dump; the exit dump is not")
	}
	if s := DumpSections(liveDump + exitDump + liveDump); len(s) != 3 || !IsLiveDump(s[0]) || IsLiveDump(s[1]) || s[1] != exitDump || !IsLiveDump(s[2]) {
		t.Error("the exit dump is found wherever it is, between live dumps")
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

// FuzzDumpSections: the sections put back together are the dump; each
// after the first starts with a header and no line after a section's
// first is one (so every header starts a section); KeepLatestDumps keeps
// the dump when it fits, else the most latest whole sections that fit, else
// the start of the last one, never more than limit bytes.
func FuzzDumpSections(f *testing.F) {
	f.Add(liveDump+exitDump, uint16(200))
	f.Add("x[1] triggered exit kind 2:\nDebug dump triggered by y\n\n", uint16(5))
	f.Fuzz(func(t *testing.T, dump string, limit uint16) {
		s := DumpSections(dump)
		if strings.Join(s, "") != dump {
			t.Fatalf("sections %q do not make %q", s, dump)
		}
		for i, sec := range s {
			lines := strings.SplitAfter(sec, "\n")
			if i > 0 && !dumpHeader.MatchString(lines[0]) {
				t.Fatalf("section %d starts %q, no header", i, lines[0])
			}
			for _, l := range lines[1:] {
				if dumpHeader.MatchString(l) {
					t.Fatalf("section %d holds a header inside: %q", i, l)
				}
			}
		}
		n := int(limit)
		got := KeepLatestDumps(dump, n)
		if len(dump) <= n {
			if got != dump {
				t.Fatalf("a dump within the limit was cut: %q", got)
			}
			return
		}
		want, size := "", 0
		for i := len(s) - 1; i >= 0 && size+len(s[i]) <= n; i-- {
			want, size = s[i]+want, size+len(s[i])
		}
		if want == "" && len(s) > 0 {
			want = s[len(s)-1][:n]
		}
		if got != want || len(got) > n {
			t.Fatalf("kept %q, want %q (limit %d)", got, want, n)
		}
	})
}
