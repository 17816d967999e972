package engine

import (
	"testing"
	"time"
)

// tick drives a stallWatch in watchEvery steps from t0 to t0+span with the
// workers' last signs of life fixed at lasts, and returns the offset of the
// first tick that reported a stall (-1: none).
func tick(w *stallWatch, t0 time.Time, span time.Duration, lasts []time.Time) time.Duration {
	for d := time.Duration(0); d <= span; d += watchEvery {
		if st := w.checkTimes(t0.Add(d), lasts); st != nil {
			return d
		}
	}
	return -1
}

func TestStallWatchFiresWhenEveryWorkerIsQuiet(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := stallWatch{after: 2 * time.Second, last: t0}
	lasts := []time.Time{t0, t0.Add(-time.Second)}
	at := tick(&w, t0, 5*time.Second, lasts)
	// The watch starts counting at its first tick (t0): the stall is
	// reported at the first tick more than 2 s after the newest progress.
	if at != 2*time.Second+watchEvery {
		t.Fatalf("stall reported at +%v, want +%v", at, 2*time.Second+watchEvery)
	}
	st := w.checkTimes(t0.Add(2*time.Second+2*watchEvery), lasts)
	if st == nil || st.Workers != 2 || st.ForMS != 2200 {
		t.Errorf("stall %+v, want 2 workers quiet for 2200 ms (since the newest progress)", st)
	}
}

func TestStallWatchQuietWhileOneWorkerProgresses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := stallWatch{after: 2 * time.Second, last: t0}
	for d := time.Duration(0); d <= 10*time.Second; d += watchEvery {
		now := t0.Add(d)
		// Worker 0 never progresses; worker 1 does, every tick.
		if st := w.checkTimes(now, []time.Time{t0, now}); st != nil {
			t.Fatalf("stall %+v at +%v although one worker progresses", st, d)
		}
	}
}

// A late tick means the whole guest was frozen (the host descheduled its
// vCPUs): the workers' silence during the freeze does not count.
func TestStallWatchRestartsAfterAFrozenGuest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := stallWatch{after: 2 * time.Second, last: t0}
	lasts := []time.Time{t0}
	if st := w.checkTimes(t0.Add(watchEvery), lasts); st != nil {
		t.Fatalf("stall at the first tick: %+v", st)
	}
	// The guest is frozen for 5 s: the next tick comes late.
	resumed := t0.Add(5 * time.Second)
	if st := w.checkTimes(resumed, lasts); st != nil {
		t.Fatalf("stall reported across a frozen guest: %+v", st)
	}
	at := tick(&w, resumed.Add(watchEvery), 5*time.Second, lasts)
	if at < 0 {
		t.Fatal("no stall after the guest resumed and stayed quiet")
	}
	if got := resumed.Add(watchEvery + at).Sub(resumed); got <= 2*time.Second {
		t.Errorf("stall %v after the resume, want more than the 2 s limit counted from the resume", got)
	}
}

func TestStallWatchOff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, w := range []stallWatch{{after: 0, last: t0}, {after: time.Second, last: t0}} {
		var lasts []time.Time
		if w.after == 0 {
			lasts = []time.Time{t0}
		}
		if at := tick(&w, t0, 10*time.Second, lasts); at >= 0 {
			t.Errorf("after=%v with %d workers: stall at +%v, want none", w.after, len(lasts), at)
		}
	}
}
