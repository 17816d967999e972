package verdict

import (
	"sort"
)

// Host noise under TCG. A vCPU is a host thread; while the host keeps it
// waiting for a host CPU the guest's clocks still run, and the guest charges
// the lost time to whatever task was on that vCPU. So noise shows up as a
// task's own CPU time, and a task waiting behind it waits that much longer.
// The checks subtract what the host measurably took from the vCPUs involved
// in a violating window and judge the remainder: a violation is
// inconclusive only when the measured host wait is large enough to explain
// it, and the detail always gives the numbers.

// hostView answers how long the host kept a vCPU waiting for a host CPU,
// from the run's host samples, on the agent's clock.
type hostView struct {
	samples []hostSample
	clock   float64 // host_t = agent_t + clock
}

type hostSample struct {
	t     float64
	waitS []float64
	runS  []float64 // nil in records made before the host sampled run time
}

// waitAt interpolates vCPU cpu's cumulative wait at host time t.
func (h hostView) waitAt(cpu int, t float64) (float64, bool) {
	s := h.samples
	if len(s) < 2 || t < s[0].t || t > s[len(s)-1].t {
		return 0, false
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].t >= t })
	if i == 0 {
		i = 1
	}
	a, b := s[i-1], s[i]
	if cpu < 0 || cpu >= len(a.waitS) || cpu >= len(b.waitS) || b.t == a.t {
		return 0, false
	}
	f := (t - a.t) / (b.t - a.t)
	return a.waitS[cpu] + f*(b.waitS[cpu]-a.waitS[cpu]), true
}

// window maps agent-time window [t0, t1] to host time within the
// samples. The agent clock maps to host time within the 0.1 s poll period,
// so a window may poke past the samples: it is clamped, if most of it
// remains (ok false otherwise).
func (h hostView) window(t0, t1 float64) (a, b float64, ok bool) {
	if t1 <= t0 || len(h.samples) < 2 {
		return 0, 0, false
	}
	a, b = t0+h.clock, t1+h.clock
	ca, cb := max(a, h.samples[0].t), min(b, h.samples[len(h.samples)-1].t)
	return ca, cb, cb-ca >= (b-a)/2
}

// waitShare is the share of agent-time window [t0, t1] that vCPU cpu spent
// runnable but not running on the host.
func (h hostView) waitShare(cpu int, t0, t1 float64) (float64, bool) {
	a, b, ok := h.window(t0, t1)
	if !ok {
		return 0, false
	}
	w0, ok0 := h.waitAt(cpu, a)
	w1, ok1 := h.waitAt(cpu, b)
	if !ok0 || !ok1 {
		return 0, false
	}
	return min(1, max(0, (w1-w0)/(b-a))), true
}

// heldShare is the share of agent-time window [t0, t1] in which the host
// held vCPU cpu: sample intervals that were heldByHost (without run
// samples, the wait alone decides). Only a vCPU held like this leaves a
// task on it, or queued on it, without the CPU for long: a vCPU that runs
// a quarter of every interval still ticks, switches and runs its queue, so
// its mean wait share explains no long gap.
func (h hostView) heldShare(cpu int, t0, t1 float64) (float64, bool) {
	a, b, ok := h.window(t0, t1)
	if !ok {
		return 0, false
	}
	var held float64
	for i := 1; i < len(h.samples); i++ {
		p, s := h.samples[i-1], h.samples[i]
		over := min(s.t, b) - max(p.t, a)
		dt := s.t - p.t
		if over <= 0 || dt <= 0 {
			continue
		}
		if cpu < 0 || cpu >= len(p.waitS) || cpu >= len(s.waitS) {
			return 0, false
		}
		waited := s.waitS[cpu] - p.waitS[cpu]
		ran := 0.0
		if cpu < len(p.runS) && cpu < len(s.runS) {
			ran = s.runS[cpu] - p.runS[cpu]
		}
		if heldByHost(ran, waited, dt) {
			held += over
		}
	}
	return min(1, held/(b-a)), true
}

// vcpus is the number of vCPUs the samples cover.
func (h hostView) vcpus() int {
	if len(h.samples) == 0 {
		return 0
	}
	return len(h.samples[0].waitS)
}

// shares gives the wait share of each of cpus (all vCPUs when cpus is
// empty) over the window: the least and the most; ok is false when no
// vCPU has samples there.
func (h hostView) shares(cpus []int, t0, t1 float64) (lo, hi float64, loCPU, hiCPU int, ok bool) {
	return h.extremes(h.waitShare, cpus, t0, t1)
}

// heldShares is shares of the time the host held each vCPU (heldShare).
func (h hostView) heldShares(cpus []int, t0, t1 float64) (lo, hi float64, loCPU, hiCPU int, ok bool) {
	return h.extremes(h.heldShare, cpus, t0, t1)
}

// extremes gives the least and the most of share over cpus (all vCPUs
// when cpus is empty), and which vCPUs they are.
func (h hostView) extremes(share func(cpu int, t0, t1 float64) (float64, bool), cpus []int, t0, t1 float64) (lo, hi float64, loCPU, hiCPU int, ok bool) {
	if len(cpus) == 0 {
		for c := 0; c < h.vcpus(); c++ {
			cpus = append(cpus, c)
		}
	}
	lo, loCPU, hiCPU = 2, -1, -1
	for _, c := range cpus {
		s, good := share(c, t0, t1)
		if !good {
			continue
		}
		ok = true
		if s < lo {
			lo, loCPU = s, c
		}
		if s > hi || hiCPU < 0 {
			hi, hiCPU = s, c
		}
	}
	return lo, hi, loCPU, hiCPU, ok
}
