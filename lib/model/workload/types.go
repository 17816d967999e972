package workload

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Type is a work type: what the host validates (parameters and their
// defaults, group size, type-specific fields) and what a worker in the
// guest runs (its unit). Types is the one table of them.
type Type struct {
	Name string
	// Params are the parameters and their defaults.
	Params map[string]float64
	// Group is how many workers cooperate (nil: none); worker counts must
	// be a multiple of it. For fan-out types it depends on the parameters.
	Group func(params map[string]float64) int
	// Pipes says the workers of a group pair up over pipes (the runtime
	// hands each a pipe from and to its partner); Messenger says worker 0
	// of each group is the messenger that wakes the others.
	Pipes, Messenger bool
	// Wakes says whether it records wake-latency samples.
	Wakes bool
	// Summary says what it stresses.
	Summary string
	// CPUBound says it never sleeps: its workers are runnable all the
	// time, so a scheduler must keep the CPUs they may use busy (the work
	// conservation check counts on it).
	CPUBound bool
	// Yields says its workers call sched_yield: they give their CPU away
	// on purpose, so how much each one gets depends on whom it yields
	// to, not only on the scheduler's fairness (fair share leaves them
	// out).
	Yields bool
	// Check validates the type's own fields of a spec (nil: none).
	Check func(s Spec) error
	// Unit builds one worker's work unit on k from its spec and its
	// parameters (defaults filled in: Spec.Resolved), once, before the
	// worker is released; the worker then calls it in a loop until it is
	// stopped. Nil for Custom: its worker is the spec's command.
	Unit func(k Kit, s Spec, p Params) (func(), error)
}

// Kit is a worker as its unit sees it: the in-guest runtime
// (lib/guest/worker) implements it on the worker's own OS thread, so
// that units are compositions of these primitives and the system calls
// and telemetry stay in the runtime. Iterations and wake-latency samples
// are counted through it; a unit returns soon after Stopped turns true.
type Kit interface {
	// Spin burns n iterations of integer work and counts one iteration.
	Spin(n int)
	// SpinFor spins until d has passed or the worker is stopped.
	SpinFor(d time.Duration)
	// SleepFor sleeps d on the worker's thread; how late it woke is a
	// wake sample. Nanosleep sleeps d without a sample.
	SleepFor(d time.Duration)
	Nanosleep(d time.Duration)
	// Yield calls sched_yield; with sample, the time until the worker ran
	// again is a wake sample.
	Yield(sample bool)
	// Count counts one iteration; Stopped says the worker was told to stop.
	Count()
	Stopped() bool
	// Rand returns a pseudo-random number in [0, n).
	Rand(n int) int
	// Allowed is the worker's cgroup's effective CPUs.
	Allowed() []int
	// MoveTo sets the worker's affinity to one CPU; SetNice its nice
	// value; SetPolicy its scheduling class (errors are ignored: churn
	// goes on).
	MoveTo(cpu int)
	SetNice(nice int)
	SetPolicy(class string, priority int)
	// TempFile is a file on the guest's tmpfs, removed when the worker
	// ends.
	TempFile() (*os.File, error)
	// Map maps size bytes of private anonymous memory without huge pages,
	// unmapped when the worker ends; DropPages discards their contents
	// (the next touch faults).
	Map(size int) ([]byte, error)
	DropPages(region []byte)
	// ForkExit forks a child that exits at once and waits for it: one
	// iteration, and the time until the parent runs again is a sample.
	ForkExit()
	// The cooperative rounds of a group's workers. PipeExchange is one
	// 1-byte ping-pong with the partner over pipes; PingPong passes a
	// turn word with futexes after spinning; FanOut has the messenger spin
	// and wake the receivers, which then run work (if any); MutexRound
	// works, takes the group's futex mutex, holds it and releases it. Each
	// fails when the runtime gave the worker no group memory or pipes.
	PipeExchange() (func(), error)
	PingPong(spinIters int) (func(), error)
	FanOut(spinIters int, work func()) (func(), error)
	MutexRound(workIters, holdIters int) (func(), error)
}

func fixed(n int) func(map[string]float64) int { return func(map[string]float64) int { return n } }
func param(name string, plus int) func(map[string]float64) int {
	return func(p map[string]float64) int { return int(p[name]) + plus }
}

// Params are a work group's parameters by name.
type Params map[string]float64

// Int is parameter name as an integer.
func (p Params) Int(name string) int { return int(p[name]) }

// Types are the 20 work types, with ktstr's names and defaults.
var Types = []Type{
	{Name: "CpuSpin", CPUBound: true, Summary: "1024 spin iterations per unit; pure CPU",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) { return func() { k.Spin(1024) }, nil }},
	{Name: "YieldHeavy", CPUBound: true, Yields: true, Summary: "sched_yield every iteration; wake and sleep paths",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) { return func() { k.Yield(false); k.Count() }, nil }},
	{Name: "Mixed", CPUBound: true, Yields: true, Summary: "1024 spins then a yield",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) { return func() { k.Spin(1024); k.Yield(false) }, nil }},
	{Name: "IoSync", Wakes: true, Summary: "write 64 KB to a tmpfs file, then sleep 100 µs",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) {
			f, err := k.TempFile()
			if err != nil {
				return nil, err
			}
			data := make([]byte, 64<<10)
			return func() {
				f.WriteAt(data, 0)
				k.SleepFor(100 * time.Microsecond)
				k.Count()
			}, nil
		}},
	{Name: "Bursty", Params: map[string]float64{"burst_ms": 50, "sleep_ms": 100}, Wakes: true,
		Summary: "CPU bursts and sleeps; CPU borrowing",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			burst, sleep := time.Duration(p["burst_ms"]*1e6), time.Duration(p["sleep_ms"]*1e6)
			return func() { k.SpinFor(burst); k.SleepFor(sleep) }, nil
		}},
	{Name: "PipeIo", Params: map[string]float64{"burst_iters": 1024}, Group: fixed(2), Pipes: true, Wakes: true,
		Summary: "burst, then 1-byte pipe ping-pong with a partner",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			exchange, err := k.PipeExchange()
			if err != nil {
				return nil, err
			}
			burst := p.Int("burst_iters")
			return func() { k.Spin(burst); exchange() }, nil
		}},
	{Name: "FutexPingPong", Params: map[string]float64{"spin_iters": 1024}, Group: fixed(2), Wakes: true,
		Summary: "spin, wake the partner, wait on a shared futex",
		Unit:    func(k Kit, _ Spec, p Params) (func(), error) { return k.PingPong(p.Int("spin_iters")) }},
	{Name: "CachePressure", Params: map[string]float64{"size_kb": 32, "stride": 64}, CPUBound: true,
		Summary: "strided read-modify-write over a per-worker buffer",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			buf, stride := make([]byte, p.Int("size_kb")<<10), p.Int("stride")
			return func() { cachePass(k, buf, stride) }, nil
		}},
	{Name: "CacheYield", Params: map[string]float64{"size_kb": 32, "stride": 64}, Wakes: true,
		Summary: "cache pressure then yield",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			buf, stride := make([]byte, p.Int("size_kb")<<10), p.Int("stride")
			return func() { cachePass(k, buf, stride); k.Yield(true) }, nil
		}},
	{Name: "CachePipe", Params: map[string]float64{"size_kb": 32, "burst_iters": 1024}, Group: fixed(2), Pipes: true, Wakes: true,
		Summary: "cache burst then pipe exchange",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			exchange, err := k.PipeExchange()
			if err != nil {
				return nil, err
			}
			buf, burst := make([]byte, p.Int("size_kb")<<10), p.Int("burst_iters")
			return func() { cachePass(k, buf, 64); k.Spin(burst); exchange() }, nil
		}},
	{Name: "FutexFanOut", Params: map[string]float64{"fan_out": 4, "spin_iters": 1024}, Group: param("fan_out", 1), Messenger: true, Wakes: true,
		Summary: "one messenger spins then wakes N receivers",
		Unit:    func(k Kit, _ Spec, p Params) (func(), error) { return k.FanOut(p.Int("spin_iters"), nil) }},
	{Name: "FanOutCompute", Params: map[string]float64{"fan_out": 4, "cache_footprint_kb": 256, "operations": 5, "sleep_usec": 100},
		Group: param("fan_out", 1), Messenger: true, Wakes: true,
		Summary: "messenger stamps and wakes N workers that compute",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			dim := max(4, int(math.Sqrt(p["cache_footprint_kb"]*1024/3/8)))
			a, b, c := make([]uint64, dim*dim), make([]uint64, dim*dim), make([]uint64, dim*dim)
			for i := range a {
				a[i], b[i] = uint64(i), uint64(i*7)
			}
			sleep, ops := time.Duration(p["sleep_usec"]*1e3), int(p["operations"])
			return k.FanOut(1024, func() {
				k.Nanosleep(sleep)
				for o := 0; o < ops; o++ {
					matmul(a, b, c, dim)
				}
			})
		}},
	{Name: "Sequence", Wakes: true, Summary: "loop over phases: spin, sleep, yield, io",
		Check: checkPhases,
		Unit:  func(k Kit, s Spec, _ Params) (func(), error) { return func() { sequence(k, s.Phases) }, nil }},
	{Name: "ForkExit", Wakes: true, Summary: "fork a child that exits, wait for it; task creation and exit",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) { return k.ForkExit, nil }},
	{Name: "NiceSweep", Wakes: true, Summary: "512 spins, cycle nice -20..19, yield",
		Unit: func(k Kit, _ Spec, _ Params) (func(), error) {
			nice := -20
			return func() {
				k.Spin(512)
				k.SetNice(nice)
				if nice++; nice > 19 {
					nice = -20
				}
				k.Yield(true)
			}, nil
		}},
	{Name: "AffinityChurn", Params: map[string]float64{"spin_iters": 1024}, Wakes: true,
		Summary: "spin, move to a random allowed CPU, yield",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			allowed := k.Allowed()
			if len(allowed) == 0 {
				return nil, fmt.Errorf("AffinityChurn: no allowed CPUs")
			}
			spin := p.Int("spin_iters")
			return func() {
				k.Spin(spin)
				k.MoveTo(allowed[k.Rand(len(allowed))])
				k.Yield(true)
			}, nil
		}},
	{Name: "PolicyChurn", Params: map[string]float64{"spin_iters": 1024}, Wakes: true,
		Summary: "spin, cycle OTHER→BATCH→IDLE→FIFO→RR, yield",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			spin, i := p.Int("spin_iters"), 0
			return func() {
				k.Spin(spin)
				prio := 0
				if c := policyClasses[i]; c == "fifo" || c == "rr" {
					prio = 1
				}
				k.SetPolicy(policyClasses[i], prio)
				i = (i + 1) % len(policyClasses)
				k.Yield(true)
			}, nil
		}},
	{Name: "PageFaultChurn", Params: map[string]float64{"region_kb": 4096, "touches_per_cycle": 256, "spin_iters": 64}, CPUBound: true,
		Summary: "write-fault random pages of a region, then drop them",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			region, err := k.Map(p.Int("region_kb") << 10)
			if err != nil {
				return nil, err
			}
			page := os.Getpagesize()
			pages, touches, spin := len(region)/page, p.Int("touches_per_cycle"), p.Int("spin_iters")
			x := uint64(os.Getpid())*2654435761 + 1
			return func() {
				for t := 0; t < touches; t++ {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					region[int(x%uint64(pages))*page]++
				}
				k.Spin(spin)
				k.DropPages(region)
			}, nil
		}},
	{Name: "MutexContention", Params: map[string]float64{"contenders": 4, "hold_iters": 256, "work_iters": 1024},
		Group: param("contenders", 0), Wakes: true,
		Summary: "futex mutex: work, acquire, hold, release",
		Unit: func(k Kit, _ Spec, p Params) (func(), error) {
			return k.MutexRound(p.Int("work_iters"), p.Int("hold_iters"))
		}},
	{Name: "Custom", Summary: "a user command as the worker (no telemetry beyond time)",
		Check: func(s Spec) error {
			if len(s.Command) == 0 {
				return fmt.Errorf("command is required")
			}
			return nil
		}},
}

var phaseKinds = []string{"spin", "sleep", "yield", "io"}

func checkPhases(s Spec) error {
	if len(s.Phases) == 0 {
		return fmt.Errorf("phases are required")
	}
	for i, p := range s.Phases {
		if !slices.Contains(phaseKinds, p.Kind) || p.MS <= 0 {
			return fmt.Errorf("phase %d: kind must be one of %s and ms > 0", i, strings.Join(phaseKinds, ", "))
		}
	}
	return nil
}

// LookupType finds a work type by its exact name.
func LookupType(name string) (Type, bool) {
	for _, t := range Types {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// TypeNames lists the work type names.
func TypeNames() []string {
	var out []string
	for _, t := range Types {
		out = append(out, t.Name)
	}
	return out
}

// cachePass is one strided read-modify-write pass over buf.
func cachePass(k Kit, buf []byte, stride int) {
	stride = max(stride, 1)
	for i := 0; i < len(buf); i += stride {
		buf[i]++
	}
	k.Count()
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

// sequence runs one pass over the phases.
func sequence(k Kit, phases []Phase) {
	for _, ph := range phases {
		d := time.Duration(ph.MS * 1e6)
		switch ph.Kind {
		case "spin":
			k.SpinFor(d)
		case "sleep":
			k.SleepFor(d)
		case "yield":
			for end := time.Now().Add(d); time.Now().Before(end) && !k.Stopped(); {
				k.Yield(true)
			}
		case "io":
			// A file of this process's own, removed after the phase: on a
			// bare-metal host /tmp outlives the run.
			data, path := make([]byte, 4096), fmt.Sprintf("%s/ktstr-seq-io-%d", os.TempDir(), os.Getpid())
			for end := time.Now().Add(d); time.Now().Before(end) && !k.Stopped(); {
				os.WriteFile(path, data, 0o644)
			}
			os.Remove(path)
		}
	}
}
