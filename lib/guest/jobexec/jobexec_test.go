package jobexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/guest/engine"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// events is what happened, in order: the fake sink's reports and the fake
// machinery's calls.
type events []string

func (e *events) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

// sink records every report.
type sink struct {
	ev        *events
	scheduler []*record.SchedulerRun
}

func (s *sink) Scheduler(r *record.SchedulerRun) {
	s.scheduler = append(s.scheduler, r)
	s.ev.add("scheduler attached=%v died=%v reason=%q retried=%q", r.Attached, r.Died, r.Reason, r.Retried)
}
func (s *sink) Scenario(r *record.ScenarioResult) { s.ev.add("scenario %s", r.Name) }
func (s *sink) Error(text string)                 { s.ev.add("error %s", text) }
func (s *sink) Logf(format string, args ...any)   { s.ev.add("log "+format, args...) }

// fakeScheduler is one start of a scheduler: it attaches, or fails to
// with the reason in fail.
type fakeScheduler struct {
	ev      *events
	attempt int
	fail    string
	run     record.SchedulerRun
}

func (f *fakeScheduler) WaitAttached(timeout time.Duration) error {
	f.ev.add("wait %d %s", f.attempt, timeout)
	if f.fail != "" {
		f.run.Died, f.run.Reason = true, f.fail
		return errors.New(f.fail)
	}
	f.run.Attached, f.run.Ops = true, "fake"
	return nil
}

func (f *fakeScheduler) SetRetried(why string)       { f.run.Retried = why }
func (f *fakeScheduler) State() *record.SchedulerRun { r := f.run; return &r }
func (f *fakeScheduler) Watch()                      { f.ev.add("watch %d", f.attempt) }

func (f *fakeScheduler) Stop() *record.SchedulerRun {
	f.ev.add("stop %d", f.attempt)
	r := f.run
	return &r
}

// fake replaces the machinery for a test: attempts are the scheduler
// starts' outcomes ("start error: ..." fails the start itself, another
// non-empty text the attach, "" attaches); the engine returns a result
// named after the scenario, or panics with panicText.
type fake struct {
	ev        events
	attempts  []string
	starts    int
	env       engine.Env
	panicText string
}

func (f *fake) install(t *testing.T) {
	t.Helper()
	old := sys
	t.Cleanup(func() { sys = old })
	sys = machinery{
		start: func(bin string, args []string, ops string, env ...string) (scheduler, error) {
			f.starts++
			f.ev.add("start %d %s %v ops=%s %v", f.starts, bin, args, ops, env)
			outcome := ""
			if f.starts <= len(f.attempts) {
				outcome = f.attempts[f.starts-1]
			}
			if strings.HasPrefix(outcome, "start error: ") {
				return nil, errors.New(outcome)
			}
			return &fakeScheduler{ev: &f.ev, attempt: f.starts, fail: outcome}, nil
		},
		pin: func(comm string, cpu int) int { f.ev.add("pin %s %d", comm, cpu); return 1 },
		engine: func(ctx context.Context, s *scenario.Scenario, env engine.Env) *record.ScenarioResult {
			f.env = env
			f.ev.add("engine %s", s.Name)
			if f.panicText != "" {
				panic(f.panicText)
			}
			return &record.ScenarioResult{Name: s.Name}
		},
	}
}

func testEnv(f *fake) Env {
	return Env{
		Exe:             "/self",
		SchedulerBinary: func(s *record.Scheduler) (string, error) { return "/include/" + s.Binary, nil },
		Cgroups:         func() (*cgroup.Manager, error) { f.ev.add("cgroups"); return &cgroup.Manager{}, nil },
		Topology:        &record.Topology{Name: "1n1l2c1t"},
		Under:           func() { f.ev.add("under") },
	}
}

func testScenario() *scenario.Scenario { return &scenario.Scenario{Name: "s"} }

func check(t *testing.T, got events, want ...string) {
	t.Helper()
	if !reflect.DeepEqual([]string(got), want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestRunWithoutScheduler: the scenario runs in the cgroups env gives, on
// env's topology and clock, then Under; nothing of a scheduler.
func TestRunWithoutScheduler(t *testing.T) {
	f := &fake{}
	f.install(t)
	env := testEnv(f)
	env.Start = time.Unix(1000, 0)
	s := &sink{ev: &f.ev}
	out := Run(context.Background(), Job{Scenario: testScenario(), Duration: 3 * time.Second, Workers: 2, StallAfter: 2 * time.Second}, env, s)
	check(t, f.ev, "cgroups", "log scenario s: 3.0s, 2 workers per cgroup", "engine s", "scenario s", "under")
	if out.SchedulerFailed || out.ScenarioStart.IsZero() || out.ScenarioEnd.Before(out.ScenarioStart) {
		t.Errorf("outcome %+v", out)
	}
	e := f.env
	if e.Exe != "/self" || e.Topology.Name != "1n1l2c1t" || e.Duration != 3*time.Second || e.Workers != 2 ||
		e.StallAfter != 2*time.Second || !e.AgentStart.Equal(env.Start) || e.Dump == nil || e.Logf == nil || e.Cgroups == nil {
		t.Errorf("engine env %+v", e)
	}
}

// TestScenarioClockDefaultsToItsStart: without env.Start (bare metal), the
// scenario's times count from its own start.
func TestScenarioClockDefaultsToItsStart(t *testing.T) {
	f := &fake{}
	f.install(t)
	out := Run(context.Background(), Job{Scenario: testScenario()}, testEnv(f), &sink{ev: &f.ev})
	if !f.env.AgentStart.Equal(out.ScenarioStart) {
		t.Errorf("engine clock %v, scenario start %v", f.env.AgentStart, out.ScenarioStart)
	}
}

// TestRunUnderScheduler: the scheduler attaches (reported at once), the
// scenario and Under run under it, and its final state is reported after.
func TestRunUnderScheduler(t *testing.T) {
	f := &fake{}
	f.install(t)
	env := testEnv(f)
	env.AttachBudget = 7 * time.Second
	s := &sink{ev: &f.ev}
	Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "scx_simple", Binary: "/cache/scx_simple", Args: []string{"-f"}, Ops: "simple"}, Scenario: testScenario()}, env, s)
	check(t, f.ev,
		"log starting scheduler scx_simple (/include//cache/scx_simple -f)",
		"start 1 /include//cache/scx_simple [-f] ops=simple []",
		"wait 1 7s",
		"log scheduler scx_simple attached",
		`scheduler attached=true died=false reason="" retried=""`,
		"watch 1",
		"cgroups", "log scenario s: 0.0s, 0 workers per cgroup", "engine s", "scenario s",
		"under",
		"stop 1",
		`scheduler attached=true died=false reason="" retried=""`)
}

// TestAttachFailureRunsNothing: a scheduler that does not attach within
// AttachTimeout (no budget given) is stopped and reported; no scenario, no
// Under.
func TestAttachFailureRunsNothing(t *testing.T) {
	f := &fake{attempts: []string{"not attached within 3m0s"}}
	f.install(t)
	s := &sink{ev: &f.ev}
	out := Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "x", Binary: "x"}, Scenario: testScenario()}, testEnv(f), s)
	check(t, f.ev,
		"log starting scheduler x (/include/x )",
		"start 1 /include/x [] ops= []",
		"wait 1 3m0s",
		"stop 1",
		`scheduler attached=false died=true reason="not attached within 3m0s" retried=""`)
	if !out.SchedulerFailed {
		t.Error("the outcome does not say the scheduler failed")
	}
}

// TestAttachRetriedWithHelperPinned: a scheduler that names the enable
// helper's CPU gets a second attach with the helper pinned there, and its
// story says why — in the guest and on bare metal alike.
func TestAttachRetriedWithHelperPinned(t *testing.T) {
	cpu := 0
	f := &fake{attempts: []string{"exited with code 1 before attaching", ""}}
	f.install(t)
	s := &sink{ev: &f.ev}
	Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "scx_central", Binary: "scx_central", EnableHelperCPU: &cpu}}, testEnv(f), s)
	why := "first attach failed (exited with code 1 before attaching); pinned 1 scx_ops_enable_helper kthread(s) to CPU 0 and retried"
	check(t, f.ev,
		"log starting scheduler scx_central (/include/scx_central )",
		"start 1 /include/scx_central [] ops= []",
		"wait 1 3m0s",
		"stop 1",
		"pin scx_ops_enable_helper 0",
		"log "+why,
		"start 2 /include/scx_central [] ops= []",
		"wait 2 3m0s",
		"log scheduler scx_central attached",
		`scheduler attached=true died=false reason="" retried="`+why+`"`,
		"watch 2",
		"under",
		"stop 2",
		`scheduler attached=true died=false reason="" retried="`+why+`"`)
}

// TestRetryThatCannotStart: when the second start fails, the story is the
// start's error with why it was retried.
func TestRetryThatCannotStart(t *testing.T) {
	cpu := 1
	f := &fake{attempts: []string{"died", "start error: no such file"}}
	f.install(t)
	s := &sink{ev: &f.ev}
	out := Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "c", Binary: "c", EnableHelperCPU: &cpu}}, testEnv(f), s)
	last := s.scheduler[len(s.scheduler)-1]
	if !out.SchedulerFailed || len(s.scheduler) != 1 || !last.Died || last.Reason != "start error: no such file" || !strings.HasPrefix(last.Retried, "first attach failed (died)") {
		t.Errorf("outcome %+v, reports %+v", out, s.scheduler)
	}
}

// TestSchedulerBinaries: the fixture is this binary in its role; another
// scheduler is what env finds, and an error finding it is its death.
func TestSchedulerBinaries(t *testing.T) {
	f := &fake{}
	f.install(t)
	Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "ktstr-fixture", Binary: sched.FixtureBinary, Args: []string{"--stall-after=300"}, Ops: "ktstr"}}, testEnv(f), &sink{ev: &f.ev})
	if want := fmt.Sprintf("start 1 /self [--stall-after=300] ops=ktstr [%s]", role.Environ(role.Fixture)); f.ev[1] != want {
		t.Errorf("fixture start %q, want %q", f.ev[1], want)
	}

	f = &fake{}
	f.install(t)
	env := testEnv(f)
	env.SchedulerBinary = func(s *record.Scheduler) (string, error) {
		return "", fmt.Errorf("scheduler %s: not found in $PATH", s.Binary)
	}
	s := &sink{ev: &f.ev}
	out := Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "mine", Binary: "mine"}, Scenario: testScenario()}, env, s)
	check(t, f.ev, `scheduler attached=false died=true reason="scheduler mine: not found in $PATH" retried=""`)
	if !out.SchedulerFailed {
		t.Error("a scheduler that cannot be found did not fail the execution")
	}
}

// TestScenarioThatCannotRun: a scenario that did not decode, or whose
// cgroups cannot be made, is an error; the rest of the job goes on.
func TestScenarioThatCannotRun(t *testing.T) {
	f := &fake{}
	f.install(t)
	Run(context.Background(), Job{ScenarioErr: errors.New("bad json")}, testEnv(f), &sink{ev: &f.ev})
	check(t, f.ev, "error scenario: bad json", "under")

	f = &fake{}
	f.install(t)
	env := testEnv(f)
	env.Cgroups = func() (*cgroup.Manager, error) { return nil, errors.New("no cgroup2") }
	Run(context.Background(), Job{Scenario: testScenario()}, env, &sink{ev: &f.ev})
	check(t, f.ev, "error scenario: no cgroup2", "under")
}

// TestPanicStillStopsTheScheduler: a job that panics under its scheduler
// stops it and reports its last state before the panic goes on.
func TestPanicStillStopsTheScheduler(t *testing.T) {
	f := &fake{panicText: "boom"}
	f.install(t)
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v", r)
		}
		if n := len(f.ev); n < 2 || f.ev[n-2] != "stop 1" {
			t.Errorf("events %v: the scheduler was not stopped", f.ev)
		}
	}()
	Run(context.Background(), Job{Scheduler: &record.Scheduler{Name: "x", Binary: "x"}, Scenario: testScenario()}, testEnv(f), &sink{ev: &f.ev})
}

// TestFromRecord: the job record's duration, workers, stall limit and
// scheduler, and its scenario decoded (or why not).
func TestFromRecord(t *testing.T) {
	raw := json.RawMessage(`{"name": "s", "steps": [{"cgroups": [{"name": "a"}]}]}`)
	s := &record.Scheduler{Name: "x"}
	j := FromRecord(&record.Job{DurationS: 2.5, Workers: 3, StallAfterMS: 1500, Scheduler: s, Scenario: raw})
	if j.Duration != 2500*time.Millisecond || j.Workers != 3 || j.StallAfter != 1500*time.Millisecond || j.Scheduler != s ||
		j.Scenario == nil || j.Scenario.Name != "s" || j.ScenarioErr != nil {
		t.Errorf("job %+v", j)
	}
	if j := FromRecord(&record.Job{}); j.Scenario != nil || j.ScenarioErr != nil {
		t.Errorf("no scenario: %+v", j)
	}
	if j := FromRecord(&record.Job{Scenario: json.RawMessage(`{"name": 3}`)}); j.Scenario != nil || j.ScenarioErr == nil {
		t.Errorf("a scenario that does not decode: %+v", j)
	}
}
