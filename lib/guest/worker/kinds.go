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

	"github.com/ktstr-go/ktstr/lib/model/workload"
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
			w.Sample(time.Duration(d))
		}
	}
}

// pick builds the work unit of the task's type from the one table of work
// types (workload.Types), on this worker as its Kit.
func (w *worker) pick() (func(), error) {
	t, ok := workload.LookupType(w.task.Spec.Type)
	if !ok {
		return nil, fmt.Errorf("unknown work type %q", w.task.Spec.Type)
	}
	if t.Unit == nil {
		return nil, fmt.Errorf("%s workers run their command directly", t.Name)
	}
	return t.Unit(w, w.task.Spec, w.params)
}

// The Kit of the work units (see workload.Kit): the system interfaces they
// use, on the worker's own thread.
var _ workload.Kit = (*worker)(nil)

// Count counts one iteration.
func (w *worker) Count() { w.iterations++ }

// Stopped says the worker was told to stop.
func (w *worker) Stopped() bool { return w.stop.Load() }

// Rand returns a pseudo-random number in [0, n).
func (w *worker) Rand(n int) int { return w.rng.IntN(n) }

// Allowed is the cgroup's effective CPUs.
func (w *worker) Allowed() []int { return w.task.Allowed }

// MoveTo pins the worker's thread to cpu.
func (w *worker) MoveTo(cpu int) { setAffinity([]int{cpu}) }

// SetNice sets the worker thread's nice value.
func (w *worker) SetNice(nice int) { unix.Setpriority(unix.PRIO_PROCESS, w.tid, nice) }

// SetPolicy sets the worker thread's scheduling class.
func (w *worker) SetPolicy(class string, priority int) { setPolicy(class, priority) }

// Nanosleep sleeps d on the worker's thread, without a wake sample.
func (w *worker) Nanosleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Nanosleep(&ts, nil)
}

// TempFile creates a file in /tmp (the guest's tmpfs), removed at teardown.
func (w *worker) TempFile() (*os.File, error) {
	f, err := os.CreateTemp("/tmp", "ktstr-io-")
	if err != nil {
		return nil, err
	}
	w.ioFile = f
	return f, nil
}

// Map maps size bytes of private anonymous memory without huge pages,
// unmapped at teardown.
func (w *worker) Map(size int) ([]byte, error) {
	region, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	unix.Madvise(region, unix.MADV_NOHUGEPAGE)
	w.region = region
	return region, nil
}

// DropPages discards region's pages: the next touch faults.
func (w *worker) DropPages(region []byte) { unix.Madvise(region, unix.MADV_DONTNEED) }

// PipeExchange returns the pipe ping-pong round.
func (w *worker) PipeExchange() (func(), error) {
	if err := w.needPipes(); err != nil {
		return nil, err
	}
	return w.pipeExchange, nil
}

// PingPong returns the futex ping-pong round.
func (w *worker) PingPong(spinIters int) (func(), error) {
	if err := w.needShared(); err != nil {
		return nil, err
	}
	return func() { w.pingPong(spinIters) }, nil
}

// FanOut returns the fan-out round of this worker's role in its group.
func (w *worker) FanOut(spinIters int, work func()) (func(), error) {
	if err := w.needShared(); err != nil {
		return nil, err
	}
	return w.fanOut(spinIters, work), nil
}

// MutexRound returns the futex-mutex round.
func (w *worker) MutexRound(workIters, holdIters int) (func(), error) {
	if err := w.needShared(); err != nil {
		return nil, err
	}
	return func() { w.mutexRound(workIters, holdIters) }, nil
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
	w.Spin(spinIters)
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
			w.Spin(spinIters)
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

// mutexRound: work, take the shared futex mutex (recording how long a
// contended acquire waited), hold it, release it.
func (w *worker) mutexRound(workIters, holdIters int) {
	m := w.word(offWord)
	w.Spin(workIters)
	if !atomic.CompareAndSwapUint32(m, 0, 1) {
		t0 := time.Now()
		for atomic.SwapUint32(m, 2) != 0 {
			if w.stop.Load() {
				return
			}
			futexWait(m, 2)
		}
		w.Sample(time.Since(t0))
	}
	w.Spin(holdIters)
	if atomic.SwapUint32(m, 0) == 2 {
		futexWake(m, 1)
	}
}

// ForkExit forks a child that exits at once and waits for it; the time
// until the parent runs again is the sample. The raw fork copies only this
// thread and the child calls exit_group before any Go code runs.
func (w *worker) ForkExit() {
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
	w.Sample(time.Since(t0))
	w.iterations++
}
