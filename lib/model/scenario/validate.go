package scenario

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Validate checks s against topology t before any VM boots, walking it in
// the order the engine runs it: the backdrop, then each step's hold, ops
// and cgroups. Errors name the scenario, the part (backdrop[i],
// steps[i].ops[j], steps[i].cgroups[j], ...) and the field.
func (s *Scenario) Validate(t *record.Topology, defaultWorkers int) error {
	if defaultWorkers <= 0 {
		defaultWorkers = DefaultWorkers
	}
	v := &validator{t: t, workers: defaultWorkers, live: map[string]string{}, backdrop: map[string]bool{}, payloads: map[string]bool{}}
	if err := v.scenario(s); err != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return nil
}

// validator follows which cgroups exist at each point of a scenario.
type validator struct {
	t       *record.Topology
	workers int // a work group's workers when it does not say
	// live maps each cgroup that exists at this point to the part that
	// made it; backdrop holds the backdrop's cgroups, which no step may
	// touch.
	live     map[string]string
	backdrop map[string]bool
	// payloads holds cgroup NUL name of every payload started so far.
	payloads map[string]bool
}

func (v *validator) scenario(s *Scenario) error {
	for i, d := range s.Backdrop {
		if err := v.define(fmt.Sprintf("backdrop[%d]", i), d, true); err != nil {
			return err
		}
	}
	fracs := 0.0
	for i, st := range s.Steps {
		where := fmt.Sprintf("steps[%d]", i)
		if err := validateHold(st.Hold); err != nil {
			return fmt.Errorf("%s.hold: %w", where, err)
		}
		fracs += st.Hold.Frac
		if err := v.ops(where, st.Ops, ""); err != nil {
			return err
		}
		for j, d := range st.Cgroups {
			if err := v.define(fmt.Sprintf("%s.cgroups[%d]", where, j), d, false); err != nil {
				return err
			}
		}
		// With loop_s the ops run again while the step holds: an
		// add_cgroup that nothing removed in between would define its
		// cgroup twice.
		if st.Hold.LoopS > 0 {
			if err := v.ops(where, st.Ops, ", repeated by hold.loop_s"); err != nil {
				return err
			}
		}
	}
	if fracs > 1.0001 {
		return fmt.Errorf("hold fractions add up to %.2f > 1", fracs)
	}
	return nil
}

// validateHold checks a step's length.
func validateHold(h Hold) error {
	if h.Frac < 0 || h.Frac > 1 || h.FixedS < 0 || (h.LoopS != 0 && h.LoopS < 0.05) || (h.Frac > 0 && h.FixedS > 0) {
		return fmt.Errorf("frac must be 0..1, fixed_s ≥ 0 (not both), loop_s ≥ 0.05")
	}
	return nil
}

// define checks cgroup definition d made at where (a per_cpu one as every
// cgroup it expands into) and makes it live. A name may not be defined
// while a cgroup of that name exists: the engine would lose track of the
// first one's workers.
func (v *validator) define(where string, d CgroupDef, backdrop bool) error {
	if err := validateName(d.Name); err != nil {
		return fmt.Errorf("%s.name: %w", where, err)
	}
	for _, c := range Expand([]CgroupDef{d}, v.t) {
		if err := v.cgroup(c); err != nil {
			return fmt.Errorf("%s: cgroup %s: %w", where, c.Name, err)
		}
		switch first, dup := v.live[c.Name]; {
		case !backdrop && v.backdrop[c.Name]:
			return fmt.Errorf("%s.name: cgroup %s shadows a backdrop cgroup", where, c.Name)
		case dup:
			return fmt.Errorf("%s.name: cgroup %s defined twice (%s has it and it still exists)", where, c.Name, first)
		}
		v.live[c.Name] = where
		if backdrop {
			v.backdrop[c.Name] = true
		}
	}
	return nil
}

// validateName accepts a cgroup path below the scenario's root in its
// one spelling: relative, no empty, "." or ".." parts. "a//b" and "a/b/"
// would be the same cgroup as "a/b" under another name.
func validateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("cgroup name is required")
	case path.IsAbs(name) || slices.Contains(strings.Split(name, "/"), ".."):
		return fmt.Errorf("cgroup %q: must be a path below the scenario's cgroup", name)
	case path.Clean(name) != name:
		return fmt.Errorf("cgroup %q: write it as %q", name, path.Clean(name))
	}
	return nil
}

// cgroup checks one (expanded) cgroup's cpuset and works.
func (v *validator) cgroup(d CgroupDef) error {
	if d.Cpuset != nil {
		if _, err := ResolveCpuset(d.Cpuset, v.t); err != nil {
			return err
		}
	}
	for i, w := range d.WorksResolved(v.workers) {
		if err := w.Validate(w.Workers); err != nil {
			return fmt.Errorf("works[%d]: %w", i, err)
		}
	}
	return nil
}

// ops checks a step's ops in order; note says why they run (again).
func (v *validator) ops(step string, ops []Op, note string) error {
	for j, op := range ops {
		where := fmt.Sprintf("%s.ops[%d]", step, j)
		if err := v.op(where, op); err != nil {
			return fmt.Errorf("%s%s: %w", where, note, err)
		}
	}
	return nil
}

// op checks operation op, at where, against the cgroups that exist when it
// runs, and applies its effect on them.
func (v *validator) op(where string, op Op) error {
	if !slices.Contains(opKinds, op.Op) {
		return fmt.Errorf("unknown op %q", op.Op)
	}
	switch op.Op {
	case OpAddCgroup, OpToggleCgroup:
		return v.addOp(where, op)
	case OpRemoveCgroup:
		if v.backdrop[op.Cgroup] {
			return fmt.Errorf("%s: cannot remove backdrop cgroup %s", op.Op, op.Cgroup)
		}
		if err := v.need(op, op.Cgroup); err != nil {
			return err
		}
		delete(v.live, op.Cgroup)
		return nil
	case OpSwapCpusets, OpMoveAllTasks:
		if err := v.need(op, op.Cgroup); err != nil {
			return err
		}
		return v.need(op, op.Other)
	}
	if err := v.need(op, op.Cgroup); err != nil {
		return err
	}
	switch op.Op {
	case OpSetCpuset:
		if op.Cpuset == nil {
			return fmt.Errorf("set_cpuset needs cpuset")
		}
		if _, err := ResolveCpuset(op.Cpuset, v.t); err != nil {
			return err
		}
	case OpSpawn:
		if op.Work == nil {
			return fmt.Errorf("spawn needs work")
		}
		w := *op.Work
		if w.Workers == 0 {
			w.Workers = v.workers
		}
		if err := w.Validate(w.Workers); err != nil {
			return fmt.Errorf("work: %w", err)
		}
	case OpSetAffinity:
		if op.Affinity == nil {
			return fmt.Errorf("set_affinity needs affinity")
		}
	case OpPauseWorker:
		if op.DurationS <= 0 || op.Worker < 0 {
			return fmt.Errorf("pause_worker needs worker ≥ 0 and duration_s > 0")
		}
	case OpRunPayload, OpWaitPayload, OpKillPayload:
		return v.payloadOp(op)
	}
	return nil
}

// payloadOp checks a payload op: run_payload's definition and checks, and
// that wait and kill name a payload started before them.
func (v *validator) payloadOp(op Op) error {
	if op.PayloadName() == "" {
		return fmt.Errorf("%s needs payload", op.Op)
	}
	if op.DurationS < 0 {
		return fmt.Errorf("%s: duration_s must be ≥ 0", op.Op)
	}
	key := op.Cgroup + "\x00" + op.PayloadName()
	if op.Op != OpRunPayload {
		if !v.payloads[key] {
			return fmt.Errorf("%s: no run_payload of %s in %s before it", op.Op, op.PayloadName(), op.Cgroup)
		}
		return nil
	}
	d, err := op.Definition()
	if err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if op.Checks != nil {
		if err := payload.ValidateLimits(map[string]record.PayloadLimits{d.Name: *op.Checks}); err != nil {
			return fmt.Errorf("checks: %w", err)
		}
	}
	v.payloads[key] = true
	return nil
}

// addOp checks add_cgroup and toggle_cgroup: toggle removes its cgroup
// when it exists (churn), add must not find it.
func (v *validator) addOp(where string, op Op) error {
	if op.Def == nil {
		return fmt.Errorf("%s needs def", op.Op)
	}
	if err := validateName(op.Def.Name); err != nil {
		return fmt.Errorf("def.name: %w", err)
	}
	if v.backdrop[op.Def.Name] {
		return fmt.Errorf("def.name: cgroup %s shadows a backdrop cgroup", op.Def.Name)
	}
	if err := v.cgroup(*op.Def); err != nil {
		return fmt.Errorf("def: cgroup %s: %w", op.Def.Name, err)
	}
	if op.Op == OpAddCgroup {
		if first, dup := v.live[op.Def.Name]; dup {
			return fmt.Errorf("def.name: cgroup %s defined twice (%s has it and it still exists)", op.Def.Name, first)
		}
	}
	v.live[op.Def.Name] = where
	return nil
}

// need checks that cgroup name exists when op runs.
func (v *validator) need(op Op, name string) error {
	if _, ok := v.live[name]; !ok {
		return fmt.Errorf("%s: no cgroup %q at this point", op.Op, name)
	}
	return nil
}
