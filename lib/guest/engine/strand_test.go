package engine

import (
	"testing"
	"time"
)

func TestIdleCPUs(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b []float64
		want float64
	}{
		{"one CPU idle throughout", []float64{0, 0}, []float64{0, 1}, 1},
		// One task moving between the CPUs: each half idle, one CPU's
		// worth all told.
		{"idle time split between CPUs", []float64{0, 0}, []float64{0.5, 0.5}, 1},
		{"none", []float64{3, 4}, []float64{3, 4}, 0},
		{"more than the CPUs (clock skew)", []float64{0, 0}, []float64{1.5, 1.5}, 2},
		{"CPU count changed", []float64{0}, []float64{0, 1}, 0},
	} {
		if got := idleCPUs(c.a, c.b, 1); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// fakeGuest is a 2-CPU guest with one worker (id 7): idle is cpu1's idle
// time per second, waiting whether the worker is runnable without running.
type fakeGuest struct {
	t       time.Time
	idles   []float64
	idle    float64
	waiting bool
	ran     time.Duration
}

func (g *fakeGuest) readIdle() []float64 { return append([]float64(nil), g.idles...) }
func (g *fakeGuest) tasks() []taskState {
	return []taskState{{id: 7, runnable: true, ran: g.ran}}
}

// advance moves the clock by d.
func (g *fakeGuest) advance(d time.Duration) time.Time {
	g.t = g.t.Add(d)
	g.idles[1] += g.idle * d.Seconds()
	if !g.waiting {
		g.ran += d
	}
	return g.t
}

func newFake(idle float64, waiting bool) (*fakeGuest, *strandWatch) {
	g := &fakeGuest{t: time.Unix(1000, 0), idles: []float64{0, 0}, idle: idle, waiting: waiting}
	w := &strandWatch{idle: g.readIdle, tasks: g.tasks}
	return g, w
}

func TestStrandWatch(t *testing.T) {
	g, w := newFake(1, true)
	if w.check(g.t) != nil {
		t.Fatal("the first reading has no interval to judge")
	}
	// 1.9 s of strand: not yet (strandFor is 2 s); read again only 100 ms
	// later: too soon; a second later, 2.9 s: a dump.
	if r := w.check(g.advance(1900 * time.Millisecond)); r != nil {
		t.Fatalf("dump after 1.9 s of strand: %+v", r)
	}
	if r := w.check(g.advance(100 * time.Millisecond)); r != nil {
		t.Fatalf("read again only 100 ms later: %+v", r)
	}
	r := w.check(g.advance(time.Second))
	if r == nil || r.IdleCPUs != 1 || r.Waiting != 1 || r.ForS < 2 {
		t.Fatalf("strand of 2.9 s: %+v, want 1 CPU idle, 1 waiting", r)
	}
	// The strand goes on: the cooldown holds the second dump back.
	for i := 0; i < 4; i++ {
		if r := w.check(g.advance(time.Second)); r != nil {
			t.Fatalf("dump %d s after the first: %+v (cooldown %v)", i+1, r, strandCooldown)
		}
	}
	if r := w.check(g.advance(time.Second)); r == nil {
		t.Fatal("no second dump after the cooldown")
	}
	for i := 0; i < 20; i++ {
		if r := w.check(g.advance(time.Second)); r != nil {
			t.Fatalf("dump beyond the limit of %d", strandDumps)
		}
	}
}

func TestStrandWatchNeedsBoth(t *testing.T) {
	run := func(g *fakeGuest, w *strandWatch, seconds int) bool {
		w.check(g.t)
		for i := 0; i < seconds; i++ {
			if w.check(g.advance(time.Second)) != nil {
				return true
			}
		}
		return false
	}
	// Half a CPU idle is the limit; just under it, no strand.
	if g, w := newFake(strandIdle, true); !run(g, w, 10) {
		t.Error("a worker waiting beside half an idle CPU: no dump")
	}
	if g, w := newFake(strandIdle-0.01, true); run(g, w, 10) {
		t.Error("a dump with less than half a CPU idle")
	}
	// The worker runs (its CPU time moves): an idle CPU alone is no strand.
	if g, w := newFake(1, false); run(g, w, 10) {
		t.Error("a dump while the worker ran")
	}
	// The worker is not runnable (it sleeps): no strand.
	g, w := newFake(1, true)
	w.tasks = func() []taskState { return []taskState{{id: 7, runnable: false}} }
	if run(g, w, 10) {
		t.Error("a dump for a sleeping worker")
	}
	// A wait broken by one run starts over: after it, 1 s is not enough.
	g, w = newFake(1, true)
	w.check(g.t)
	w.check(g.advance(time.Second))
	g.ran += time.Millisecond // it ran a little
	if r := w.check(g.advance(time.Second)); r != nil {
		t.Fatalf("dump right after the worker ran: %+v", r)
	}
	if r := w.check(g.advance(time.Second)); r != nil {
		t.Fatalf("dump 1 s into the second wait: %+v", r)
	}
	if r := w.check(g.advance(time.Second)); r == nil {
		t.Fatal("2 s into the second wait: no dump")
	}
	// A worker gone from the list is forgotten.
	w.trackWaits(g.t, nil)
	if len(w.waiting) != 0 {
		t.Errorf("waits of gone workers kept: %v", w.waiting)
	}
}
