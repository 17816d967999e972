package scenario

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// DefaultWorkers is the workers per cgroup when neither the work nor the
// job says.
const DefaultWorkers = 2

// Usable returns the CPUs scenarios spread over: all of them, except that
// with more than two CPUs the last is left to the agent, as in ktstr.
func Usable(t *record.Topology) []int {
	all := topology.Range(0, t.CPUs)
	if len(all) > 2 {
		return all[:len(all)-1]
	}
	return all
}

// ResolveCpuset turns a cpuset spec into CPUs on topology t.
func ResolveCpuset(c *CpusetSpec, t *record.Topology) ([]int, error) {
	set := 0
	for _, b := range []bool{c.LLC != nil, c.NUMA != nil, c.Range != nil, c.Disjoint != nil, c.Overlap != nil, c.Exact != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("cpuset: exactly one of llc, numa, range, disjoint, overlap, exact must be set, got %d", set)
	}
	usable := Usable(t)
	switch {
	case c.LLC != nil:
		if *c.LLC < 0 || *c.LLC >= len(t.LLCGroups) {
			return nil, fmt.Errorf("cpuset.llc: index %d out of range 0..%d", *c.LLC, len(t.LLCGroups)-1)
		}
		return topology.ParseList(t.LLCGroups[*c.LLC].CPUs)
	case c.NUMA != nil:
		if *c.NUMA < 0 || *c.NUMA >= len(t.Nodes) {
			return nil, fmt.Errorf("cpuset.numa: node %d out of range 0..%d", *c.NUMA, len(t.Nodes)-1)
		}
		return topology.ParseList(t.Nodes[*c.NUMA].CPUs)
	case c.Range != nil:
		a, b := c.Range[0], c.Range[1]
		if a < 0 || b > 1 || a >= b {
			return nil, fmt.Errorf("cpuset.range: [%g, %g] must satisfy 0 ≤ start < end ≤ 1", a, b)
		}
		lo := int(math.Floor(a * float64(len(usable))))
		hi := max(lo+1, int(math.Ceil(b*float64(len(usable)))))
		return slices.Clone(usable[lo:min(hi, len(usable))]), nil
	case c.Disjoint != nil:
		i, of := c.Disjoint[0], c.Disjoint[1]
		if of < 1 || of > len(usable) || i < 0 || i >= of {
			return nil, fmt.Errorf("cpuset.disjoint: [%d, %d] needs 0 ≤ index < of ≤ %d usable CPUs", i, of, len(usable))
		}
		lo, hi := slice(len(usable), i, of)
		return slices.Clone(usable[lo:hi]), nil
	case c.Overlap != nil:
		o := c.Overlap
		if o.Of < 1 || o.Of > len(usable) || o.Index < 0 || o.Index >= o.Of || o.Frac <= 0 || o.Frac > 1 {
			return nil, fmt.Errorf("cpuset.overlap: index %d of %d frac %g needs 0 ≤ index < of ≤ %d and 0 < frac ≤ 1", o.Index, o.Of, o.Frac, len(usable))
		}
		lo, hi := slice(len(usable), o.Index, o.Of)
		extra := max(1, int(math.Round(o.Frac*float64(hi-lo))))
		var cpus []int
		for k := lo; k < hi+extra; k++ {
			cpus = append(cpus, usable[k%len(usable)])
		}
		slices.Sort(cpus)
		return slices.Compact(cpus), nil
	default:
		cpus, err := topology.ParseList(c.Exact)
		if err != nil {
			return nil, fmt.Errorf("cpuset.exact: %w", err)
		}
		for _, cpu := range cpus {
			if cpu >= t.CPUs {
				return nil, fmt.Errorf("cpuset.exact: cpu %d out of range 0..%d", cpu, t.CPUs-1)
			}
		}
		if len(cpus) == 0 {
			return nil, errors.New("cpuset.exact: empty")
		}
		return cpus, nil
	}
}

// slice returns the bounds of part i of n items split into of parts.
func slice(n, i, of int) (lo, hi int) {
	return i * n / of, (i + 1) * n / of
}

// Expand replaces per_cpu cgroups with one cgroup per usable CPU.
func Expand(defs []CgroupDef, t *record.Topology) []CgroupDef {
	var out []CgroupDef
	for _, d := range defs {
		if !d.PerCPU {
			out = append(out, d)
			continue
		}
		for _, cpu := range Usable(t) {
			c := d
			c.PerCPU = false
			c.Name = fmt.Sprintf("%s_%d", d.Name, cpu)
			c.Cpuset = &CpusetSpec{Exact: fmt.Sprint(cpu)}
			out = append(out, c)
		}
	}
	return out
}

// Works returns a cgroup's work groups, defaulting to CpuSpin, with worker
// counts resolved.
func (d CgroupDef) WorksResolved(defaultWorkers int) []workload.Spec {
	works := d.Works
	if len(works) == 0 {
		works = []workload.Spec{{Type: "CpuSpin"}}
	}
	out := make([]workload.Spec, len(works))
	for i, w := range works {
		if w.Workers == 0 {
			w.Workers = defaultWorkers
		}
		out[i] = w
	}
	return out
}

// Fits says whether t is large enough for s; if not, why.
func (s *Scenario) Fits(t *record.Topology) (bool, string) {
	switch {
	case t.CPUs < s.MinCPUs:
		return false, fmt.Sprintf("needs %d CPUs, topology has %d", s.MinCPUs, t.CPUs)
	case len(t.LLCGroups) < s.MinLLCs:
		return false, fmt.Sprintf("needs %d LLCs, topology has %d", s.MinLLCs, len(t.LLCGroups))
	case len(t.Nodes) < s.MinNodes:
		return false, fmt.Sprintf("needs %d NUMA nodes, topology has %d", s.MinNodes, len(t.Nodes))
	}
	return true, ""
}

// StepDurations splits total over the steps: fixed holds take their
// seconds, fractional ones their share, and steps without a length share
// what is left equally.
func (s *Scenario) StepDurations(total time.Duration) []time.Duration {
	out := make([]time.Duration, len(s.Steps))
	left := total
	var open []int
	for i, st := range s.Steps {
		switch {
		case st.Hold.FixedS > 0:
			out[i] = time.Duration(st.Hold.FixedS * float64(time.Second))
		case st.Hold.Frac > 0:
			out[i] = time.Duration(st.Hold.Frac * float64(total))
		default:
			open = append(open, i)
			continue
		}
		left -= out[i]
	}
	for _, i := range open {
		out[i] = max(0, left/time.Duration(len(open)))
	}
	return out
}
