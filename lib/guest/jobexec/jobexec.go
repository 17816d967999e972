// Package jobexec runs the part of a job that is the same wherever it
// runs: it starts the job's sched_ext scheduler and waits until it
// attaches (once more, with the kernel's enable helper pinned, for a
// scheduler that needs it), runs the job's scenario under it with the
// scenario engine, and stops the scheduler, collecting its story. The
// agent runs it in the guest (lib/guest/agent) and reports through protocol
// messages; lib/baremetal runs it on the host and reports into the run
// record's fields: both give a Sink. What differs between them — where the
// scheduler's binary is, where the scenario's cgroups go, what else runs
// under the scheduler — is the caller's Env.
package jobexec

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/guest/engine"
	"github.com/ktstr-go/ktstr/lib/guest/livesched"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// AttachTimeout bounds how long a scheduler may take to load and enable,
// in the guest and on bare metal alike: BPF verification is slow under TCG
// (the fixture's verify-loop knob walks the verifier's 1M-instruction
// limit twice, ~30 s there), and a scheduler that attaches late on a
// loaded host is late, not broken, wherever it runs. A scheduler that
// fails exits and is reported at once; only a loader that hangs waits this
// long. The guest bounds the wait further by what is left of its job's
// timeout (Env.AttachBudget).
const AttachTimeout = 180 * time.Second

// enableHelper is the kernel thread that enables a sched_ext scheduler
// (Linux 6.12 runs ops.init on it); see sched.Definition.EnableHelperCPU.
const enableHelper = "scx_ops_enable_helper"

// scheduler is a started scheduler: a *livesched.Runner, or a test's fake.
type scheduler interface {
	WaitAttached(timeout time.Duration) error
	SetRetried(why string)
	State() *record.SchedulerRun
	Watch()
	Stop() *record.SchedulerRun
}

// machinery is what Run drives: the live scheduler, the kernel's threads
// and the scenario engine. Tests replace it to run jobs without a kernel.
type machinery struct {
	start  func(binary string, args []string, ops string, env ...string) (scheduler, error)
	pin    func(comm string, cpu int) int
	engine func(context.Context, *scenario.Scenario, engine.Env) *record.ScenarioResult
}

var sys = machinery{start: startLive, pin: livesched.PinKthreads, engine: engine.Run}

// startLive is livesched.Start as a scheduler (no typed nil on error).
func startLive(binary string, args []string, ops string, env ...string) (scheduler, error) {
	r, err := livesched.Start(binary, args, ops, env...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Sink receives what an execution reports, as it happens.
type Sink interface {
	// Scheduler is the scheduler's story: when it failed to start or to
	// attach (its last report then), when it attached (so that a run that
	// later times out still tells whether and when), and its final state
	// once stopped.
	Scheduler(*record.SchedulerRun)
	// Scenario is the scenario's result.
	Scenario(*record.ScenarioResult)
	// Error is a failure the execution went on after ("scenario: ...").
	Error(text string)
	// Logf is a progress line.
	Logf(format string, args ...any)
}

// Job is what one execution runs.
type Job struct {
	// Scheduler is the sched_ext scheduler; nil runs under the kernel's own.
	Scheduler *record.Scheduler
	// Scenario runs under the scheduler (nil: none). ScenarioErr, when
	// set, is why the job's scenario did not decode: reported where the
	// scenario would have run.
	Scenario    *scenario.Scenario
	ScenarioErr error
	Duration    time.Duration
	// Workers is the scenario's default workers per cgroup.
	Workers int
	// StallAfter stops the scenario when no worker has made progress for
	// this long (0: never).
	StallAfter time.Duration
}

// FromRecord is the execution of the job record j as the agent gets it:
// resolved on the host (plan.Resolved.AsRun), its scenario decoded here.
func FromRecord(j *record.Job) Job {
	x := Job{Scheduler: j.Scheduler, Workers: j.Workers,
		Duration:   time.Duration(j.DurationS * float64(time.Second)),
		StallAfter: time.Duration(j.StallAfterMS * float64(time.Millisecond))}
	if len(j.Scenario) > 0 {
		x.Scenario, x.ScenarioErr = scenario.Parse(j.Scenario)
	}
	return x
}

// Env is where an execution runs.
type Env struct {
	// Exe is this binary: the fixture scheduler's executable (in
	// role.Fixture) and the workers'.
	Exe string
	// SchedulerBinary finds a scheduler's executable (the fixture's is
	// Exe); its error is the scheduler's death.
	SchedulerBinary func(*record.Scheduler) (string, error)
	// AttachBudget bounds the wait for the scheduler to attach (0:
	// AttachTimeout).
	AttachBudget time.Duration
	// Cgroups gives the scenario's cgroup root, asked for when the
	// scenario starts, under the attached scheduler.
	Cgroups func() (*cgroup.Manager, error)
	// Topology is the topology the scenario runs on.
	Topology *record.Topology
	// Start is what the scenario's times count from (the agent's start);
	// zero: the scenario's own start.
	Start time.Time
	// Under, if set, runs after the scenario while the scheduler is still
	// attached (the guest's command and shell).
	Under func()
}

// Outcome is how an execution went.
type Outcome struct {
	// SchedulerFailed: the scheduler did not start or attach, and nothing
	// else of the job ran.
	SchedulerFailed bool
	// ScenarioStart and ScenarioEnd are when the scenario ran (zero when
	// it did not).
	ScenarioStart, ScenarioEnd time.Time
}

// Run executes j in env: the scheduler, the scenario under it, env.Under,
// the scheduler's stop. Everything it finds is reported to sink; the
// outcome says whether the job ran and when its scenario did.
func Run(ctx context.Context, j Job, env Env, sink Sink) Outcome {
	var out Outcome
	if j.Scheduler != nil {
		r := startScheduler(j.Scheduler, env, sink)
		if r == nil {
			out.SchedulerFailed = true
			return out
		}
		// Deferred: a job that panics still stops its scheduler and says
		// how it ended.
		defer func() { sink.Scheduler(r.Stop()) }()
	}
	if j.Scenario != nil || j.ScenarioErr != nil {
		out.ScenarioStart, out.ScenarioEnd = runScenario(ctx, j, env, sink)
	}
	if env.Under != nil {
		env.Under()
	}
	return out
}

// startScheduler starts s and waits until sched_ext reports it enabled; a
// first attach that fails is retried once with the enable helper pinned
// when s names its CPU. It returns the attached scheduler, or nil after
// reporting why there is none.
func startScheduler(s *record.Scheduler, env Env, sink Sink) scheduler {
	bin, extra, err := binary(s, env)
	if err != nil {
		sink.Scheduler(&record.SchedulerRun{Died: true, Reason: err.Error()})
		return nil
	}
	budget := env.AttachBudget
	if budget <= 0 {
		budget = AttachTimeout
	}
	sink.Logf("starting scheduler %s (%s %s)", s.Name, bin, strings.Join(s.Args, " "))
	r, err := sys.start(bin, s.Args, s.Ops, extra...)
	if err != nil {
		sink.Scheduler(&record.SchedulerRun{Died: true, Reason: err.Error()})
		return nil
	}
	err = r.WaitAttached(budget)
	if err != nil && s.EnableHelperCPU != nil {
		first := r.Stop()
		n := sys.pin(enableHelper, *s.EnableHelperCPU)
		why := fmt.Sprintf("first attach failed (%s); pinned %d %s kthread(s) to CPU %d and retried", first.Reason, n, enableHelper, *s.EnableHelperCPU)
		sink.Logf("%s", why)
		if r, err = sys.start(bin, s.Args, s.Ops, extra...); err == nil {
			r.SetRetried(why)
			err = r.WaitAttached(budget)
		}
		if r == nil {
			sink.Scheduler(&record.SchedulerRun{Died: true, Reason: err.Error(), Retried: why})
			return nil
		}
	}
	if err != nil {
		sink.Scheduler(r.Stop())
		return nil
	}
	sink.Logf("scheduler %s attached", s.Name)
	sink.Scheduler(r.State())
	r.Watch()
	return r
}

// binary is s's executable and the environment it needs: this binary in
// the fixture's role for the fixture, else what env finds.
func binary(s *record.Scheduler, env Env) (string, []string, error) {
	if s.Binary == sched.FixtureBinary {
		return env.Exe, []string{role.Environ(role.Fixture)}, nil
	}
	bin, err := env.SchedulerBinary(s)
	return bin, nil, err
}

// runScenario runs j's scenario in the cgroups env gives, reporting its
// result (or why it could not run), and returns when it ran.
func runScenario(ctx context.Context, j Job, env Env, sink Sink) (start, end time.Time) {
	if j.ScenarioErr != nil {
		sink.Error("scenario: " + j.ScenarioErr.Error())
		return
	}
	cg, err := env.Cgroups()
	if err != nil {
		sink.Error("scenario: " + err.Error())
		return
	}
	sink.Logf("scenario %s: %.1fs, %d workers per cgroup", j.Scenario.Name, j.Duration.Seconds(), j.Workers)
	start = time.Now()
	origin := env.Start
	if origin.IsZero() {
		origin = start
	}
	res := sys.engine(ctx, j.Scenario, engine.Env{
		Exe: env.Exe, Cgroups: cg, Topology: env.Topology, Duration: j.Duration,
		Workers: j.Workers, AgentStart: origin, Logf: sink.Logf,
		StallAfter: j.StallAfter, Dump: livesched.RequestDump,
	})
	end = time.Now()
	sink.Scenario(res)
	return start, end
}
