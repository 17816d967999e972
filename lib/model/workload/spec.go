// Package workload is the model of scheduler workloads: the 20 work types
// of ktstr with their parameters and defaults, and the specification of a
// group of workers (count, policy, nice, affinity, memory policy) with its
// validation. The host validates scenarios with it before any VM boots;
// the in-guest runtime that runs workers is lib/guest/worker.
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
	if t.Check != nil {
		if err := t.Check(s); err != nil {
			return fmt.Errorf("%s: %w", s.Type, err)
		}
	}
	return nil
}
