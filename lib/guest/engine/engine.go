// Package engine runs a scenario (lib/model/scenario) in the guest: it creates
// the cgroups, launches and releases the workers (lib/guest/worker),
// applies each step's operations, holds while watching the workers'
// progress for a stall and the guest for a strand (a worker waiting beside
// idle CPU time: strand.go), measures each step's idle time, and collects
// every worker's report into the scenario result.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/guest/worker"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// collectTimeout bounds how long stopped workers may take to report;
// collectGrace is how long a worker that shows no sign of stopping (the
// scheduler is not running it) is waited for before it is killed and
// reported as stuck: the run then ends in seconds, not when the kernel's
// sched_ext watchdog (30 s) gives up on the scheduler.
const (
	collectTimeout = 10 * time.Second
	collectGrace   = 2 * time.Second
	// watchEvery is how often a hold looks at the workers' progress.
	watchEvery = 100 * time.Millisecond
)

// Env is what the engine needs from the guest.
type Env struct {
	// Exe is the binary workers re-execute (the agent's /init).
	Exe      string
	Cgroups  *cgroup.Manager
	Topology *record.Topology
	Duration time.Duration
	Workers  int
	// AgentStart is the agent's start time; worker times are reported on
	// the agent's clock (seconds since AgentStart).
	AgentStart time.Time
	Logf       func(format string, args ...any)
	// StallAfter stops the scenario early when no worker has made
	// progress for longer than this (0: never); Dump is called then, and
	// during a strand, to have the kernel dump the scheduler's state, and
	// reports whether it did (nil: no strand watch either).
	StallAfter time.Duration
	Dump       func() bool
}

// live is a cgroup while the scenario runs.
type live struct {
	def     scenario.CgroupDef
	name    string // cgroup name under the manager; "" for host
	cpus    []int  // current cpuset, nil for none
	result  *record.CgroupResult
	workers []*worker.Worker
	movedTo []string // cgroups its tasks were moved into
	spawned int
	cohorts []int // cohort of each worker, parallel to workers
}

type engine struct {
	ctx     context.Context // the scenario's: ops that wait give up with it
	env     Env
	s       *scenario.Scenario
	rng     *rand.Rand
	cohort  int // launch batches, so fairness compares peers that ran together
	live    map[string]*live
	results []*record.CgroupResult
	errs    []string
	pauses  sync.WaitGroup
	stalled *record.Stall
	strands strandWatch
	// strandsSeen are the strands the watch reported, in order.
	strandsSeen []record.Strand
	start       time.Time
	// payloads are the payload processes by cgroup and name (the latest
	// started), started all of them in start order, payloadResults every
	// run_payload's result (those that failed to start too).
	payloads       map[string]*runningPayload
	started        []*runningPayload
	payloadResults []*record.PayloadResult
}

// Run runs s in the guest and returns what the workers measured. Errors of
// individual operations are recorded in the result and the scenario goes
// on; every worker is stopped and every cgroup removed before Run returns.
func Run(ctx context.Context, s *scenario.Scenario, env Env) *record.ScenarioResult {
	if env.Workers <= 0 {
		env.Workers = scenario.DefaultWorkers
	}
	if env.Logf == nil {
		env.Logf = func(string, ...any) {}
	}
	e := &engine{ctx: ctx, env: env, s: s, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), live: map[string]*live{}, payloads: map[string]*runningPayload{}}
	e.strands = strandWatch{times: cpuTimes, tasks: e.taskStates}
	res := &record.ScenarioResult{Name: s.Name, DurationS: env.Duration.Seconds(), StartT: time.Since(env.AgentStart).Seconds()}
	start := time.Now()
	e.start = start
	defer func() {
		if err := env.Cgroups.Cleanup(); err != nil {
			e.errf("cleanup: %v", err)
		}
	}()

	var fresh []*live
	for _, d := range scenario.Expand(s.Backdrop, env.Topology) {
		if l := e.create(d); l != nil {
			fresh = append(fresh, l)
		}
	}
	e.release(fresh)
	durations := s.StepDurations(env.Duration)
	for i, st := range s.Steps {
		sr := record.StepResult{Index: i, StartS: time.Since(start).Seconds()}
		for _, op := range st.Ops {
			e.apply(op)
			sr.Ops = append(sr.Ops, op.String())
		}
		fresh = nil
		for _, d := range scenario.Expand(st.Cgroups, env.Topology) {
			if l := e.create(d); l != nil {
				fresh = append(fresh, l)
			}
		}
		e.release(fresh)
		// The hold starts once the step's workers run: starting many
		// worker processes can take longer than a short step under TCG.
		sr.HoldT0 = time.Since(e.env.AgentStart).Seconds()
		idle0 := cpuIdle()
		e.hold(ctx, st, time.Now().Add(durations[i]))
		sr.HoldT1 = time.Since(e.env.AgentStart).Seconds()
		sr.IdleS = idleDelta(idle0, cpuIdle())
		sr.Looped = st.Hold.LoopS > 0 && len(st.Ops) > 0
		sr.EndS = time.Since(start).Seconds()
		res.Steps = append(res.Steps, sr)
		if ctx.Err() != nil {
			e.errf("interrupted in step %d", i)
			break
		}
		if e.stalled != nil {
			break
		}
	}
	res.Stalled = e.stalled
	res.Strands = e.strandsSeen
	// Payloads still running are killed first: the scenario is over.
	res.Payloads = e.finishPayloads()
	e.pauses.Wait()
	// Stop everyone at once, then collect: stopping one cgroup at a time
	// would hand the others the freed CPUs at the end of the run.
	var all []*live
	for _, r := range e.results {
		if l := e.live[r.Name]; l != nil && l.result == r {
			worker.Stop(l.workers)
			all = append(all, l)
		}
	}
	for _, l := range all {
		e.collect(l)
	}
	res.WallS = time.Since(start).Seconds()
	for _, r := range e.results {
		res.Cgroups = append(res.Cgroups, *r)
	}
	res.Errors = e.errs
	return res
}

func (e *engine) errf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.errs = append(e.errs, msg)
	e.env.Logf("scenario %s: %s", e.s.Name, msg)
}

// hold waits until end, repeating the step's ops every LoopS if set, and
// watching for a stall.
func (e *engine) hold(ctx context.Context, st scenario.Step, end time.Time) {
	every := time.Duration(st.Hold.LoopS * float64(time.Second))
	nextOps := time.Time{}
	if every > 0 {
		nextOps = time.Now().Add(every)
	}
	w := stallWatch{after: e.env.StallAfter, last: time.Now()}
	for {
		wake := time.Now().Add(watchEvery)
		if end.Before(wake) {
			wake = end
		}
		if !nextOps.IsZero() && nextOps.Before(wake) {
			wake = nextOps
		}
		select {
		case <-time.After(time.Until(wake)):
		case <-ctx.Done():
			return
		}
		now := time.Now()
		if !now.Before(end) {
			return
		}
		if st := w.check(now, e.running()); st != nil {
			e.stall(st)
			return
		}
		if e.env.Dump != nil {
			if r := e.strands.check(now); r != nil {
				e.strand(r)
			}
		}
		if !nextOps.IsZero() && !now.Before(nextOps) {
			for _, op := range st.Ops {
				e.apply(op)
			}
			nextOps = now.Add(every)
		}
	}
}

// running lists the released workers that publish progress.
func (e *engine) running() []*worker.Worker {
	var out []*worker.Worker
	for _, l := range e.live {
		for _, w := range l.workers {
			if !w.Started().IsZero() && w.Task.ProgressFD > 0 {
				out = append(out, w)
			}
		}
	}
	return out
}

// stallWatch decides when every worker has been stuck for longer than
// after. The agent's own ticks are the control: when they come late, the
// whole guest was frozen (under TCG: the host descheduled its vCPUs), and
// the workers' silence in that time proves nothing about the scheduler.
type stallWatch struct {
	after time.Duration
	last  time.Time // the previous tick
	since time.Time // the guest has run normally since then
}

func (w *stallWatch) check(now time.Time, ws []*worker.Worker) *record.Stall {
	lasts := make([]time.Time, len(ws))
	for i, wk := range ws {
		lasts[i] = later(wk.Progress().Last, wk.Started())
	}
	return w.checkTimes(now, lasts)
}

// checkTimes is check on each worker's last sign of life (its last
// progress, or its release if it never progressed).
func (w *stallWatch) checkTimes(now time.Time, lasts []time.Time) *record.Stall {
	late := now.Sub(w.last) > 5*watchEvery
	w.last = now
	if w.after <= 0 || len(lasts) == 0 {
		return nil
	}
	if late || w.since.IsZero() {
		w.since = now
	}
	var newest time.Time
	for _, t := range lasts {
		newest = later(newest, t)
	}
	quiet := now.Sub(later(newest, w.since))
	if quiet <= w.after {
		return nil
	}
	return &record.Stall{ForMS: float64(now.Sub(newest).Milliseconds()), Workers: len(lasts)}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stall ends the scenario early: every worker is stuck.
func (e *engine) stall(st *record.Stall) {
	st.AtS = time.Since(e.start).Seconds()
	if e.env.Dump != nil {
		st.Dump = e.env.Dump()
	}
	e.env.Logf("scenario %s: no worker made progress for %.0fms; stopping early (dump: %v)", e.s.Name, st.ForMS, st.Dump)
	e.stalled = st
}

// strand asks the kernel for a dump of the scheduler's state while a
// strand lasts (see strandWatch) and records it.
func (e *engine) strand(st *record.Strand) {
	st.AtS = time.Since(e.start).Seconds()
	st.Dump = e.env.Dump()
	e.strandsSeen = append(e.strandsSeen, *st)
	e.env.Logf("scenario %s: %.1f CPUs idle for %.1fs while %d tasks waited; sched_ext dump taken: %v",
		e.s.Name, st.IdleCPUs, st.ForS, st.Waiting, st.Dump)
}

// taskStates reads the kernel's view of every running worker's thread.
func (e *engine) taskStates() []taskState {
	var out []taskState
	for _, w := range e.running() {
		if runnable, ran, cpu, ok := w.RunState(); ok {
			out = append(out, taskState{id: w.Progress().TID, runnable: runnable, ran: ran, cpu: cpu})
		}
	}
	return out
}

// create makes a cgroup and launches its workers (not yet released).
func (e *engine) create(d scenario.CgroupDef) *live {
	l := &live{def: d, name: d.Name, result: &record.CgroupResult{Name: d.Name, Transient: d.Transient}}
	if d.Host {
		l.name = ""
		l.result.Unrestricted, l.result.Host = true, true
	} else {
		if _, err := e.env.Cgroups.Create(d.Name); err != nil {
			e.errf("%v", err)
			return nil
		}
		if d.Cpuset != nil {
			cpus, err := scenario.ResolveCpuset(d.Cpuset, e.env.Topology)
			if err == nil {
				err = e.env.Cgroups.SetCpus(d.Name, topology.FormatList(cpus))
			}
			if err != nil {
				e.errf("cgroup %s: %v", d.Name, err)
			}
			l.setCpus(cpus)
		} else {
			l.result.Unrestricted = true
		}
	}
	// A re-created cgroup gets a fresh result entry.
	e.live[d.Name] = l
	e.results = append(e.results, l.result)
	works := d.WorksResolved(e.env.Workers)
	if d.Works != nil && len(d.Works) == 0 {
		works = nil // an explicit empty list: a cgroup without workers
	}
	for _, w := range works {
		e.launch(l, w)
	}
	return l
}

func (l *live) setCpus(cpus []int) {
	l.cpus = cpus
	text := topology.FormatList(cpus)
	l.result.Cpuset = text
	l.result.CpusetHistory = append(l.result.CpusetHistory, text)
	if len(cpus) == 0 {
		l.result.Unrestricted = true
	}
}

func (e *engine) dir(l *live) string {
	if l.name == "" {
		return e.env.Cgroups.Mount
	}
	return e.env.Cgroups.Dir(l.name)
}

func (e *engine) launch(l *live, w workload.Spec) {
	allowed, err := e.env.Cgroups.EffectiveCPUs(l.name)
	if err != nil || len(allowed) == 0 {
		allowed = topology.Range(0, e.env.Topology.CPUs)
	}
	base := l.spawned
	affinity := func(i int) []int { return e.affinity(w.Affinity, allowed, base+i) }
	ws, err := worker.Launch(e.env.Exe, e.dir(l), l.def.Name, w, w.Workers, affinity, allowed)
	if err != nil {
		e.errf("cgroup %s: %v", l.def.Name, err)
		return
	}
	e.cohort++
	l.spawned += len(ws)
	l.workers = append(l.workers, ws...)
	for range ws {
		l.cohorts = append(l.cohorts, e.cohort)
	}
}

// release starts the workers of freshly created cgroups together (the
// second phase of the two-phase start).
func (e *engine) release(ls []*live) {
	for _, l := range ls {
		worker.Go(l.workers)
	}
}

// affinity resolves an affinity kind for worker i.
func (e *engine) affinity(a *workload.Affinity, allowed []int, i int) []int {
	if a == nil || len(allowed) == 0 {
		return nil
	}
	switch a.Kind {
	case "random_subset":
		perm := e.rng.Perm(len(allowed))
		n := max(1, len(allowed)/2)
		var out []int
		for _, p := range perm[:n] {
			out = append(out, allowed[p])
		}
		slices.Sort(out)
		return out
	case "llc_aligned":
		cpu := allowed[i%len(allowed)]
		for _, g := range e.env.Topology.LLCGroups {
			cpus, _ := topology.ParseList(g.CPUs)
			if slices.Contains(cpus, cpu) {
				var out []int
				for _, c := range cpus {
					if slices.Contains(allowed, c) {
						out = append(out, c)
					}
				}
				return out
			}
		}
		return []int{cpu}
	case "cross_cgroup":
		return topology.Range(0, e.env.Topology.CPUs)
	case "single_cpu":
		return []int{allowed[i%len(allowed)]}
	case "exact":
		cpus, _ := topology.ParseList(a.CPUs)
		return cpus
	}
	return nil
}

func (e *engine) collect(l *live) {
	reps := worker.Collect(l.workers, collectTimeout, collectGrace)
	agent := float64(e.env.AgentStart.UnixNano()) / 1e9
	for i := range reps {
		reps[i].Cohort = l.cohorts[i]
		if reps[i].MaxGapStartT > 0 {
			reps[i].MaxGapStartT -= agent
		}
		if reps[i].StartT > 0 {
			reps[i].StartT -= agent
			reps[i].StopT -= agent
		}
		if reps[i].Unreported {
			e.env.Logf("scenario %s: cgroup %s: worker %d stuck %.1fs at stop; killed", e.s.Name, l.def.Name, reps[i].PID, reps[i].StuckS)
		}
		if reps[i].Error != "" {
			e.errf("cgroup %s: worker %d: %s", l.def.Name, reps[i].PID, reps[i].Error)
		}
	}
	l.result.Workers = append(l.result.Workers, reps...)
	l.workers, l.cohorts = nil, nil
}

func (e *engine) need(op scenario.Op, name string) *live {
	l := e.live[name]
	if l == nil {
		e.errf("%s: no cgroup %s", op.Op, name)
	}
	return l
}

// apply performs one operation.
func (e *engine) apply(op scenario.Op) {
	switch op.Op {
	case scenario.OpAddCgroup:
		if l := e.create(*op.Def); l != nil {
			e.release([]*live{l})
		}
	case scenario.OpToggleCgroup:
		if e.live[op.Def.Name] != nil {
			e.remove(op.Def.Name)
		} else if l := e.create(*op.Def); l != nil {
			e.release([]*live{l})
		}
	case scenario.OpRemoveCgroup:
		if e.need(op, op.Cgroup) != nil {
			e.remove(op.Cgroup)
		}
	case scenario.OpSetCpuset, scenario.OpClearCpuset:
		l := e.need(op, op.Cgroup)
		if l == nil {
			return
		}
		var cpus []int // nil: cleared
		if op.Op == scenario.OpSetCpuset {
			var err error
			if cpus, err = scenario.ResolveCpuset(op.Cpuset, e.env.Topology); err != nil {
				e.errf("%s %s: %v", op.Op, op.Cgroup, err)
				return
			}
		}
		e.setCpus(l, cpus)
	case scenario.OpSwapCpusets:
		a, b := e.need(op, op.Cgroup), e.need(op, op.Other)
		if a == nil || b == nil {
			return
		}
		ac, bc := a.cpus, b.cpus
		e.setCpus(a, bc)
		e.setCpus(b, ac)
	case scenario.OpSpawn:
		l := e.need(op, op.Cgroup)
		if l == nil {
			return
		}
		w := *op.Work
		if w.Workers == 0 {
			w.Workers = e.env.Workers
		}
		before := len(l.workers)
		e.launch(l, w)
		worker.Go(l.workers[before:])
	case scenario.OpStopCgroup:
		if l := e.need(op, op.Cgroup); l != nil {
			worker.Stop(l.workers)
			e.collect(l)
		}
	case scenario.OpSetAffinity:
		l := e.need(op, op.Cgroup)
		if l == nil {
			return
		}
		allowed, _ := e.env.Cgroups.EffectiveCPUs(l.name)
		for i, w := range l.workers {
			cpus := e.affinity(op.Affinity, allowed, i)
			if len(cpus) == 0 {
				cpus = topology.Range(0, e.env.Topology.CPUs)
			}
			var set unix.CPUSet
			for _, c := range cpus {
				set.Set(c)
			}
			if err := unix.SchedSetaffinity(w.PID(), &set); err != nil && !errors.Is(err, unix.ESRCH) {
				e.errf("set_affinity %s: %v", op.Cgroup, err)
			}
		}
	case scenario.OpMoveAllTasks:
		from, to := e.need(op, op.Cgroup), e.need(op, op.Other)
		if from == nil || to == nil {
			return
		}
		if err := e.env.Cgroups.MoveAll(from.name, to.name); err != nil {
			e.errf("move_all_tasks %s → %s: %v", op.Cgroup, op.Other, err)
		}
		// Their CPUs are now the target's: widen what isolation allows.
		from.movedTo = append(from.movedTo, to.def.Name)
		e.widen(from, to)
	case scenario.OpRunPayload:
		e.runPayload(op)
	case scenario.OpWaitPayload:
		e.waitPayload(op)
	case scenario.OpKillPayload:
		e.killPayload(op)
	case scenario.OpPauseWorker:
		l := e.need(op, op.Cgroup)
		if l == nil || op.Worker >= len(l.workers) {
			e.errf("pause_worker: %s has no worker %d", op.Cgroup, op.Worker)
			return
		}
		w := l.workers[op.Worker]
		d := time.Duration(op.DurationS * float64(time.Second))
		e.pauses.Add(1)
		go func() {
			defer e.pauses.Done()
			if err := w.Pause(d); err != nil {
				e.errf("pause_worker: %v", err)
			}
		}()
	}
}

// setCpus changes a cgroup's cpuset, and records it for every cgroup whose
// tasks were moved into this one.
func (e *engine) setCpus(l *live, cpus []int) {
	var err error
	if cpus == nil {
		err = e.env.Cgroups.ClearCpus(l.name)
	} else {
		err = e.env.Cgroups.SetCpus(l.name, topology.FormatList(cpus))
	}
	if err != nil {
		e.errf("cpuset %s: %v", l.def.Name, err)
	}
	l.setCpus(cpus)
	for _, other := range e.live {
		if slices.Contains(other.movedTo, l.def.Name) {
			e.widen(other, l)
		}
	}
}

func (e *engine) widen(from, to *live) {
	if to.cpus == nil {
		from.result.Unrestricted = true
		return
	}
	from.result.CpusetHistory = append(from.result.CpusetHistory, topology.FormatList(to.cpus))
}

func (e *engine) remove(name string) {
	l := e.live[name]
	e.killPayloadsIn(name, "remove_cgroup")
	worker.Stop(l.workers)
	e.collect(l)
	if l.name != "" {
		if err := e.env.Cgroups.Remove(l.name); err != nil {
			e.errf("%v", err)
		}
	}
	delete(e.live, name)
}

// cpuIdle reads each CPU's idle + iowait time from /proc/stat (nil if
// unreadable).
func cpuIdle() []float64 {
	idle, _ := cpuTimes()
	return idle
}

// cpuTimes reads each CPU's idle + iowait time and the time the kernel
// accounted to it at all (nil if unreadable).
func cpuTimes() (idle, total []float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, nil
	}
	return parseCPUTimes(string(b))
}

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every architecture
// Linux supports for sched_ext.
const userHZ = 100

// parseIdle extracts per-CPU idle + iowait seconds from /proc/stat text,
// indexed by CPU number.
func parseIdle(stat string) []float64 {
	idle, _ := parseCPUTimes(stat)
	return idle
}

// parseCPUTimes extracts per-CPU idle + iowait seconds and accounted
// seconds (user, nice, system, idle, iowait, irq, softirq, steal: guest
// time is already in user) from /proc/stat text, indexed by CPU number.
func parseCPUTimes(stat string) (idle, total []float64) {
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil || cpu < 0 || cpu >= 8192 {
			continue
		}
		var v [8]uint64
		ok := true
		for i := 0; i < len(v) && i+1 < len(f); i++ {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				ok = false
			}
		}
		if !ok {
			continue
		}
		for len(idle) <= cpu {
			idle, total = append(idle, 0), append(total, 0)
		}
		var sum uint64
		for _, x := range v {
			sum += x
		}
		idle[cpu], total[cpu] = float64(v[3]+v[4])/userHZ, float64(sum)/userHZ
	}
	return idle, total
}

// idleDelta is b − a per CPU, nil when either is missing.
func idleDelta(a, b []float64) []float64 {
	if len(a) == 0 || len(a) != len(b) {
		return nil
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = max(0, b[i]-a[i])
	}
	return out
}
