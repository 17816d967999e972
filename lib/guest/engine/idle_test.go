package engine

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseIdle(t *testing.T) {
	stat := "cpu  10 0 5 900 7 0 0 0 0 0\ncpu0 5 0 2 450 3 0 0 0 0 0\ncpu1 5 0 3 450 4 0 0 0 0 0\nintr 1 2\nctxt 99\n"
	got := parseIdle(stat)
	if len(got) != 2 || got[0] != 4.53 || got[1] != 4.54 {
		t.Errorf("%v, want [4.53 4.54] (idle + iowait, USER_HZ)", got)
	}
	if d := idleDelta([]float64{1, 2}, []float64{1.5, 2}); len(d) != 2 || d[0] != 0.5 || d[1] != 0 {
		t.Errorf("delta %v", d)
	}
	if idleDelta([]float64{1}, []float64{1, 2}) != nil || idleDelta(nil, nil) != nil {
		t.Error("mismatched snapshots must give no delta")
	}
}

// FuzzParseIdle: a /proc/stat written from known per-CPU values reads back
// exactly, whatever other lines surround it; arbitrary text never yields a
// negative time or a CPU it does not name.
func FuzzParseIdle(f *testing.F) {
	f.Add(uint16(3), uint32(450), uint32(7), "intr 1 2")
	f.Add(uint16(0), uint32(0), uint32(0), "cpu9 x y z")
	f.Fuzz(func(t *testing.T, n uint16, idle, iowait uint32, noise string) {
		cpus := int(n%64) + 1
		var b strings.Builder
		b.WriteString("cpu  1 2 3 4 5 6 7 8 9 10\n")
		for c := 0; c < cpus; c++ {
			fmt.Fprintf(&b, "cpu%d 1 0 1 %d %d 0 0 0 0 0\n", c, uint64(idle)+uint64(c), iowait)
		}
		for _, l := range strings.Split(noise, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "cpu") {
				b.WriteString(l + "\n")
			}
		}
		got := parseIdle(b.String())
		if len(got) != cpus {
			t.Fatalf("%d CPUs read, %d written", len(got), cpus)
		}
		for c, v := range got {
			if want := float64(uint64(idle)+uint64(c)+uint64(iowait)) / userHZ; v != want {
				t.Fatalf("cpu%d: %v, want %v", c, v, want)
			}
		}
		for _, v := range parseIdle(noise) {
			if v < 0 {
				t.Fatalf("negative idle from %q", noise)
			}
		}
	})
}
