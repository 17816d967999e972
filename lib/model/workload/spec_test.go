package workload

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		spec Spec
		n    int
	}{
		"unknown work type": {Spec{Type: "Spinny"}, 1},
		"PipeIo requires num_workers divisible by 2, got 3": {Spec{Type: "PipeIo"}, 3},
		"FutexFanOut requires num_workers divisible by 3":   {Spec{Type: "FutexFanOut", Params: map[string]float64{"fan_out": 2}}, 4},
		"unknown parameter":           {Spec{Type: "Bursty", Params: map[string]float64{"burst": 1}}, 1},
		"fifo priority must be 1..99": {Spec{Type: "CpuSpin", Policy: &Policy{Class: "fifo"}}, 1},
		"policy class":                {Spec{Type: "CpuSpin", Policy: &Policy{Class: "deadline"}}, 1},
		"affinity kind":               {Spec{Type: "CpuSpin", Affinity: &Affinity{Kind: "some"}}, 1},
		"command is required":         {Spec{Type: "Custom"}, 1},
		"phases are required":         {Spec{Type: "Sequence"}, 1},
		"workers must be ≥ 1":         {Spec{Type: "CpuSpin"}, 0},
		"nice must be -20..19":        {Spec{Type: "CpuSpin", Nice: 30}, 1},
	}
	for want, c := range cases {
		err := c.spec.Validate(c.n)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, want)
		}
	}
	if err := (Spec{Type: "MutexContention", Params: map[string]float64{"contenders": 3}}).Validate(6); err != nil {
		t.Error(err)
	}
}

// TestTypesTable: the table is the only list of work types, so it must be
// whole: unique names, a unit for every type but the command one, parameter
// defaults that validate, and pipes only between pairs.
func TestTypesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, ty := range Types {
		if seen[ty.Name] {
			t.Errorf("%s listed twice", ty.Name)
		}
		seen[ty.Name] = true
		if (ty.Unit == nil) != (ty.Name == "Custom") {
			t.Errorf("%s: unit %v", ty.Name, ty.Unit != nil)
		}
		if ty.Summary == "" {
			t.Errorf("%s: no summary", ty.Name)
		}
		s := Spec{Type: ty.Name, Params: ty.Params, Command: []string{"true"}, Phases: []Phase{{Kind: "spin", MS: 1}}}
		n := max(1, s.GroupSize())
		if err := s.Validate(n); err != nil {
			t.Errorf("%s with its defaults: %v", ty.Name, err)
		}
		if ty.Pipes && s.GroupSize() != 2 {
			t.Errorf("%s: pipes need groups of 2, got %d", ty.Name, s.GroupSize())
		}
	}
	if len(Types) != 20 {
		t.Errorf("%d work types, want ktstr's 20", len(Types))
	}
}
