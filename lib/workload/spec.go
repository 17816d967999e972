// Package workload is the model of scheduler workloads: the 20 work types
// of ktstr with their parameters and defaults, and the specification of a
// group of workers (count, policy, nice, affinity, memory policy) with its
// validation. The host validates scenarios with it before any VM boots;
// the in-guest runtime that runs workers is lib/workload/worker.
package workload

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Spec is one group of identical workers: what they do and how they are
// scheduled.
type Spec struct {
	// Type is a work type name (Types).
	Type string `json:"type"`
	// Workers is how many; 0 means the scenario's default.
	Workers int `json:"workers,omitempty"`
	// Params override the type's defaults (see Types for the names).
	Params map[string]float64 `json:"params,omitempty"`
	Policy *Policy            `json:"policy,omitempty"`
	Nice   int                `json:"nice,omitempty"`
	// Affinity narrows the CPUs each worker may run on.
	Affinity  *Affinity  `json:"affinity,omitempty"`
	MemPolicy *MemPolicy `json:"mem_policy,omitempty"`
	// Command is the program of a Custom worker.
	Command []string `json:"command,omitempty"`
	// Phases are the steps of a Sequence worker.
	Phases []Phase `json:"phases,omitempty"`
}

// Policy is a scheduling class: normal, batch, idle, fifo or rr (with a
// priority 1..99 for the real-time ones).
type Policy struct {
	Class    string `json:"class"`
	Priority int    `json:"priority,omitempty"`
}

// Affinity kinds: inherit (the cgroup's cpuset), random_subset (a random half
// of it per worker), llc_aligned (the LLC of the worker's first allowed CPU),
// cross_cgroup (every CPU), single_cpu (one CPU per worker, round robin),
// exact (CPUs).
type Affinity struct {
	Kind string `json:"kind"`
	CPUs string `json:"cpus,omitempty"`
}

// MemPolicy is a set_mempolicy(2) policy: default, bind, preferred,
// interleave, local, preferred_many or weighted_interleave over Nodes, with
// optional flags static_nodes, relative_nodes, numa_balancing.
type MemPolicy struct {
	Kind  string   `json:"kind"`
	Nodes string   `json:"nodes,omitempty"`
	Flags []string `json:"flags,omitempty"`
}

// Phase is one step of a Sequence: spin, sleep, yield or io for MS
// milliseconds.
type Phase struct {
	Kind string  `json:"kind"`
	MS   float64 `json:"ms"`
}

// Type describes a work type.
type Type struct {
	Name string
	// Params are the parameters and their defaults.
	Params map[string]float64
	// Group is how many workers cooperate (0: none); worker counts must be
	// a multiple of it. For fan-out types it depends on the parameters.
	Group func(params map[string]float64) int
	// Wakes says whether it records wake-latency samples.
	Wakes bool
	// Summary says what it stresses.
	Summary string
	// CPUBound says it never sleeps: its workers are runnable all the
	// time, so a scheduler must keep the CPUs they may use busy (the work
	// conservation check counts on it).
	CPUBound bool
}

func fixed(n int) func(map[string]float64) int { return func(map[string]float64) int { return n } }
func param(name string, plus int) func(map[string]float64) int {
	return func(p map[string]float64) int { return int(p[name]) + plus }
}

// Types are the 20 work types, with ktstr's names and defaults.
var Types = []Type{
	{"CpuSpin", nil, fixed(0), false, "1024 spin iterations per unit; pure CPU", true},
	{"YieldHeavy", nil, fixed(0), false, "sched_yield every iteration; wake and sleep paths", true},
	{"Mixed", nil, fixed(0), false, "1024 spins then a yield", true},
	{"IoSync", nil, fixed(0), true, "write 64 KB to a tmpfs file, then sleep 100 µs", false},
	{"Bursty", map[string]float64{"burst_ms": 50, "sleep_ms": 100}, fixed(0), true, "CPU bursts and sleeps; CPU borrowing", false},
	{"PipeIo", map[string]float64{"burst_iters": 1024}, fixed(2), true, "burst, then 1-byte pipe ping-pong with a partner", false},
	{"FutexPingPong", map[string]float64{"spin_iters": 1024}, fixed(2), true, "spin, wake the partner, wait on a shared futex", false},
	{"CachePressure", map[string]float64{"size_kb": 32, "stride": 64}, fixed(0), false, "strided read-modify-write over a per-worker buffer", true},
	{"CacheYield", map[string]float64{"size_kb": 32, "stride": 64}, fixed(0), true, "cache pressure then yield", false},
	{"CachePipe", map[string]float64{"size_kb": 32, "burst_iters": 1024}, fixed(2), true, "cache burst then pipe exchange", false},
	{"FutexFanOut", map[string]float64{"fan_out": 4, "spin_iters": 1024}, param("fan_out", 1), true, "one messenger spins then wakes N receivers", false},
	{"FanOutCompute", map[string]float64{"fan_out": 4, "cache_footprint_kb": 256, "operations": 5, "sleep_usec": 100}, param("fan_out", 1), true, "messenger stamps and wakes N workers that compute", false},
	{"Sequence", nil, fixed(0), true, "loop over phases: spin, sleep, yield, io", false},
	{"ForkExit", nil, fixed(0), true, "fork a child that exits, wait for it; task creation and exit", false},
	{"NiceSweep", nil, fixed(0), true, "512 spins, cycle nice -20..19, yield", false},
	{"AffinityChurn", map[string]float64{"spin_iters": 1024}, fixed(0), true, "spin, move to a random allowed CPU, yield", false},
	{"PolicyChurn", map[string]float64{"spin_iters": 1024}, fixed(0), true, "spin, cycle OTHER→BATCH→IDLE→FIFO→RR, yield", false},
	{"PageFaultChurn", map[string]float64{"region_kb": 4096, "touches_per_cycle": 256, "spin_iters": 64}, fixed(0), false, "write-fault random pages of a region, then drop them", true},
	{"MutexContention", map[string]float64{"contenders": 4, "hold_iters": 256, "work_iters": 1024}, param("contenders", 0), true, "futex mutex: work, acquire, hold, release", false},
	{"Custom", nil, fixed(0), false, "a user command as the worker (no telemetry beyond time)", false},
}

// LookupType finds a work type by its exact name.
func LookupType(name string) (Type, bool) {
	for _, t := range Types {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// TypeNames lists the work type names.
func TypeNames() []string {
	var out []string
	for _, t := range Types {
		out = append(out, t.Name)
	}
	return out
}

// Resolved returns the parameters with defaults filled in.
func (s Spec) Resolved() map[string]float64 {
	t, _ := LookupType(s.Type)
	p := map[string]float64{}
	for k, v := range t.Params {
		p[k] = v
	}
	for k, v := range s.Params {
		p[k] = v
	}
	return p
}

// GroupSize is how many workers of s cooperate (0 or 1: independent).
func (s Spec) GroupSize() int {
	t, ok := LookupType(s.Type)
	if !ok || t.Group == nil {
		return 0
	}
	return t.Group(s.Resolved())
}

var policyClasses = []string{"normal", "batch", "idle", "fifo", "rr"}
var affinityKinds = []string{"inherit", "random_subset", "llc_aligned", "cross_cgroup", "single_cpu", "exact"}
var memKinds = []string{"default", "bind", "preferred", "interleave", "local", "preferred_many", "weighted_interleave"}
var memFlags = []string{"static_nodes", "relative_nodes", "numa_balancing"}
var phaseKinds = []string{"spin", "sleep", "yield", "io"}

// Validate checks s with workers resolved to n; errors name the field.
func (s Spec) Validate(n int) error {
	t, ok := LookupType(s.Type)
	if !ok {
		return fmt.Errorf("unknown work type %q (known: %s)", s.Type, strings.Join(TypeNames(), ", "))
	}
	if n < 1 {
		return fmt.Errorf("%s: workers must be ≥ 1, got %d", s.Type, n)
	}
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, known := t.Params[k]; !known {
			return fmt.Errorf("%s: unknown parameter %q", s.Type, k)
		}
		if v := s.Params[k]; v < 0 || v > 1e9 {
			return fmt.Errorf("%s: parameter %s must be 0..1e9, got %g", s.Type, k, v)
		}
	}
	if g := s.GroupSize(); g > 1 && n%g != 0 {
		return fmt.Errorf("%s requires num_workers divisible by %d, got %d", s.Type, g, n)
	}
	if s.Policy != nil {
		if !slices.Contains(policyClasses, s.Policy.Class) {
			return fmt.Errorf("%s: policy class %q (known: %s)", s.Type, s.Policy.Class, strings.Join(policyClasses, ", "))
		}
		rt := s.Policy.Class == "fifo" || s.Policy.Class == "rr"
		if rt && (s.Policy.Priority < 1 || s.Policy.Priority > 99) {
			return fmt.Errorf("%s: %s priority must be 1..99, got %d", s.Type, s.Policy.Class, s.Policy.Priority)
		}
	}
	if s.Nice < -20 || s.Nice > 19 {
		return fmt.Errorf("%s: nice must be -20..19, got %d", s.Type, s.Nice)
	}
	if s.Affinity != nil && !slices.Contains(affinityKinds, s.Affinity.Kind) {
		return fmt.Errorf("%s: affinity kind %q (known: %s)", s.Type, s.Affinity.Kind, strings.Join(affinityKinds, ", "))
	}
	if s.Affinity != nil && s.Affinity.Kind == "exact" && s.Affinity.CPUs == "" {
		return fmt.Errorf("%s: exact affinity needs cpus", s.Type)
	}
	if m := s.MemPolicy; m != nil {
		if !slices.Contains(memKinds, m.Kind) {
			return fmt.Errorf("%s: mem_policy kind %q (known: %s)", s.Type, m.Kind, strings.Join(memKinds, ", "))
		}
		for _, f := range m.Flags {
			if !slices.Contains(memFlags, f) {
				return fmt.Errorf("%s: mem_policy flag %q (known: %s)", s.Type, f, strings.Join(memFlags, ", "))
			}
		}
	}
	switch s.Type {
	case "Custom":
		if len(s.Command) == 0 {
			return fmt.Errorf("Custom: command is required")
		}
	case "Sequence":
		if len(s.Phases) == 0 {
			return fmt.Errorf("Sequence: phases are required")
		}
		for i, p := range s.Phases {
			if !slices.Contains(phaseKinds, p.Kind) || p.MS <= 0 {
				return fmt.Errorf("Sequence: phase %d: kind must be one of %s and ms > 0", i, strings.Join(phaseKinds, ", "))
			}
		}
	}
	return nil
}
