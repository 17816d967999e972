package plan

import (
	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

// Resolved is a job as Complete leaves it: the job record as planned —
// what --plan writes; nothing changes it after — and what running it
// needs from it, decoded and merged once, here. The runner and bare metal
// run a Resolved; the guest gets AsRun's record, which carries the
// resolved values the agent needs (its timeout and stall limit).
type Resolved struct {
	// Job is the complete job record.
	Job *record.Job
	// Scenario is Job.Scenario decoded; nil when the job has none.
	Scenario *scenario.Scenario
	// Limits are the job's check limits merged over the defaults: its
	// layer, which carries its scheduler's under its own (Expand).
	Limits record.Thresholds
	// StallAfterMS is how long no worker may make progress before the
	// agent stops the scenario: the job's own, else the merged gap limit
	// (0: never). Milliseconds as in the record, so that the record the
	// guest gets says exactly what was resolved.
	StallAfterMS float64
}

// Resolve decodes and merges what running j needs (see Resolved). It is
// where the host decodes a job's scenario: a scenario that does not decode
// is a usage error (cli.ErrUsage), never passed over.
func Resolve(j *record.Job) (*Resolved, error) {
	sc, err := decodeScenario(j)
	if err != nil {
		return nil, err
	}
	return resolved(j, sc), nil
}

// decodeScenario is j's scenario decoded, nil when it has none.
func decodeScenario(j *record.Job) (*scenario.Scenario, error) {
	if len(j.Scenario) == 0 {
		return nil, nil
	}
	sc, err := scenario.Parse(j.Scenario)
	if err != nil {
		return nil, cli.Usage(err)
	}
	return sc, nil
}

// resolved is j with its decoded scenario sc and the limits merged.
func resolved(j *record.Job, sc *scenario.Scenario) *Resolved {
	r := &Resolved{Job: j, Scenario: sc, Limits: verdict.Merge(j.Thresholds), StallAfterMS: j.StallAfterMS}
	// The agent stops a scenario in which every worker is stuck for longer
	// than the gap limit: the verdict is a failed check in seconds, not the
	// kernel's watchdog 30 s later.
	if r.StallAfterMS == 0 && r.Limits.MaxGapMS != nil {
		r.StallAfterMS = *r.Limits.MaxGapMS
	}
	return r
}

// Machine is what a job's derived timeout depends on besides the job:
// where its VM runs, known when it starts.
type Machine struct {
	// Accel and TCGThreads are the accelerator and TCG's threading mode
	// (vm.AccelTCG, vm.TCGMulti, ...).
	Accel, TCGThreads string
	// HostCPUs are the CPUs the vCPUs share.
	HostCPUs int
	// Load stretches the timeout on a host busy with other work (a factor
	// of at least 1; less counts as 1).
	Load float64
}

// TimeoutS is how long the job's VM may run on m, in seconds: the job's
// own timeout, else boot estimate + its duration and its scenario's
// payload waits (scaled for overcommitted vCPUs) + a margin, stretched by
// m.Load. Seconds as in the record, so that the run record and the guest
// say exactly the timeout the host enforces.
func (r *Resolved) TimeoutS(m Machine) float64 {
	var waitsS float64
	if r.Scenario != nil {
		// A hung payload must be killed and reported by the agent before
		// the VM's timeout.
		waitsS = r.Scenario.PayloadWaits().Seconds()
	}
	return timeoutS(r.Job, waitsS, m)
}

// timeoutS is j's timeout on m with waitsS of payload waits beyond its
// duration: the one estimate of it (Resolved.TimeoutS when the VM starts,
// the planner's sanity check before).
func timeoutS(j *record.Job, waitsS float64, m Machine) float64 {
	if j.TimeoutS != 0 {
		return j.TimeoutS
	}
	cpus := j.Topology.CPUs
	bootS := vm.BootEstimateS(m.Accel, m.TCGThreads, cpus, m.HostCPUs)
	return vm.DefaultTimeoutS(bootS, j.DurationS+waitsS, cpus, m.HostCPUs) * max(1, m.Load)
}

// AsRun is the job as it runs, with timeoutS (TimeoutS on the machine it
// runs on) as its timeout and the resolved stall limit: the record the
// guest is given and the run record carries. Job is left as planned.
func (r *Resolved) AsRun(timeoutS float64) *record.Job {
	c := *r.Job
	c.TimeoutS, c.StallAfterMS = timeoutS, r.StallAfterMS
	return &c
}
