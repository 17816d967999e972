// Package verdict judges run records: each check compares a measured value
// with a limit and says pass, fail, inconclusive or skip, with the detail a
// developer needs to act on a failure. A verdict is the conjunction of its
// checks.
package verdict

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/judge/bpfverifier"
	"github.com/ktstr-go/ktstr/lib/judge/knownbug"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Judge returns the verdict of a run: the outcome, then (for a completed
// run) the observed topology against the requested one, the scenario's
// telemetry against the thresholds, and the exit code of the job's command.
// Thresholds merge in layers: defaults, then the job's, then override (the
// command line); nil layers are skipped.
func Judge(r *record.Run, override *record.Thresholds) *record.Verdict {
	v := &record.Verdict{RunID: r.ID, Subject: subject(r)}
	v.Checks = append(v.Checks, Outcome(r))
	if r.Outcome == record.OutcomeCompleted {
		if r.Job != nil && r.Job.Topology != nil {
			v.Checks = append(v.Checks, Topology(r.Job.Topology, r.ObservedTopology)...)
		}
		if r.Job != nil && r.Job.Scheduler != nil {
			v.Checks = append(v.Checks, Scheduler(r)...)
		}
		if r.Job != nil && len(r.Job.BPFObjects) > 0 {
			v.Checks = append(v.Checks, BPFObjects(r)...)
		}
		if r.Job != nil && len(r.Job.Scenario) > 0 {
			// The planner resolved the same layers with the same Merge
			// (plan.Resolved.Limits); the judge adds its own, override.
			limits := Merge(r.Job.Thresholds, override)
			v.Checks = append(v.Checks, Scenario(r, limits)...)
			v.Checks = append(v.Checks, Payloads(r, limits)...)
			v.Checks = append(v.Checks, Monitor(r, limits)...)
		}
		if r.Job != nil && r.Job.Exec != "" {
			v.Checks = append(v.Checks, Exec(r.Exec))
		}
	}
	v.Status = Combine(v.Checks)
	// A known bug names a failure; a run that passed shows none.
	if v.Status != record.StatusFail {
		return v
	}
	if bug := knownbug.Match(r, v.Checks); bug != nil {
		v.KnownBug = bug.Name
		// Named on the first failed check: the outcome of a death, the
		// failed judgement of a living scheduler.
		for i := range v.Checks {
			if v.Checks[i].Status == record.StatusFail {
				v.Checks[i].Detail += "; known bug: " + bug.Name
				break
			}
		}
	}
	return v
}

func subject(r *record.Run) string {
	if r.Job == nil {
		return r.ID
	}
	if r.Job.ID != "" {
		return r.Job.ID
	}
	if r.Job.Topology != nil {
		return r.Job.Topology.Name
	}
	return r.ID
}

// Combine is the verdict status of checks: fail if any failed, else error,
// else inconclusive, else pass (skip only when every check was skipped).
func Combine(checks []record.Check) record.Status {
	has := map[record.Status]bool{}
	for _, c := range checks {
		has[c.Status] = true
	}
	for _, s := range []record.Status{record.StatusFail, record.StatusError, record.StatusInconclusive, record.StatusPass} {
		if has[s] {
			return s
		}
	}
	return record.StatusSkip
}

// Outcome passes a completed run and fails any other, with the reason and,
// where there is one, the last console line.
func Outcome(r *record.Run) record.Check {
	c := record.Check{Name: "outcome", Value: string(r.Outcome), Limit: string(record.OutcomeCompleted), Status: record.StatusPass}
	if r.Outcome != record.OutcomeCompleted {
		c.Status = record.StatusFail
		c.Detail = r.Reason
		if r.Outcome == record.OutcomeInterrupted {
			c.Status = record.StatusError
		}
		if r.ConsoleLog != "" {
			c.Detail += fmt.Sprintf(" (console: %s)", r.ConsoleLog)
		}
	}
	return c
}

// Scheduler checks that the job's scheduler attached and stayed attached,
// and reports its BPF programs' verifier cost against the 1M budget
// (a warning from 75 %).
func Scheduler(r *record.Run) []record.Check {
	s := r.Scheduler
	if s == nil {
		return []record.Check{{Name: "scheduler", Status: record.StatusFail, Detail: "the guest reported nothing about the scheduler"}}
	}
	att := record.Check{Name: "scheduler.attached", Status: record.StatusPass, Value: s.Attached, Limit: true}
	if !s.Attached {
		att.Status, att.Detail = record.StatusFail, s.Reason
	} else {
		att.Detail = fmt.Sprintf("enabled after %.2fs", s.AttachS)
	}
	alive := record.Check{Name: "scheduler.alive", Status: record.StatusPass, Value: !s.Died, Limit: true}
	if s.Died {
		alive.Status, alive.Detail = record.StatusFail, fmt.Sprintf("died at +%.1fs: %s", s.DiedAtS, s.Reason)
	}
	checks := []record.Check{att, alive}
	if len(s.Programs) > 0 {
		checks = append(checks, verifierCost("bpf.verified_insns", s.Programs, fmt.Sprintf("%d programs", len(s.Programs))))
	}
	return checks
}

// BPFObjects checks that every object passed the verifier, with each
// program's cost against the 1M budget.
func BPFObjects(r *record.Run) []record.Check {
	var checks []record.Check
	for _, want := range r.Job.BPFObjects {
		name := fmt.Sprintf("bpf_object[%s]", filepath.Base(want))
		i := slices.IndexFunc(r.BPFObjects, func(o record.BPFObject) bool { return o.Path == want })
		if i < 0 {
			checks = append(checks, record.Check{Name: name, Status: record.StatusFail, Detail: "the guest reported nothing for it"})
			continue
		}
		o := r.BPFObjects[i]
		if o.Error != "" {
			checks = append(checks, record.Check{Name: name, Status: record.StatusFail, Detail: o.Error})
			continue
		}
		checks = append(checks, verifierCost(name, o.Programs, fmt.Sprintf("%d programs verified", len(o.Programs))))
	}
	return checks
}

// verifierCost is a passing check whose value is the largest verified
// instruction count of progs, with a warning naming the programs at or
// above the warning fraction of the 1M budget.
func verifierCost(name string, progs []record.BPFProgram, detail string) record.Check {
	var worst uint32
	var near []string
	for _, p := range progs {
		worst = max(worst, p.VerifiedInsns)
		if bpfverifier.NearLimit(p.VerifiedInsns) {
			near = append(near, fmt.Sprintf("%s %d", p.Name, p.VerifiedInsns))
		}
	}
	c := record.Check{Name: name, Status: record.StatusPass, Value: worst, Limit: bpfverifier.InsnLimit, Detail: detail}
	if len(near) > 0 {
		c.Detail += fmt.Sprintf("; warning: ≥ %.0f%% of the limit: %s", bpfverifier.WarnFraction*100, strings.Join(near, ", "))
	}
	return c
}

// Exec fails a job command that exited non-zero.
func Exec(e *record.ExecResult) record.Check {
	c := record.Check{Name: "exec.exit_code", Limit: 0, Status: record.StatusPass}
	if e == nil {
		c.Status, c.Detail = record.StatusFail, "the agent reported no result for the command"
		return c
	}
	c.Value = e.ExitCode
	if e.ExitCode != 0 {
		c.Status = record.StatusFail
		c.Detail = fmt.Sprintf("%q exited %d; stderr: %s", e.Command, e.ExitCode, lastLine(e.Stderr))
	}
	return c
}

// Topology compares what the guest kernel saw with what was asked for:
// CPU count, LLC groups, node cpu lists, SMT groups and distances.
func Topology(want, got *record.Topology) []record.Check {
	if got == nil {
		return []record.Check{{Name: "topology", Status: record.StatusFail, Detail: "the guest reported no topology"}}
	}
	var llcWant, llcGot, nodeWant, nodeGot []string
	for _, g := range want.LLCGroups {
		llcWant = append(llcWant, g.CPUs)
	}
	for _, g := range got.LLCGroups {
		llcGot = append(llcGot, g.CPUs)
	}
	for _, n := range want.Nodes {
		nodeWant = append(nodeWant, n.CPUs)
	}
	for _, n := range got.Nodes {
		nodeGot = append(nodeGot, n.CPUs)
	}
	return []record.Check{
		equal("topology.cpus", want.CPUs, got.CPUs),
		equal("topology.llc_groups", strings.Join(llcWant, " "), strings.Join(llcGot, " ")),
		equal("topology.numa_nodes", strings.Join(nodeWant, " "), strings.Join(nodeGot, " ")),
		equal("topology.smt_groups", strings.Join(want.SMTGroups, " "), strings.Join(got.SMTGroups, " ")),
		equal("topology.distances", fmt.Sprint(want.Distances), fmt.Sprint(got.Distances)),
	}
}

// equal passes when the guest's value equals the requested one.
func equal(name string, want, got any) record.Check {
	c := record.Check{Name: name, Value: got, Limit: want, Status: record.StatusPass}
	if !reflect.DeepEqual(want, got) {
		c.Status = record.StatusFail
		c.Detail = fmt.Sprintf("guest has %v, requested %v", got, want)
	}
	return c
}

// Failed returns the checks that did not pass or skip.
func Failed(checks []record.Check) []record.Check {
	return slices.DeleteFunc(slices.Clone(checks), func(c record.Check) bool {
		return c.Status == record.StatusPass || c.Status == record.StatusSkip
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
