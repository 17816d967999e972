package runner

import (
	"context"
	"math"
	"slices"
	"sync"
)

// DefaultOvercommit is how many vCPUs of concurrently running timing-checked
// VMs each host CPU carries by default: none beyond one. Under TCG a vCPU
// that waits for a host CPU charges the wait to whatever the guest ran, so
// VMs whose timing is judged share the host's CPUs without overcommit.
const DefaultOvercommit = 1.0

// vcpuGate packs concurrently running VMs by vCPUs: the vCPUs of the VMs
// holding a share stay within limit, except that a VM larger than limit
// runs when nothing else holds a share (and so runs alone). Waiters are
// served first come, first served, so a large VM is not passed over
// forever by small ones.
type vcpuGate struct {
	mu      sync.Mutex
	limit   int
	used    int // vCPUs of the VMs holding a share
	holders int
	queue   []*gateWaiter
}

type gateWaiter struct {
	n     int
	ready chan struct{}
}

// newVCPUGate returns a gate for hostCPUs × overcommit vCPUs (at least one).
func newVCPUGate(hostCPUs int, overcommit float64) *vcpuGate {
	return &vcpuGate{limit: max(1, int(math.Floor(float64(hostCPUs)*overcommit+1e-9)))}
}

func (g *vcpuGate) fits(n int) bool { return g.holders == 0 || g.used+n <= g.limit }

// acquire blocks until n vCPUs may run, or ctx ends. If it has to queue it
// first calls queued (when not nil) with the vCPUs in use and the limit.
func (g *vcpuGate) acquire(ctx context.Context, n int, queued func(used, limit int)) error {
	g.mu.Lock()
	if len(g.queue) == 0 && g.fits(n) {
		g.take(n)
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	g.queue = append(g.queue, w)
	used := g.used
	g.mu.Unlock()
	if queued != nil {
		queued(used, g.limit)
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			g.giveBack(n)
		default:
			g.queue = slices.DeleteFunc(g.queue, func(q *gateWaiter) bool { return q == w })
			g.grant() // the head may have been what blocked the others
		}
		return ctx.Err()
	}
}

// release returns n vCPUs and admits waiters that now fit.
func (g *vcpuGate) release(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.giveBack(n)
}

func (g *vcpuGate) take(n int) {
	g.used += n
	g.holders++
}

func (g *vcpuGate) giveBack(n int) {
	g.used -= n
	g.holders--
	g.grant()
}

func (g *vcpuGate) grant() {
	for len(g.queue) > 0 && g.fits(g.queue[0].n) {
		w := g.queue[0]
		g.queue = g.queue[1:]
		g.take(w.n)
		close(w.ready)
	}
}

// state is the gate's occupancy, for tests and progress lines.
func (g *vcpuGate) state() (used, holders, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used, g.holders, len(g.queue)
}
