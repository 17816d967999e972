package scenario

import "github.com/ktstr-go/ktstr/lib/model/record"

// MaxWorkers bounds the worker processes s starts on topology t when a work
// group without a count gets defaultWorkers: every cgroup of the backdrop
// and of every step, every add/toggle op and every spawn, counted as if none
// had stopped. The host sizes guest memory from it.
func (s *Scenario) MaxWorkers(t *record.Topology, defaultWorkers int) int {
	n := 0
	add := func(defs []CgroupDef) {
		for _, d := range Expand(defs, t) {
			for _, w := range d.WorksResolved(defaultWorkers) {
				n += w.Workers
			}
		}
	}
	add(s.Backdrop)
	for _, st := range s.Steps {
		add(st.Cgroups)
		for _, op := range st.Ops {
			if op.Def != nil {
				add([]CgroupDef{*op.Def})
			}
			if op.Work != nil {
				n += max(op.Work.Workers, defaultWorkers)
			}
		}
	}
	return n
}
