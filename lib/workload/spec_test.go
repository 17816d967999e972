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
