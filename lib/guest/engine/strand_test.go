package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
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

// fakeGuest is a 2-CPU guest with one worker (id 7) on cpu0: idle is
// cpu1's idle time per second, waiting whether the worker is runnable
// without running, frozen whether the host keeps cpu0's vCPU from running
// (the kernel accounts it no time).
type fakeGuest struct {
	t       time.Time
	idles   []float64
	totals  []float64
	idle    float64
	waiting bool
	frozen  bool
	ran     time.Duration
}

func (g *fakeGuest) times() ([]float64, []float64) {
	return append([]float64(nil), g.idles...), append([]float64(nil), g.totals...)
}

func (g *fakeGuest) tasks() []taskState {
	return []taskState{{id: 7, runnable: true, ran: g.ran, cpu: 0}}
}

// advance moves the clock by d.
func (g *fakeGuest) advance(d time.Duration) time.Time {
	g.t = g.t.Add(d)
	g.idles[1] += g.idle * d.Seconds()
	g.totals[1] += d.Seconds()
	if !g.frozen {
		g.totals[0] += d.Seconds()
	}
	if !g.waiting {
		g.ran += d
	}
	return g.t
}

func newFake(idle float64, waiting bool) (*fakeGuest, *strandWatch) {
	g := &fakeGuest{t: time.Unix(1000, 0), idles: []float64{0, 0}, totals: []float64{0, 0}, idle: idle, waiting: waiting}
	w := &strandWatch{times: g.times, tasks: g.tasks}
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
	w.trackWaits(g.t, nil, nil)
	if len(w.waiting) != 0 {
		t.Errorf("waits of gone workers kept: %v", w.waiting)
	}
}

// TestStrandWatchLimits: a dump at 2.0 s of strand, not at 1.9 s; an idle
// time that dips under half a CPU for one interval starts the strand over;
// a worker whose vCPU the kernel accounted no time (frozen by the host)
// is not counted as waiting.
func TestStrandWatchLimits(t *testing.T) {
	g, w := newFake(1, true)
	w.check(g.t)
	w.check(g.advance(time.Second))
	if r := w.check(g.advance(time.Second)); r == nil || r.ForS != 2 {
		t.Fatalf("at 2.0 s of strand: %+v, want a dump", r)
	}
	g, w = newFake(1, true)
	w.check(g.t)
	if r := w.check(g.advance(1900 * time.Millisecond)); r != nil {
		t.Fatalf("at 1.9 s of strand: %+v", r)
	}

	// The idle time dips for one second: the strand starts over there.
	g, w = newFake(1, true)
	w.check(g.t)
	w.check(g.advance(time.Second))
	g.idle = strandIdle - 0.1
	if r := w.check(g.advance(time.Second)); r != nil {
		t.Fatalf("dump in a second with too little idle time: %+v", r)
	}
	g.idle = 1
	if r := w.check(g.advance(time.Second)); r != nil {
		t.Fatalf("dump 1 s after the dip: %+v", r)
	}
	if r := w.check(g.advance(time.Second)); r == nil || r.ForS != 2 {
		t.Fatalf("2 s after the dip: %+v, want a dump", r)
	}

	// cpu0 frozen: the worker's CPU time stands still because nothing
	// ran there, not because it waited.
	g, w = newFake(1, true)
	g.frozen = true
	w.check(g.t)
	for i := 0; i < 10; i++ {
		if r := w.check(g.advance(time.Second)); r != nil {
			t.Fatalf("dump for a worker on a frozen vCPU: %+v", r)
		}
	}
	// Once its vCPU runs again, the wait counts.
	g.frozen = false
	var r *record.Strand
	for i := 0; i < 3 && r == nil; i++ {
		r = w.check(g.advance(time.Second))
	}
	if r == nil {
		t.Fatal("no dump once the worker's vCPU ran again")
	}
}

// FuzzParseCPUTimes: per-CPU lines written from known values read back
// (idle + iowait, and the sum of the first eight fields), whatever lines
// surround them; no text reads a negative time or idle beyond the total.
func FuzzParseCPUTimes(f *testing.F) {
	f.Add(uint16(2), uint32(5), uint32(450), uint32(7), "intr 1 2")
	f.Add(uint16(0), uint32(0), uint32(0), uint32(0), "cpu9 x y z")
	f.Fuzz(func(t *testing.T, n uint16, user, idle, iowait uint32, noise string) {
		cpus := int(n%16) + 1
		var b strings.Builder
		for _, l := range strings.Split(noise, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "cpu") {
				b.WriteString(l + "\n")
			}
		}
		for c := 0; c < cpus; c++ {
			// user nice system idle iowait irq softirq steal guest guest_nice
			fmt.Fprintf(&b, "cpu%d %d 1 2 %d %d 3 4 5 100 200\n", c, user, idle, iowait)
		}
		gotIdle, gotTotal := parseCPUTimes(b.String())
		if len(gotIdle) != cpus || len(gotTotal) != cpus {
			t.Fatalf("%d/%d CPUs read, %d written", len(gotIdle), len(gotTotal), cpus)
		}
		wantIdle := float64(uint64(idle)+uint64(iowait)) / userHZ
		wantTotal := float64(uint64(user)+1+2+uint64(idle)+uint64(iowait)+3+4+5) / userHZ
		for c := range gotIdle {
			if gotIdle[c] != wantIdle || gotTotal[c] != wantTotal {
				t.Fatalf("cpu%d: %v %v, want %v %v", c, gotIdle[c], gotTotal[c], wantIdle, wantTotal)
			}
		}
		i2, t2 := parseCPUTimes(noise)
		for c := range i2 {
			if i2[c] < 0 || i2[c] > t2[c] {
				t.Fatalf("cpu%d from %q: idle %v, total %v", c, noise, i2[c], t2[c])
			}
		}
	})
}
