package machine

import "testing"

func TestCPUFlags(t *testing.T) {
	f := cpuFlags("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme vmx sse\n\nprocessor\t: 1\nflags\t\t: fpu\n")
	if !f["vmx"] || !f["sse"] || f["svm"] || len(f) != 4 {
		t.Errorf("%v", f)
	}
	if len(cpuFlags("")) != 0 {
		t.Error("flags from nothing")
	}
	if CPUs() < 1 {
		t.Error("no CPUs")
	}
}
