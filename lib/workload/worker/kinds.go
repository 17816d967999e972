package worker

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sharedSize is the size of a group's shared memory. Layout: a futex word
// at 0, a generation stamp at 8, a done counter at 16, and per-worker stamp
// slots of 64 bytes from 64.
const sharedSize = 4096

const (
	offWord  = 0
	offStamp = 8
	offDone  = 16
	offSlots = 64
	maxGroup = (sharedSize - offSlots) / 64
)

func (w *worker) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&w.shared[off])) }
func (w *worker) i64(off int) *int64   { return (*int64)(unsafe.Pointer(&w.shared[off])) }
func (w *worker) slot(i int) *int64    { return w.i64(offSlots + 64*(i%maxGroup)) }

// futexWait waits while *addr == val, at most 100 ms so stop is noticed.
// The futex is shared between processes (no FUTEX_PRIVATE_FLAG).
func futexWait(addr *uint32, val uint32) {
	ts := unix.Timespec{Nsec: 100_000_000}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 0 /* FUTEX_WAIT */, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 1 /* FUTEX_WAKE */, uintptr(n), 0, 0, 0)
}

// sinceStamp records the latency from a stamp set by the waker.
func (w *worker) sinceStamp(stamp int64) {
	if stamp > 0 {
		if d := time.Now().UnixNano() - stamp; d >= 0 {
			w.wakeSample(time.Duration(d))
		}
	}
}

// pick returns the work unit of the task's type.
func (w *worker) pick() (func(), error) {
	p := w.params
	n := func(name string) int { return int(p[name]) }
	switch w.task.Spec.Type {
	case "CpuSpin":
		return func() { w.spin(1024) }, nil
	case "YieldHeavy":
		return func() { w.yield(false); w.iterations++ }, nil
	case "Mixed":
		return func() { w.spin(1024); w.yield(false) }, nil
	case "IoSync":
		f, err := os.CreateTemp("/tmp", "ktstr-io-")
		if err != nil {
			return nil, err
		}
		w.ioFile = f
		data := make([]byte, 64<<10)
		return func() {
			f.WriteAt(data, 0)
			w.sleepFor(100 * time.Microsecond)
			w.iterations++
		}, nil
	case "Bursty":
		burst, sleep := time.Duration(p["burst_ms"]*1e6), time.Duration(p["sleep_ms"]*1e6)
		return func() { w.spinFor(burst); w.sleepFor(sleep) }, nil
	case "PipeIo":
		if err := w.needPipes(); err != nil {
			return nil, err
		}
		return func() { w.spin(n("burst_iters")); w.pipeExchange() }, nil
	case "FutexPingPong":
		if err := w.needShared(); err != nil {
			return nil, err
		}
		return func() { w.pingPong(n("spin_iters")) }, nil
	case "CachePressure":
		w.buf = make([]byte, n("size_kb")<<10)
		return func() { w.cachePass(n("stride")) }, nil
	case "CacheYield":
		w.buf = make([]byte, n("size_kb")<<10)
		return func() { w.cachePass(n("stride")); w.yield(true) }, nil
	case "CachePipe":
		if err := w.needPipes(); err != nil {
			return nil, err
		}
		w.buf = make([]byte, n("size_kb")<<10)
		return func() { w.cachePass(64); w.spin(n("burst_iters")); w.pipeExchange() }, nil
	case "FutexFanOut":
		if err := w.needShared(); err != nil {
			return nil, err
		}
		return w.fanOut(n("spin_iters"), nil), nil
	case "FanOutCompute":
		if err := w.needShared(); err != nil {
			return nil, err
		}
		dim := max(4, int(math.Sqrt(p["cache_footprint_kb"]*1024/3/8)))
		a, b, c := make([]uint64, dim*dim), make([]uint64, dim*dim), make([]uint64, dim*dim)
		for i := range a {
			a[i], b[i] = uint64(i), uint64(i*7)
		}
		sleep, ops := time.Duration(p["sleep_usec"]*1e3), n("operations")
		return w.fanOut(1024, func() {
			ts := unix.NsecToTimespec(int64(sleep))
			unix.Nanosleep(&ts, nil)
			for o := 0; o < ops; o++ {
				matmul(a, b, c, dim)
			}
		}), nil
	case "Sequence":
		return w.sequence, nil
	case "ForkExit":
		return w.forkExit, nil
	case "NiceSweep":
		nice := -20
		return func() {
			w.spin(512)
			unix.Setpriority(unix.PRIO_PROCESS, w.tid, nice)
			if nice++; nice > 19 {
				nice = -20
			}
			w.yield(true)
		}, nil
	case "AffinityChurn":
		allowed := w.task.Allowed
		if len(allowed) == 0 {
			return nil, fmt.Errorf("AffinityChurn: no allowed CPUs")
		}
		return func() {
			w.spin(n("spin_iters"))
			setAffinity([]int{allowed[w.rng.IntN(len(allowed))]})
			w.yield(true)
		}, nil
	case "PolicyChurn":
		classes := []string{"normal", "batch", "idle", "fifo", "rr"}
		i := 0
		return func() {
			w.spin(n("spin_iters"))
			prio := 0
			if classes[i] == "fifo" || classes[i] == "rr" {
				prio = 1
			}
			setPolicy(classes[i], prio)
			i = (i + 1) % len(classes)
			w.yield(true)
		}, nil
	case "PageFaultChurn":
		region, err := unix.Mmap(-1, 0, n("region_kb")<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, err
		}
		unix.Madvise(region, unix.MADV_NOHUGEPAGE)
		w.region = region
		pages := len(region) / os.Getpagesize()
		x := uint64(os.Getpid())*2654435761 + 1
		return func() {
			for t := 0; t < n("touches_per_cycle"); t++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				region[int(x%uint64(pages))*os.Getpagesize()]++
			}
			w.spin(n("spin_iters"))
			unix.Madvise(region, unix.MADV_DONTNEED)
		}, nil
	case "MutexContention":
		if err := w.needShared(); err != nil {
			return nil, err
		}
		return func() { w.mutexRound(n("work_iters"), n("hold_iters")) }, nil
	case "Custom":
		return nil, fmt.Errorf("Custom workers run their command directly")
	}
	return nil, fmt.Errorf("unknown work type %q", w.task.Spec.Type)
}

func (w *worker) needShared() error {
	if w.shared == nil {
		return fmt.Errorf("%s: no group memory", w.task.Spec.Type)
	}
	return nil
}

func (w *worker) needPipes() error {
	if w.in == nil || w.out == nil || w.shared == nil {
		return fmt.Errorf("%s: no partner pipes", w.task.Spec.Type)
	}
	return nil
}

func (w *worker) cachePass(stride int) {
	stride = max(stride, 1)
	for i := 0; i < len(w.buf); i += stride {
		w.buf[i]++
	}
	w.iterations++
}

// waitReadable polls fd until it is readable or the worker is stopped.
func (w *worker) waitReadable(f *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
	for !w.stop.Load() {
		n, err := unix.Poll(fds, 100)
		if err == nil && n > 0 {
			if fds[0].Revents&unix.POLLIN != 0 {
				return true
			}
			time.Sleep(10 * time.Millisecond) // partner gone (HUP): do not spin
		}
	}
	return false
}

// pipeExchange is one ping-pong round trip: the even worker of the pair
// sends first. The sender stamps the receiver's slot, so the receiver
// measures its wake latency.
func (w *worker) pipeExchange() {
	me := w.task.GroupIndex % 2
	peer := 1 - me
	one := []byte{1}
	send := func() {
		atomic.StoreInt64(w.slot(peer), time.Now().UnixNano())
		w.out.Write(one)
	}
	recv := func() bool {
		if !w.waitReadable(w.in) {
			return false
		}
		var b [1]byte
		if n, _ := w.in.Read(b[:]); n == 1 {
			w.sinceStamp(atomic.LoadInt64(w.slot(me)))
		}
		return true
	}
	if me == 0 {
		send()
		recv()
	} else if recv() {
		send()
	}
}

// pingPong passes a turn word between two workers with futexes.
func (w *worker) pingPong(spinIters int) {
	me := uint32(w.task.GroupIndex % 2)
	word := w.word(offWord)
	for atomic.LoadUint32(word) != me {
		if w.stop.Load() {
			return
		}
		futexWait(word, 1-me)
	}
	w.sinceStamp(atomic.LoadInt64(w.slot(int(me))))
	w.spin(spinIters)
	atomic.StoreInt64(w.slot(int(1-me)), time.Now().UnixNano())
	atomic.StoreUint32(word, 1-me)
	futexWake(word, 1)
}

// fanOut: worker 0 of the group is the messenger: it spins, stamps, bumps
// the generation and wakes everyone; the others wait for a new generation,
// record their wake latency and run work (if any). With work, the messenger
// waits until every receiver finished before the next round.
func (w *worker) fanOut(spinIters int, work func()) func() {
	gen := w.word(offWord)
	done := w.word(offDone)
	receivers := uint32(w.task.GroupSize - 1)
	seen := uint32(0)
	if w.task.GroupIndex%w.task.GroupSize == 0 {
		return func() {
			w.spin(spinIters)
			if work != nil {
				atomic.StoreUint32(done, 0)
			}
			atomic.StoreInt64(w.i64(offStamp), time.Now().UnixNano())
			atomic.AddUint32(gen, 1)
			futexWake(gen, math.MaxInt32)
			if work != nil {
				for d := atomic.LoadUint32(done); d < receivers && !w.stop.Load(); d = atomic.LoadUint32(done) {
					futexWait(done, d)
				}
			}
		}
	}
	return func() {
		for g := atomic.LoadUint32(gen); g == seen; g = atomic.LoadUint32(gen) {
			if w.stop.Load() {
				return
			}
			futexWait(gen, g)
		}
		seen = atomic.LoadUint32(gen)
		w.sinceStamp(atomic.LoadInt64(w.i64(offStamp)))
		if work != nil {
			work()
			atomic.AddUint32(done, 1)
			futexWake(done, 1)
		}
		w.iterations++
	}
}

func matmul(a, b, c []uint64, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var s uint64
			for k := 0; k < n; k++ {
				s += a[i*n+k] * b[k*n+j]
			}
			c[i*n+j] = s
		}
	}
}

// mutexRound: work, take the shared futex mutex (recording how long a
// contended acquire waited), hold it, release it.
func (w *worker) mutexRound(workIters, holdIters int) {
	m := w.word(offWord)
	w.spin(workIters)
	if !atomic.CompareAndSwapUint32(m, 0, 1) {
		t0 := time.Now()
		for atomic.SwapUint32(m, 2) != 0 {
			if w.stop.Load() {
				return
			}
			futexWait(m, 2)
		}
		w.wakeSample(time.Since(t0))
	}
	w.spin(holdIters)
	if atomic.SwapUint32(m, 0) == 2 {
		futexWake(m, 1)
	}
}

// sequence runs one pass over the phases.
func (w *worker) sequence() {
	for _, ph := range w.task.Spec.Phases {
		d := time.Duration(ph.MS * 1e6)
		switch ph.Kind {
		case "spin":
			w.spinFor(d)
		case "sleep":
			w.sleepFor(d)
		case "yield":
			for end := time.Now().Add(d); time.Now().Before(end) && !w.stop.Load(); {
				w.yield(true)
			}
		case "io":
			data := make([]byte, 4096)
			for end := time.Now().Add(d); time.Now().Before(end) && !w.stop.Load(); {
				os.WriteFile("/tmp/ktstr-seq-io", data, 0o644)
			}
		}
	}
}

// forkExit forks a child that exits at once and waits for it; the time
// until the parent runs again is the sample. The raw fork copies only this
// thread and the child calls exit_group before any Go code runs.
func (w *worker) forkExit() {
	t0 := time.Now()
	pid, _, errno := syscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)
	if errno != 0 {
		return
	}
	if pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	unix.Wait4(int(pid), &ws, 0, nil)
	w.wakeSample(time.Since(t0))
	w.iterations++
}
