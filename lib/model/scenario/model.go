// Package scenario is ktstr's scenario language as JSON data: cgroups with
// cpusets and workloads, steps of operations and holds, a backdrop that
// persists across steps; validation against a topology before any VM boots;
// and the embedded catalog. This is the host's side (the planner uses it);
// lib/guest/engine runs a scenario in the guest.
//
// A minimal scenario:
//
//	{"name": "two_groups", "steps": [{"cgroups": [{"name": "a"}, {"name": "b"}]}]}
//
// runs two cgroups of CpuSpin workers (the default work) for the whole
// duration.
package scenario

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/lib/base/jsonstrict"
	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// Scenario is a whole test: cgroups and workloads changing over steps.
type Scenario struct {
	Name        string `json:"name"`
	Category    string `json:"category,omitempty"`
	Description string `json:"description,omitempty"`
	// RequiresFlags names scheduler flags the scenario is meant for: as in
	// ktstr, it runs only under a flag profile that has them all (so not
	// under EEVDF or a profile without them), and is skipped otherwise.
	// They do not change what runs.
	RequiresFlags []string `json:"requires_flags,omitempty"`
	// ExcludesFlags names flags under which it must not run.
	ExcludesFlags []string `json:"excludes_flags,omitempty"`
	// Backdrop cgroups exist for the whole scenario.
	Backdrop []CgroupDef `json:"backdrop,omitempty"`
	Steps    []Step      `json:"steps"`
	// MinCPUs, MinLLCs and MinNodes say what topology it needs to mean
	// something; smaller ones are skipped, not failed.
	MinCPUs  int `json:"min_cpus,omitempty"`
	MinLLCs  int `json:"min_llcs,omitempty"`
	MinNodes int `json:"min_nodes,omitempty"`
}

// Step applies its ops, creates its cgroups, then holds.
type Step struct {
	Ops     []Op        `json:"ops,omitempty"`
	Cgroups []CgroupDef `json:"cgroups,omitempty"`
	Hold    Hold        `json:"hold,omitempty"`
}

// Hold is how long a step lasts: Frac of the scenario duration (default: an
// equal share of what the steps without a length leave), or FixedS seconds.
// With LoopS the step's ops repeat every LoopS seconds while it holds.
type Hold struct {
	Frac   float64 `json:"frac,omitempty"`
	FixedS float64 `json:"fixed_s,omitempty"`
	LoopS  float64 `json:"loop_s,omitempty"`
}

// CgroupDef is a cgroup and its workloads.
type CgroupDef struct {
	// Name is a path below the scenario's root; "a/b" nests.
	Name   string      `json:"name"`
	Cpuset *CpusetSpec `json:"cpuset,omitempty"`
	// Works defaults to one CpuSpin group when absent; an explicit empty
	// list means a cgroup without workers (so no omitempty: the difference
	// must survive encoding).
	Works []workload.Spec `json:"works"`
	// Host puts the workers in the root cgroup, outside the scenario's
	// subtree, competing with it (host contention).
	Host bool `json:"host,omitempty"`
	// PerCPU expands into one cgroup per usable CPU, NAME_N, each with a
	// cpuset of that CPU.
	PerCPU bool `json:"per_cpu,omitempty"`
	// Transient cgroups are churned by the scenario: their workers may
	// live too briefly for starvation and fairness checks, which skip them.
	Transient bool `json:"transient,omitempty"`
}

// CpusetSpec chooses CPUs; exactly one field is set.
type CpusetSpec struct {
	// LLC is the CPUs of LLC group N; NUMA those of node N.
	LLC  *int `json:"llc,omitempty"`
	NUMA *int `json:"numa,omitempty"`
	// Range is [start, end) as fractions of the usable CPUs.
	Range *[2]float64 `json:"range,omitempty"`
	// Disjoint is [index, of]: slice index of of equal slices of the
	// usable CPUs.
	Disjoint *[2]int `json:"disjoint,omitempty"`
	// Overlap is slice Index of Of, grown by Frac of a slice into the next.
	Overlap *OverlapSpec `json:"overlap,omitempty"`
	// Exact is a cpu list.
	Exact string `json:"exact,omitempty"`
}

// OverlapSpec is an overlapping cpuset slice.
type OverlapSpec struct {
	Index int     `json:"index"`
	Of    int     `json:"of"`
	Frac  float64 `json:"frac"`
}

// Op kinds.
const (
	OpAddCgroup    = "add_cgroup"
	OpRemoveCgroup = "remove_cgroup"
	OpToggleCgroup = "toggle_cgroup" // add if absent, remove if present (churn)
	OpSetCpuset    = "set_cpuset"
	OpClearCpuset  = "clear_cpuset"
	OpSwapCpusets  = "swap_cpusets"
	OpSpawn        = "spawn"
	OpStopCgroup   = "stop_cgroup"
	OpSetAffinity  = "set_affinity"
	OpMoveAllTasks = "move_all_tasks"
	// OpPauseWorker stops one worker with SIGSTOP for DurationS seconds: a
	// test op that makes a gap the checks must catch.
	OpPauseWorker = "pause_worker"
	// OpRunPayload starts a payload (lib/model/payload: a benchmark binary) in
	// Cgroup; OpWaitPayload waits for it to exit (at most DurationS
	// seconds, default 60, then kills it); OpKillPayload kills it. A
	// payload is known by its name and cgroup.
	OpRunPayload  = "run_payload"
	OpWaitPayload = "wait_payload"
	OpKillPayload = "kill_payload"
)

// DefaultPayloadWait is how long wait_payload waits without a duration_s.
const DefaultPayloadWait = 60 * time.Second

// PayloadWaits is the longest the scenario's wait_payload ops can wait in
// all, beyond its duration: the host adds it to the run's timeout, so that
// a hung payload is killed and reported by the agent, not lost in a VM
// timeout.
func (s *Scenario) PayloadWaits() time.Duration {
	var total time.Duration
	s.Any(nil, func(o Op) bool {
		if o.Op == OpWaitPayload {
			if o.DurationS > 0 {
				total += time.Duration(o.DurationS * float64(time.Second))
			} else {
				total += DefaultPayloadWait
			}
		}
		return false
	})
	return total
}

var opKinds = []string{OpAddCgroup, OpRemoveCgroup, OpToggleCgroup, OpSetCpuset, OpClearCpuset, OpSwapCpusets, OpSpawn,
	OpStopCgroup, OpSetAffinity, OpMoveAllTasks, OpPauseWorker, OpRunPayload, OpWaitPayload, OpKillPayload}

// Op is one operation of a step.
type Op struct {
	Op     string `json:"op"`
	Cgroup string `json:"cgroup,omitempty"`
	// Def is the cgroup of add_cgroup and toggle_cgroup.
	Def *CgroupDef `json:"def,omitempty"`
	// Cpuset is set_cpuset's new cpuset.
	Cpuset *CpusetSpec `json:"cpuset,omitempty"`
	// Other is swap_cpusets' second cgroup and move_all_tasks' target.
	Other string `json:"other,omitempty"`
	// Work is what spawn starts in Cgroup.
	Work     *workload.Spec     `json:"work,omitempty"`
	Affinity *workload.Affinity `json:"affinity,omitempty"`
	// Worker and DurationS are pause_worker's target and length;
	// DurationS is also wait_payload's limit.
	Worker    int     `json:"worker,omitempty"`
	DurationS float64 `json:"duration_s,omitempty"`
	// Payload names the payload of run_payload, wait_payload and
	// kill_payload: a built-in definition (lib/model/payload), or PayloadDef's
	// name. PayloadDef is a definition of run_payload's own; Args replace
	// the definition's default arguments; Checks are the scenario's layer
	// of its checks (over the definition's, under the thresholds').
	Payload    string                `json:"payload,omitempty"`
	PayloadDef *payload.Definition   `json:"payload_def,omitempty"`
	Args       []string              `json:"args,omitempty"`
	Checks     *record.PayloadLimits `json:"checks,omitempty"`
}

// Definition is the payload definition of a payload op: its own
// PayloadDef, else the built-in of that name.
func (o Op) Definition() (*payload.Definition, error) {
	if o.PayloadDef != nil {
		if o.Payload != "" && o.Payload != o.PayloadDef.Name {
			return nil, fmt.Errorf("payload %q and payload_def.name %q differ", o.Payload, o.PayloadDef.Name)
		}
		return o.PayloadDef, nil
	}
	if d, ok := payload.Lookup(o.Payload); ok {
		return d, nil
	}
	return nil, fmt.Errorf("payload %q: no such built-in (%s) and no payload_def", o.Payload, strings.Join(payload.Names(), ", "))
}

// PayloadName is the name a payload op knows its payload by.
func (o Op) PayloadName() string {
	if o.Payload == "" && o.PayloadDef != nil {
		return o.PayloadDef.Name
	}
	return o.Payload
}

// PayloadRun finds the run_payload op that started payload name in
// cgroup (the first, if several did).
func (s *Scenario) PayloadRun(name, cgroup string) (Op, bool) {
	var found Op
	ok := s.Any(nil, func(o Op) bool {
		if o.Op == OpRunPayload && o.PayloadName() == name && o.Cgroup == cgroup {
			found = o
			return true
		}
		return false
	})
	return found, ok
}

// Payloads lists the definitions of every payload the scenario runs, once
// per name.
func (s *Scenario) Payloads() ([]*payload.Definition, error) {
	var out []*payload.Definition
	seen := map[string]bool{}
	var err error
	s.Any(nil, func(o Op) bool {
		if o.Op != OpRunPayload || seen[o.PayloadName()] {
			return false
		}
		seen[o.PayloadName()] = true
		d, e := o.Definition()
		if e != nil {
			err = e
			return true
		}
		out = append(out, d)
		return false
	})
	return out, err
}

func (o Op) String() string {
	s := o.Op
	if o.Cgroup != "" {
		s += " " + o.Cgroup
	}
	if o.Def != nil {
		s += " " + o.Def.Name
	}
	if o.Other != "" {
		s += " " + o.Other
	}
	if n := o.PayloadName(); n != "" {
		s += " " + n
	}
	return s
}

// Parse decodes a scenario strictly (jsonstrict: an unknown field is an
// error, so typos are) and checks it has a name and steps.
func Parse(data []byte) (*Scenario, error) { return parse(data, "scenario") }

// parse is Parse, naming the scenario what until it has a name.
func parse(data []byte, what string) (*Scenario, error) {
	var s Scenario
	if err := jsonstrict.Decode(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if s.Name == "" {
		return nil, fmt.Errorf("%s: name is required", what)
	}
	if len(s.Steps) == 0 {
		return nil, fmt.Errorf("scenario %s: steps: at least one step is required", s.Name)
	}
	return &s, nil
}

// Load resolves a scenario argument: a catalog name, or a JSON file.
func Load(nameOrFile string) (*Scenario, error) {
	if s, ok := Lookup(nameOrFile); ok {
		return s, nil
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("scenario %q: neither a catalog name nor a file (ktstr-boot --list-scenarios)", nameOrFile)
		}
		return nil, fmt.Errorf("scenario %q: %w", nameOrFile, err)
	}
	return parse(data, "scenario "+nameOrFile)
}

// FlagsFit reports whether the scenario runs under a scheduler profile with
// the active flags (none for EEVDF), and if not, why.
func (s *Scenario) FlagsFit(active []string) (bool, string) {
	var missing []string
	for _, f := range s.RequiresFlags {
		if !slices.Contains(active, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("needs scheduler flags %s (the profile has %s)", strings.Join(missing, ","), flagList(active))
	}
	for _, f := range s.ExcludesFlags {
		if slices.Contains(active, f) {
			return false, fmt.Sprintf("does not run under scheduler flag %s", f)
		}
	}
	return true, ""
}

func flagList(fs []string) string {
	if len(fs) == 0 {
		return "none"
	}
	return strings.Join(fs, ",")
}

// Any reports whether def holds for some cgroup the scenario defines (the
// backdrop's, every step's, and those its operations add) or op for some
// operation. Either may be nil.
func (s *Scenario) Any(def func(*CgroupDef) bool, op func(Op) bool) bool {
	is := func(d *CgroupDef) bool { return d != nil && def != nil && def(d) }
	for i := range s.Backdrop {
		if is(&s.Backdrop[i]) {
			return true
		}
	}
	for _, st := range s.Steps {
		for i := range st.Cgroups {
			if is(&st.Cgroups[i]) {
				return true
			}
		}
		for _, o := range st.Ops {
			if is(o.Def) || (op != nil && op(o)) {
				return true
			}
		}
	}
	return false
}
