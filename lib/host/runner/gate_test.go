package runner

import (
	"context"
	"math/rand"
	"sync"
	"testing"
)

// waitQueued spins until the gate has n waiters (no clock involved: the
// goroutines under test queue without sleeping).
func waitQueued(g *vcpuGate, n int) {
	for {
		if _, _, w := g.state(); w == n {
			return
		}
	}
}

func TestGateLimit(t *testing.T) {
	for _, c := range []struct {
		cpus int
		over float64
		want int
	}{{2, 1, 2}, {2, 1.5, 3}, {4, 0.4, 1}, {1, 0.1, 1}, {16, 2, 32}} {
		if got := newVCPUGate(c.cpus, c.over).limit; got != c.want {
			t.Errorf("%d CPUs × %g: limit %d, want %d", c.cpus, c.over, got, c.want)
		}
	}
}

func TestGateQueuesWhatDoesNotFitAndServesInOrder(t *testing.T) {
	ctx := context.Background()
	g := newVCPUGate(4, 1)
	if err := g.acquire(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.acquire(ctx, 2, nil); err != nil { // 4 of 4
		t.Fatal(err)
	}
	order := make(chan int, 2)
	var reported []int
	var mu sync.Mutex
	go func() {
		g.acquire(ctx, 3, func(used, limit int) { mu.Lock(); reported = append(reported, used, limit); mu.Unlock() })
		order <- 3
	}()
	waitQueued(g, 1)
	go func() { g.acquire(ctx, 1, nil); order <- 1 }()
	waitQueued(g, 2)
	g.release(2) // 2 in use: 3 does not fit, and 1 must not pass it
	if used, holders, waiting := g.state(); used != 2 || holders != 1 || waiting != 2 {
		t.Fatalf("after one release: used %d holders %d waiting %d", used, holders, waiting)
	}
	g.release(2) // empty: 3 runs, then 1 fits beside it (4 of 4)
	if a, b := <-order, <-order; a != 3 && b != 3 {
		t.Errorf("order %d, %d", a, b)
	}
	if used, holders, _ := g.state(); used != 4 || holders != 2 {
		t.Errorf("used %d holders %d", used, holders)
	}
	mu.Lock()
	if len(reported) != 2 || reported[0] != 4 || reported[1] != 4 {
		t.Errorf("queued callback got %v, want [4 4]", reported)
	}
	mu.Unlock()
}

func TestGateRunsAnOversizedVMAlone(t *testing.T) {
	ctx := context.Background()
	g := newVCPUGate(2, 1)
	if err := g.acquire(ctx, 16, nil); err != nil { // larger than the host: admitted when alone
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { g.acquire(ctx, 1, nil); close(done) }()
	waitQueued(g, 1)
	g.release(16)
	<-done
	if used, holders, waiting := g.state(); used != 1 || holders != 1 || waiting != 0 {
		t.Errorf("used %d holders %d waiting %d", used, holders, waiting)
	}
	// And the big one waits until it would be alone.
	big := make(chan struct{})
	go func() { g.acquire(ctx, 16, nil); close(big) }()
	waitQueued(g, 1)
	g.release(1)
	<-big
	if used, holders, _ := g.state(); used != 16 || holders != 1 {
		t.Errorf("big VM after release: used %d holders %d", used, holders)
	}
}

func TestGateCancelledWaiterLeavesAndUnblocksOthers(t *testing.T) {
	g := newVCPUGate(4, 1)
	g.acquire(context.Background(), 2, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- g.acquire(ctx, 4, nil) }() // the head, blocking the small one behind it
	waitQueued(g, 1)
	small := make(chan struct{})
	go func() { g.acquire(context.Background(), 1, nil); close(small) }()
	waitQueued(g, 2)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled acquire returned nil")
	}
	<-small // 2 + 1 fit once the head is gone
	if used, holders, waiting := g.state(); used != 3 || holders != 2 || waiting != 0 {
		t.Errorf("used %d holders %d waiting %d", used, holders, waiting)
	}
}

// TestGatePackingProperty runs random VM sizes through -j workers and
// checks at every admission that the running vCPUs stay within the limit
// unless one VM runs alone, and that every job ran.
func TestGatePackingProperty(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		hostCPUs, jobs := 1+rng.Intn(8), 1+rng.Intn(4)
		over := []float64{0.5, 1, 1.5, 2}[rng.Intn(4)]
		g := newVCPUGate(hostCPUs, over)
		sizes := make(chan int)
		var mu sync.Mutex
		running, vms, ran := 0, 0, 0
		var wg sync.WaitGroup
		for w := 0; w < jobs; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range sizes {
					if err := g.acquire(context.Background(), n, nil); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					running += n
					vms++
					ran++
					if running > g.limit && vms > 1 {
						t.Errorf("seed %d: %d vCPUs in %d VMs over limit %d", seed, running, vms, g.limit)
					}
					if vms > jobs {
						t.Errorf("seed %d: %d VMs with -j %d", seed, vms, jobs)
					}
					mu.Unlock()
					mu.Lock()
					running -= n
					vms--
					mu.Unlock()
					g.release(n)
				}
			}()
		}
		for i := 0; i < 200; i++ {
			sizes <- 1 + rng.Intn(3*hostCPUs)
		}
		close(sizes)
		wg.Wait()
		if ran != 200 {
			t.Errorf("seed %d: %d of 200 ran", seed, ran)
		}
		if used, holders, waiting := g.state(); used != 0 || holders != 0 || waiting != 0 {
			t.Errorf("seed %d: left used %d holders %d waiting %d", seed, used, holders, waiting)
		}
	}
}
