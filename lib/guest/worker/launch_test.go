package worker

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// statLine is a /proc/PID/stat line with comm and processor (field 39) set
// and every other field a small number.
func statLine(comm string, cpu int) string {
	f := []string{"1234", "(" + comm + ")", "R"}
	for n := 4; n <= 52; n++ {
		v := strconv.Itoa(n * 7)
		if n == 39 {
			v = strconv.Itoa(cpu)
		}
		f = append(f, v)
	}
	return strings.Join(f, " ") + "\n"
}

func TestStatLastCPU(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cpu  int
		okay bool
	}{
		{statLine("ktstr-agent", 3), 3, true},
		{statLine("a) (b c) 9 9", 17), 17, true}, // a comm made to look like fields
		{statLine("x", 0), 0, true},
		{"1234 (short) R 1 2 3", 0, false},
		{"no parenthesis at all", 0, false},
		{strings.Replace(statLine("x", 5), " 5 ", " -5 ", 1), 0, false},
		{"", 0, false},
	} {
		cpu, ok := statLastCPU(tc.in)
		if ok != tc.okay || ok && cpu != tc.cpu {
			t.Errorf("statLastCPU(%.40q…) = %d, %v; want %d, %v", tc.in, cpu, ok, tc.cpu, tc.okay)
		}
	}
	// This thread's own line: the CPU it reads is one the kernel lets it
	// run on, and it is running (R). Locked, so that the thread read is
	// the one reading.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	if state, ok := statField(string(b), 3); !ok || state != "R" {
		t.Errorf("own stat: state %q, %v; the reading thread runs (R)", state, ok)
	}
	cpu, ok := statLastCPU(string(b))
	var set unix.CPUSet
	if !ok || unix.SchedGetaffinity(0, &set) != nil || !set.IsSet(cpu) {
		t.Errorf("own stat: cpu %d, %v, not in this thread's affinity", cpu, ok)
	}
}

// FuzzStatLastCPU: whatever the command name, the CPU written in field 39
// is the one read; and a CPU read from any line is non-negative and is
// the 37th field after the line's last ')'.
func FuzzStatLastCPU(f *testing.F) {
	f.Add("ktstr-agent", uint16(3), "")
	f.Add("a) (b", uint16(0), "1234 (x) R")
	f.Fuzz(func(t *testing.T, comm string, cpu uint16, raw string) {
		if got, ok := statLastCPU(statLine(comm, int(cpu))); !ok || got != int(cpu) {
			t.Errorf("comm %q cpu %d: read %d, %v", comm, cpu, got, ok)
		}
		if state, ok := statField(statLine(comm, int(cpu)), 3); !ok || state != "R" {
			t.Errorf("comm %q: state %q, %v; want R", comm, state, ok)
		}
		if got, ok := statLastCPU(raw); ok {
			fields := strings.Fields(raw[strings.LastIndexByte(raw, ')')+1:])
			if len(fields) < 37 || got < 0 {
				t.Fatalf("%q: read cpu %d from %d fields", raw, got, len(fields))
			}
			if n, err := strconv.Atoi(fields[36]); err != nil || n != got {
				t.Errorf("%q: read cpu %d, field 39 is %q", raw, got, fields[36])
			}
		}
	})
}
