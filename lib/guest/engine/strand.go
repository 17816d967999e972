package engine

import (
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// A strand is CPU time left idle in the guest while a task waits to run:
// the classic sched_ext bug (a task queued where no CPU looks, a missed
// kick). The host's monitor sees it and the verdict fails, but only a dump
// of the scheduler's state taken while it lasts shows where the waiting
// task is queued; a living scheduler leaves no exit dump, and the strand
// may be over by the end. strandWatch asks the kernel for one (SysRq D)
// once a strand has lasted strandFor. The dump is evidence for the judge
// (lib/judge/knownbug); it changes no verdict by itself.
//
// Both sides are read from the guest kernel, each the way host wait
// cannot fake it. Idle time is time the guest halted a vCPU: host wait
// makes it smaller, never larger. A waiting worker is runnable (state R)
// and its CPU time stood still: the guest charges a vCPU's host wait to
// the task that was running, never to one that waited. One case looks the
// same: a worker running on a vCPU the host kept from running, whose CPU
// time the kernel has not updated since. That vCPU accounted no time
// either, so a wait counts only through intervals in which the kernel
// accounted at least strandAccounted of the worker's CPU's time.
const (
	// strandEvery is how often the watch reads the kernel.
	strandEvery = time.Second
	// strandFor is how long a worker must have waited, and the CPUs have
	// kept strandIdle idle, before a dump is asked for: twice the
	// monitor's sustained window, so a brief lapse that the verdict
	// passes costs no dump.
	strandFor = 2 * time.Second
	// strandIdle is the idle time, in CPUs, every interval of the strand
	// must have had: half a CPU idle for the whole time a task waited is
	// room it could have run in (the agent, whose ticks are charged the
	// host's wait, takes a share of the CPU that would be idle).
	strandIdle = 0.5
	// strandAccounted is the share of an interval the kernel must have
	// accounted to a waiting worker's CPU (busy or idle) for the wait to
	// go on: less, and the vCPU may have been frozen under the worker.
	strandAccounted = 0.25
	// strandDumps bounds the dumps of one scenario: each lists every
	// queued task, and the exit dump that may follow must still fit the
	// record (livesched keeps the latest dumps first).
	strandDumps = 2
	// strandCooldown separates two dumps of one scenario.
	strandCooldown = 5 * time.Second
)

// taskState is one worker's thread as the kernel shows it.
type taskState struct {
	id       int
	runnable bool
	ran      time.Duration // CPU time so far
	cpu      int           // the CPU it is on, or last ran on
}

// waitState is how long a task has been runnable without running.
type waitState struct {
	ran   time.Duration
	since time.Time
}

// strandWatch follows the guest's idle time and its workers through a
// scenario and says when to ask for a dump.
type strandWatch struct {
	times func() (idle, total []float64) // each CPU's idle and accounted seconds (cpuTimes)
	tasks func() []taskState             // the running workers

	prevIdle  []float64
	prevTotal []float64
	at        time.Time // the previous reading; zero before the first
	idleSince time.Time // CPU time has been idle since; zero when not
	waiting   map[int]waitState
	next      time.Time // no dump before this
	dumps     int
}

// check reads the kernel when strandEvery has passed and returns a strand
// that calls for a dump (AtS and Dump left to the caller), or nil.
func (w *strandWatch) check(now time.Time) *record.Strand {
	if w.dumps >= strandDumps || (!w.at.IsZero() && now.Sub(w.at) < strandEvery) {
		return nil
	}
	idle, total := w.times()
	elapsed := now.Sub(w.at).Seconds()
	var accounted []float64
	if d := idleDelta(w.prevTotal, total); d != nil && !w.at.IsZero() {
		accounted = d
		for i := range accounted {
			accounted[i] /= elapsed
		}
	}
	w.trackWaits(now, w.tasks(), accounted)
	prev, at := w.prevIdle, w.at
	w.prevIdle, w.prevTotal, w.at = idle, total, now
	if at.IsZero() {
		return nil
	}
	idleNow := idleCPUs(prev, idle, elapsed)
	if idleNow < strandIdle {
		w.idleSince = time.Time{}
		return nil
	}
	if w.idleSince.IsZero() {
		w.idleSince = at
	}
	waiting := 0
	for _, s := range w.waiting {
		if now.Sub(s.since) >= strandFor {
			waiting++
		}
	}
	if waiting == 0 || now.Sub(w.idleSince) < strandFor || now.Before(w.next) {
		return nil
	}
	w.dumps++
	w.next = now.Add(strandCooldown)
	return &record.Strand{ForS: now.Sub(w.idleSince).Seconds(), IdleCPUs: idleNow, Waiting: waiting}
}

// trackWaits updates each task's wait: it goes on while the task is
// runnable, its CPU time stands still and the kernel accounted its CPU's
// time (accounted: each CPU's accounted share of the last interval, nil
// at the first reading); it starts over otherwise.
func (w *strandWatch) trackWaits(now time.Time, tasks []taskState, accounted []float64) {
	if w.waiting == nil {
		w.waiting = map[int]waitState{}
	}
	seen := map[int]bool{}
	for _, t := range tasks {
		seen[t.id] = true
		prev, ok := w.waiting[t.id]
		frozen := accounted != nil && (t.cpu < 0 || t.cpu >= len(accounted) || accounted[t.cpu] < strandAccounted)
		switch {
		case !t.runnable:
			delete(w.waiting, t.id)
		case ok && prev.ran == t.ran && !frozen:
			// Still waiting, since the reading that first saw this
			// CPU time.
		default:
			w.waiting[t.id] = waitState{ran: t.ran, since: now}
		}
	}
	for id := range w.waiting {
		if !seen[id] {
			delete(w.waiting, id)
		}
	}
}

// idleCPUs is the idle time of every CPU from reading a to b, elapsed
// seconds apart, in CPUs (1: one CPU idle throughout; a task moving
// between CPUs leaves no one CPU idle throughout, but the idle time adds
// up the same); 0 when the readings do not match.
func idleCPUs(a, b []float64, elapsed float64) float64 {
	d := idleDelta(a, b)
	if d == nil || elapsed <= 0 {
		return 0
	}
	var sum float64
	for _, s := range d {
		sum += s
	}
	return min(sum/elapsed, float64(len(d)))
}
