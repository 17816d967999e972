// Package worker is the in-guest runtime of lib/model/workload: each worker is
// a process (re-executed from /init, started directly in its cgroup) that
// runs one work type's unit in a loop, with telemetry: work units, CPU and
// wall time, off-CPU share, the longest gap without progress (when and
// where), on-CPU stalls, CPUs used, migrations, schedstat run delay and
// wake-latency samples; and the launcher that starts, releases, stops and
// collects them, watching their shared progress slots.
package worker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// Task is what the agent hands one worker on its stdin.
type Task struct {
	Spec   workload.Spec `json:"spec"`
	Cgroup string        `json:"cgroup"`
	// GroupIndex is the worker's place in its cooperating group.
	GroupIndex int `json:"group_index"`
	GroupSize  int `json:"group_size"`
	// CPUs is the affinity to set; empty keeps the cgroup's cpuset.
	CPUs []int `json:"cpus,omitempty"`
	// Allowed is the cgroup's effective CPUs (AffinityChurn picks from it).
	Allowed []int `json:"allowed,omitempty"`
	// Shared says fd 3 is the group's shared memory; Pipes says fds 4 (in)
	// and 5 (out) are pipes to the partner.
	Shared bool `json:"shared,omitempty"`
	Pipes  bool `json:"pipes,omitempty"`
	// ProgressFD is the fd of the shared progress memory (0: none) and
	// ProgressSlot the worker's slot in it.
	ProgressFD   int `json:"progress_fd,omitempty"`
	ProgressSlot int `json:"progress_slot,omitempty"`
}

// Protocol lines on the worker's stdin/stdout. The stop line carries the
// agent's wall clock (UnixNano) at stop, so that a worker that was not
// running when told to stop still ends its last gap at the right moment.
const (
	lineReady = "ready"
	lineGo    = "go"
	lineStop  = "stop"
)

// maxWakeSamples caps the reservoir of wake-latency samples.
const maxWakeSamples = 100_000

// Checkpoints (clock read, gap bookkeeping, and every cpuSampleEvery-th
// one a getcpu) run every stride units. The stride adapts so that
// checkpoints are minCheckpointGap to maxCheckpointGap apart: often enough
// that a scheduling gap is measured to well under a millisecond, rarely
// enough that bookkeeping stays under 1 % of a short unit's cost.
const (
	cpuSampleEvery   = 16
	minCheckpointGap = 50 * time.Microsecond
	maxCheckpointGap = 500 * time.Microsecond
	maxStride        = 1024
	// gapProbe is the time between checkpoints beyond which a checkpoint
	// reads the thread's CPU time to split the interval into off-CPU time
	// (the scheduler's doing) and on-CPU time (host noise under TCG).
	gapProbe = time.Millisecond
)

// Main is the worker process (the binary in role.Worker, started by
// Launch): it reads its task on stdin, sets itself up, reports ready on
// stdout, waits for go, works until told to stop, and writes its report.
// It returns the exit status; args are unused.
func Main(args []string, stdout, stderr io.Writer) int {
	return workerMain(os.Stdin, stdout, stderr)
}

func workerMain(stdin io.Reader, stdout, stderr io.Writer) int {
	in := bufio.NewReader(stdin)
	line, err := in.ReadString('\n')
	if err != nil {
		fmt.Fprintf(stderr, "worker: read task: %v\n", err)
		return 2
	}
	var task Task
	if err := json.Unmarshal([]byte(line), &task); err != nil {
		fmt.Fprintf(stderr, "worker: decode task: %v\n", err)
		return 2
	}
	// The hot loop owns this OS thread: its CPU time and schedstat are the
	// worker's, and policy/affinity/nice apply to it.
	runtime.LockOSThread()
	w, err := newWorker(task)
	rep := record.WorkerReport{PID: os.Getpid(), Cgroup: task.Cgroup, WorkType: task.Spec.Type}
	if task.Spec.Affinity != nil {
		rep.Affinity = task.Spec.Affinity.Kind
	}
	if t, _ := workload.LookupType(task.Spec.Type); t.Messenger && task.GroupIndex == 0 {
		rep.Role = "messenger"
	}
	if task.Spec.Policy != nil {
		rep.Policy = task.Spec.Policy.Class
	}
	if err == nil {
		err = w.setup()
	}
	if err != nil {
		rep.Error = err.Error()
	}
	fmt.Fprintln(stdout, lineReady)
	if cmd, err := in.ReadString('\n'); err != nil || strings.TrimSpace(cmd) != lineGo {
		return 3 // the agent gave up on us
	}
	if rep.Error == "" {
		// Named only once working: sched_ext dumps and ps then say what it
		// is ("init" otherwise: workers are re-executed /init), and a
		// scheduler that picks on workers by name cannot stall start-up.
		setThreadName("kt:" + task.Spec.Type)
		go func() {
			for {
				l, err := in.ReadString('\n')
				cmd, at, _ := strings.Cut(strings.TrimSpace(l), " ")
				if err != nil || cmd == lineStop {
					if ns, perr := strconv.ParseInt(at, 10, 64); perr == nil {
						w.stopAt.Store(ns)
					}
					w.stop.Store(true)
					return
				}
			}
		}()
		w.run(&rep)
		w.teardown()
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintln(stdout, string(b))
	return 0
}

// worker is the state of one running worker.
type worker struct {
	task   Task
	params map[string]float64
	stop   atomic.Bool
	unit   func() // one work unit
	rng    *rand.Rand
	sink   uint64 // defeats dead-code elimination of spin loops
	shared []byte
	in     *os.File
	out    *os.File
	region []byte // page-fault region
	ioFile *os.File
	tid    int
	// progress is the shared slot the agent reads (nil without one).
	progress     *progressMap
	progressSlot int
	stopAt       atomic.Int64 // the agent's stop time, UnixNano (0: unknown)

	// telemetry
	units, iterations uint64
	wake              []float64
	wakeTotal         uint64
	start             time.Time
	last              time.Time
	maxGap            time.Duration
	maxGapAt          time.Duration
	maxGapCPU         int
	maxGapFromCPU     int
	maxGapStart       time.Time
	maxStall          time.Duration
	stalled           time.Duration // sum of on-CPU stalls
	cpus              cpuSet
	lastCPU           int
	pendingGapCPU     bool
	stride, sinceLast uint64
	checkpoints       uint64
	// markT and markCPU are the wall time and thread CPU time at the last
	// CPU-time reading; off-CPU time since then is wall minus CPU delta.
	markT   time.Time
	markCPU time.Duration
}

// cpuSet is a bitset of CPU numbers (up to 8192, the x86 NR_CPUS limit).
type cpuSet [128]uint64

func (s *cpuSet) add(c int) {
	if c >= 0 && c < 8192 {
		s[c/64] |= 1 << (c % 64)
	}
}

func (s *cpuSet) list() []int {
	var out []int
	for i, w := range s {
		for b := 0; w != 0; b++ {
			if w&1 != 0 {
				out = append(out, i*64+b)
			}
			w >>= 1
		}
	}
	return out
}

func newWorker(t Task) (*worker, error) {
	w := &worker{task: t, params: t.Spec.Resolved(), rng: rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano()))),
		tid: unix.Gettid(), lastCPU: -1, maxGapCPU: -1, maxGapFromCPU: -1, stride: 1}
	if t.ProgressFD > 0 {
		m, err := mapProgress(os.NewFile(uintptr(t.ProgressFD), "progress"), t.ProgressSlot+1)
		if err != nil {
			return nil, err
		}
		w.progress, w.progressSlot = m, t.ProgressSlot
		m.store(w.progressSlot, slotTID, uint64(w.tid))
	}
	if t.Shared {
		f := os.NewFile(3, "shared")
		b, err := unix.Mmap(int(f.Fd()), 0, sharedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("map group memory: %w", err)
		}
		w.shared = b
	}
	if t.Pipes {
		w.in, w.out = os.NewFile(4, "in"), os.NewFile(5, "out")
	}
	unit, err := w.pick()
	if err != nil {
		return nil, err
	}
	w.unit = unit
	return w, nil
}

// setup applies nice, scheduling policy, affinity and memory policy to the
// worker's thread.
func (w *worker) setup() error {
	s := w.task.Spec
	if s.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, w.tid, s.Nice); err != nil {
			return fmt.Errorf("nice %d: %w", s.Nice, err)
		}
	}
	if s.Policy != nil && s.Policy.Class != "normal" {
		if err := setPolicy(s.Policy.Class, s.Policy.Priority); err != nil {
			return fmt.Errorf("policy %s: %w", s.Policy.Class, err)
		}
	}
	if len(w.task.CPUs) > 0 {
		if err := setAffinity(w.task.CPUs); err != nil {
			return fmt.Errorf("affinity %s: %w", topology.FormatList(w.task.CPUs), err)
		}
	}
	if m := s.MemPolicy; m != nil && m.Kind != "default" {
		if err := setMemPolicy(m); err != nil {
			return fmt.Errorf("mem_policy %s: %w", m.Kind, err)
		}
	}
	return nil
}

func (w *worker) teardown() {
	if w.ioFile != nil {
		name := w.ioFile.Name()
		w.ioFile.Close()
		os.Remove(name)
	}
	if w.region != nil {
		unix.Munmap(w.region)
	}
}

// run works until stopped, keeping the telemetry.
func (w *worker) run(rep *record.WorkerReport) {
	cpu0 := threadCPUTime()
	delay0, _ := schedstat(w.tid)
	mig0 := migrations(w.tid)
	w.start = time.Now()
	w.last, w.markT, w.markCPU = w.start, w.start, cpu0
	w.publish(w.start)
	w.sampleCPU()
	for !w.stop.Load() {
		w.unit()
		w.done()
	}
	// A last checkpoint at the stop: a stall just before it is a gap like
	// any other. It ends when the agent said stop, not when this worker
	// next got a CPU to hear it.
	end := time.Now()
	if ns := w.stopAt.Load(); ns > 0 && time.Unix(0, ns).Before(end) && time.Unix(0, ns).After(w.last) {
		end = time.Unix(0, ns)
	}
	w.checkpoint(end, true)
	if w.progress != nil {
		w.progress.store(w.progressSlot, slotStopping, 1)
	}
	wall := end.Sub(w.start)
	rep.WorkUnits, rep.Iterations = w.units, w.iterations
	rep.WallS = wall.Seconds()
	rep.CPUS = (threadCPUTime() - cpu0).Seconds()
	if rep.WallS > 0 {
		rep.OffCPUPct = max(0, (rep.WallS-rep.CPUS)/rep.WallS*100)
	}
	rep.MaxGapMS = float64(w.maxGap) / 1e6
	rep.MaxGapAtMS = float64(w.maxGapAt) / 1e6
	rep.MaxGapCPU, rep.MaxGapFromCPU = w.maxGapCPU, w.maxGapFromCPU
	rep.MaxOnCPUStallMS = float64(w.maxStall) / 1e6
	rep.OnCPUStallS = w.stalled.Seconds()
	if !w.maxGapStart.IsZero() {
		rep.MaxGapStartT = float64(w.maxGapStart.UnixNano()) / 1e9 // wall clock; the agent converts
	}
	rep.CPUsUsed = topology.FormatList(w.cpus.list())
	if d1, ok := schedstat(w.tid); ok {
		rep.RunDelayS = (d1 - delay0).Seconds()
	}
	rep.Migrations = migrations(w.tid) - mig0
	rep.WakeLatencyUS, rep.WakeSamples = w.wake, w.wakeTotal
}

// checkpoint records progress at now. An interval since the previous
// checkpoint longer than gapProbe is split, by the thread's CPU time, into
// off-CPU time — the worker was not running: a scheduling gap — and on-CPU
// time without progress — under TCG, its vCPU was descheduled on the host
// and the guest charged that to whatever ran. Every cpuSampleEvery-th
// checkpoint, or right after a new largest gap, it reads the CPU. It
// adapts the stride; final says this is the last checkpoint.
func (w *worker) checkpoint(now time.Time, final bool) {
	// The agent's stop is in the slot before it is on the pipe: seen here,
	// the worker stops at once and its last interval ends at the stop, even
	// if the scheduler kept it off the CPU across it.
	if !final && w.progress != nil {
		if ns := w.progress.load(w.progressSlot, slotStopNS); ns != 0 {
			w.stopAt.Store(int64(ns))
			w.stop.Store(true)
			return
		}
	}
	gap := now.Sub(w.last)
	w.checkpoints++
	sample := w.checkpoints%cpuSampleEvery == 0
	if gap > gapProbe || final {
		cpu := threadCPUTime()
		// Off-CPU time in [markT, now], which holds the whole gap; the
		// part of it before the gap is at most a few checkpoints' worth.
		off := min(max(0, now.Sub(w.markT)-(cpu-w.markCPU)), gap)
		if off > w.maxGap {
			w.maxGap, w.maxGapAt, w.maxGapStart = off, w.last.Sub(w.start), w.last
			w.maxGapFromCPU = w.lastCPU
			w.pendingGapCPU = !final
		}
		w.maxStall = max(w.maxStall, gap-off)
		w.stalled += gap - off
		w.markT, w.markCPU = now, cpu
	} else if sample {
		w.markT, w.markCPU = now, threadCPUTime()
	}
	w.publish(now)
	if final {
		return
	}
	switch {
	case gap < minCheckpointGap && w.stride < maxStride:
		w.stride *= 2
	case gap > maxCheckpointGap && w.stride > 1:
		w.stride /= 2
	}
	w.last, w.sinceLast = now, 0
	if w.pendingGapCPU || sample {
		c := w.sampleCPU()
		if w.pendingGapCPU {
			w.maxGapCPU, w.pendingGapCPU = c, false
		}
	}
}

// done counts one unit and takes a checkpoint every stride units.
func (w *worker) done() {
	w.units++
	if w.sinceLast++; w.sinceLast >= w.stride {
		w.checkpoint(time.Now(), false)
	}
}

// publish stores the progress the agent watches.
func (w *worker) publish(now time.Time) {
	if w.progress != nil {
		w.progress.store(w.progressSlot, slotUnits, w.units)
		w.progress.store(w.progressSlot, slotLastNS, uint64(now.UnixNano()))
	}
}

func (w *worker) sampleCPU() int {
	c := getcpu()
	w.cpus.add(c)
	w.lastCPU = c
	return c
}

// Sample records a wake latency, keeping a uniform reservoir.
func (w *worker) Sample(d time.Duration) {
	w.wakeTotal++
	us := float64(d) / 1e3
	if len(w.wake) < maxWakeSamples {
		w.wake = append(w.wake, us)
		return
	}
	if j := w.rng.Uint64N(w.wakeTotal); j < maxWakeSamples {
		w.wake[j] = us
	}
}

// Spin burns n iterations of integer work.
func (w *worker) Spin(n int) {
	x := w.sink
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	w.sink = x
	w.iterations++
}

// SpinFor spins until d has passed.
func (w *worker) SpinFor(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) && !w.stop.Load() {
		w.Spin(1024)
	}
}

// SleepFor sleeps d and records how late it woke. It calls nanosleep on the
// worker's own thread: Go's timers wake through the runtime's poller, which
// adds about a millisecond that is not the scheduler's doing.
func (w *worker) SleepFor(d time.Duration) {
	t0 := time.Now()
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
	if late := time.Since(t0) - d; late >= 0 {
		w.Sample(late)
	}
}

// Yield calls sched_yield and records how long it took to run again.
func (w *worker) Yield(sample bool) {
	t0 := time.Now()
	unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	if sample {
		w.Sample(time.Since(t0))
	}
}

// --- thread-level system interfaces ---

func threadCPUTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// setThreadName names the calling thread (15 bytes at most).
func setThreadName(name string) {
	if len(name) > 15 {
		name = name[:15]
	}
	if p, err := unix.BytePtrFromString(name); err == nil {
		unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
	}
}

func getcpu() int {
	var cpu, node uint32
	_, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	if errno != 0 {
		return -1
	}
	return int(cpu)
}

// schedstat returns the thread's run delay (time runnable but waiting).
func schedstat(tid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns), err == nil
}

// migrations reads se.nr_migrations from /proc/self/task/TID/sched
// (CONFIG_SCHED_DEBUG), 0 if unavailable.
func migrations(tid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/sched", tid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "se.nr_migrations" {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func setAffinity(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return unix.SchedSetaffinity(0, &set)
}

var policyNumbers = map[string]uint32{"normal": unix.SCHED_NORMAL, "batch": unix.SCHED_BATCH, "idle": unix.SCHED_IDLE, "fifo": unix.SCHED_FIFO, "rr": unix.SCHED_RR}

func setPolicy(class string, prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policyNumbers[class], Priority: uint32(prio)}
	return unix.SchedSetAttr(0, &attr, 0)
}

var memModes = map[string]int{"default": 0, "preferred": 1, "bind": 2, "interleave": 3, "local": 4, "preferred_many": 5, "weighted_interleave": 6}
var memFlagBits = map[string]int{"static_nodes": 1 << 15, "relative_nodes": 1 << 14, "numa_balancing": 1 << 13}

func setMemPolicy(m *workload.MemPolicy) error {
	nodes, err := topology.ParseList(m.Nodes)
	if err != nil {
		return err
	}
	var mask [16]uint64 // 1024 nodes
	for _, n := range nodes {
		if n >= 1024 {
			return fmt.Errorf("node %d out of range", n)
		}
		mask[n/64] |= 1 << (n % 64)
	}
	mode := memModes[m.Kind]
	for _, f := range m.Flags {
		mode |= memFlagBits[f]
	}
	maskPtr, maxNode := uintptr(0), uintptr(0)
	if len(nodes) > 0 {
		maskPtr, maxNode = uintptr(unsafe.Pointer(&mask[0])), 1024
	}
	_, _, errno := unix.Syscall(unix.SYS_SET_MEMPOLICY, uintptr(mode), maskPtr, maxNode)
	if errno != 0 {
		return errno
	}
	return nil
}
