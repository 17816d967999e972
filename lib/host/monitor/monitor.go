package monitor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/host/guestmem"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Defaults.
const (
	DefaultHZ = 10
	// DefaultMaxTimeline bounds Record.Timeline (5 minutes at 10 Hz); a
	// longer run keeps every k-th sample.
	DefaultMaxTimeline = 3000
	// LastSamples is how many final samples a failed run's record keeps:
	// the run's last, or, when sched_ext left the enabled state, those up
	// to LastAfterExit samples past that.
	LastSamples   = 20
	LastAfterExit = 3
)

// Config is one guest to watch.
type Config struct {
	// Vmlinux is the guest kernel's ELF (symbols and BTF).
	Vmlinux string
	// ShmFiles are the guest-RAM backing files in NUMA node order.
	ShmFiles []string
	// CPUs is the guest's CPU count and Nodes its NUMA node count.
	CPUs, Nodes int
	// HZ is the sampling rate (for the record).
	HZ float64
	// KernelHZ is the guest's CONFIG_HZ (jiffies per second), needed only
	// for Watchdog.
	KernelHZ int
	// Watchdog, if positive, is written as sched_ext's watchdog timeout
	// whenever a scheduler is enabled with another one.
	Watchdog time.Duration
	// MaxTimeline bounds the record's timeline (default DefaultMaxTimeline).
	MaxTimeline int
}

// Monitor samples one guest. It is not safe for concurrent use: the VM's
// poll loop calls Sample.
type Monitor struct {
	cfg     Config
	layout  *Layout
	mem     *guestmem.Memory
	k       *guestmem.Kernel
	rec     record.Monitor
	samples []record.MonitorSample
	costNS  []int64
	lastErr string
	wd      *watchdog
	// loaded is closed once New's background load of the layout is done
	// (layout set, or the reason in rec.Error).
	loaded chan struct{}
}

type watchdog struct {
	rec          record.MonitorWatchdog
	refreshUntil uint64 // jiffies: keep scx_watchdog_timestamp fresh until then
}

// New prepares a monitor; a vmlinux that cannot be used leaves the monitor
// inert with the reason in its record. It returns at once: reading the
// vmlinux's symbols and BTF (about 20 ms) goes on while QEMU starts, and
// samples taken before it is done are skipped (the guest kernel is not up
// yet then anyway).
func New(cfg Config) *Monitor {
	if cfg.MaxTimeline <= 0 {
		cfg.MaxTimeline = DefaultMaxTimeline
	}
	m := &Monitor{cfg: cfg, rec: record.Monitor{HZ: cfg.HZ}, loaded: make(chan struct{})}
	if cfg.Watchdog > 0 {
		m.wd = &watchdog{rec: record.MonitorWatchdog{RequestedS: cfg.Watchdog.Seconds()}}
		m.rec.Watchdog = &m.wd.rec
	}
	go func() {
		defer close(m.loaded)
		m.load()
	}()
	return m
}

// load reads the layout of cfg.Vmlinux (New's background half).
func (m *Monitor) load() {
	cfg := m.cfg
	if cfg.Vmlinux == "" {
		m.rec.Error = "the kernel record names no vmlinux (needed for symbols and BTF)"
		return
	}
	l, err := LoadLayout(cfg.Vmlinux)
	if err != nil {
		m.rec.Error = err.Error()
		return
	}
	m.layout = l
	m.rec.Absent = l.AbsentList()
	if m.wd != nil {
		switch {
		case l.WatchdogTimeout == 0:
			m.wd.rec.Error = l.Absent[FieldWatchdog]
		case cfg.KernelHZ <= 0:
			m.wd.rec.Error = "the guest kernel's CONFIG_HZ is unknown"
		default:
			m.wd.rec.Jiffies = uint64(math.Ceil(cfg.Watchdog.Seconds() * float64(cfg.KernelHZ)))
		}
	}
}

// ready says whether the layout load is done, without waiting.
func (m *Monitor) ready() bool {
	select {
	case <-m.loaded:
		return true
	default:
		return false
	}
}

// Close unmaps guest memory.
func (m *Monitor) Close() {
	<-m.loaded
	if m.mem != nil {
		m.mem.Close()
		m.mem, m.k = nil, nil
	}
}

// Sample reads every CPU's runqueue once. t is the host time since QEMU
// started and vcpus each vCPU thread's host CPU time at that moment. Reads
// before the guest kernel is up fail quietly (counted in ReadErrors).
func (m *Monitor) Sample(t time.Duration, vcpus []record.VCPUUsage) {
	if !m.ready() || m.layout == nil {
		return
	}
	runtime.LockOSThread()
	start := threadCPU()
	s, err := m.read(t)
	if err == nil {
		m.overrideWatchdog(t)
	}
	cost := threadCPU() - start
	runtime.UnlockOSThread()
	m.rec.Samples++
	if err != nil {
		m.rec.ReadErrors++
		m.lastErr = err.Error()
		return
	}
	m.costNS = append(m.costNS, cost)
	for _, u := range vcpus {
		if u.CPU >= 0 && u.CPU < len(s.CPUs) {
			s.CPUs[u.CPU].VCPURunS = math.Round(u.CPUS*1e4) / 1e4 // 0.1 ms: enough for the stall exemption
			s.CPUs[u.CPU].VCPUWaitS = math.Round(u.RunDelayS*1e4) / 1e4
		}
	}
	if len(m.samples) == 0 {
		m.rec.FirstT = s.T
	}
	m.samples = append(m.samples, s)
}

func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// attach maps guest memory and finds the kernel once it is up: the image
// in place (linux_banner reads as in vmlinux) and the page tables set.
func (m *Monitor) attach() error {
	if m.mem == nil {
		for _, p := range m.cfg.ShmFiles {
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				return fmt.Errorf("guest RAM %s not there yet", p)
			}
		}
		mem, err := guestmem.Open(m.cfg.ShmFiles, 0)
		if err != nil {
			return err
		}
		m.mem = mem
	}
	k, err := guestmem.NewKernel(m.mem, m.layout.Syms)
	if err != nil {
		return err
	}
	if want := m.layout.LinuxBanner; want != "" {
		got, err := k.CString(m.layout.BannerAddr, len(want)+1)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%w: linux_banner does not match vmlinux yet", guestmem.ErrNotReady)
		}
	}
	m.k = k
	return nil
}

func (m *Monitor) read(t time.Duration) (record.MonitorSample, error) {
	if m.k == nil {
		if err := m.attach(); err != nil {
			return record.MonitorSample{}, err
		}
	}
	l, k := m.layout, m.k
	s := record.MonitorSample{T: math.Round(t.Seconds()*1000) / 1000, CPUs: make([]record.MonitorCPUSample, m.cfg.CPUs)}
	for cpu := range s.CPUs {
		rq, err := k.PerCPU(l.Runqueues, cpu)
		if err != nil {
			return s, err
		}
		c := &s.CPUs[cpu]
		if l.RqNrRunning >= 0 {
			if c.Nr, err = k.U32(rq + uint64(l.RqNrRunning)); err != nil {
				return s, err
			}
		}
		if l.RqClock >= 0 {
			if c.Clock, err = k.U64(rq + uint64(l.RqClock)); err != nil {
				return s, err
			}
		}
		if l.RqSCXNr >= 0 {
			v, err := k.U32(rq + uint64(l.RqSCXNr))
			if err != nil {
				return s, err
			}
			c.SCXNr = &v
		}
		if l.RqLocalDSQNr >= 0 {
			v, err := k.U32(rq + uint64(l.RqLocalDSQNr))
			if err != nil {
				return s, err
			}
			c.DSQ = &v
		}
		if l.RqCurr >= 0 && l.TaskPID >= 0 {
			curr, err := k.U64(rq + uint64(l.RqCurr))
			if err != nil {
				return s, err
			}
			if curr != 0 {
				pid, err := k.U32(curr + uint64(l.TaskPID))
				if err != nil {
					return s, err
				}
				c.PID = int32(pid)
				if l.TaskComm >= 0 {
					c.Comm, _ = k.CString(curr+uint64(l.TaskComm), taskCommLen)
				}
			}
		}
	}
	if l.SCXStates != nil {
		if v, err := k.U32(l.SCXEnableState); err == nil {
			s.SCXState = l.SCXStates[v]
			if s.SCXState == "" {
				s.SCXState = fmt.Sprint(v)
			}
		}
	}
	if l.GlobalDSQs != 0 && l.DSQNr >= 0 {
		if arr, err := k.U64(l.GlobalDSQs); err == nil && arr != 0 {
			for n := range max(m.cfg.Nodes, 1) {
				dsq, err := k.U64(arr + uint64(n)*8)
				if err != nil || dsq == 0 {
					break
				}
				v, err := k.U32(dsq + uint64(l.DSQNr))
				if err != nil {
					break
				}
				s.GlobalDSQ = append(s.GlobalDSQ, v)
			}
		}
	}
	return s, nil
}

// overrideWatchdog writes the requested watchdog timeout while a scheduler
// is enabled with another value (sched_ext sets it from the scheduler's
// ops.timeout_ms at every attach). The kernel's first watchdog pass after
// attach was queued for half the old timeout; until it has run, the tick
// would judge the watchdog itself late against the new, shorter timeout, so
// the monitor keeps scx_watchdog_timestamp fresh (as that pass would) for as
// long as the new timeout would otherwise expire before that pass is due —
// not at all when the old timeout was under twice the new one.
func (m *Monitor) overrideWatchdog(t time.Duration) {
	w := m.wd
	if w == nil || w.rec.Jiffies == 0 || m.k == nil {
		return
	}
	l, k := m.layout, m.k
	if l.SCXStates == nil || l.SCXEnableState == 0 {
		return
	}
	state, err := k.U32(l.SCXEnableState)
	if err != nil || l.SCXStates[state] != "enabled" {
		return
	}
	cur, err := k.U64(l.WatchdogTimeout)
	if err != nil {
		w.rec.Error = err.Error()
		return
	}
	jiffies, jerr := k.U64(l.Jiffies)
	if cur != w.rec.Jiffies {
		if l.WatchdogTimestamp != 0 && jerr == nil && cur > w.rec.Jiffies {
			// The tick judges at timestamp + new timeout: stop refreshing
			// early enough that this lands half a second after the pass
			// is due, and not at all when it already does.
			if ts, err := k.U64(l.WatchdogTimestamp); err == nil {
				if due := ts + cur/2 + uint64(m.cfg.KernelHZ)/2; due > w.rec.Jiffies {
					w.refreshUntil = due - w.rec.Jiffies
				}
			}
		}
		if err := k.WriteU64(l.WatchdogTimeout, w.rec.Jiffies); err != nil {
			w.rec.Error = err.Error()
			return
		}
		w.rec.Writes++
		if w.rec.FirstT == 0 {
			w.rec.FirstT = math.Round(t.Seconds()*1000) / 1000
		}
	}
	if jerr == nil && jiffies < w.refreshUntil && l.WatchdogTimestamp != 0 {
		k.WriteU64(l.WatchdogTimestamp, jiffies)
	}
}

// Samples returns the valid samples so far.
func (m *Monitor) Samples() []record.MonitorSample { return m.samples }

// Record is the run record's monitor section: the per-CPU summary, the
// bounded timeline, the cost per sample and, when completed is false, the
// last samples. The caller adds violation windows.
func (m *Monitor) Record(completed bool) *record.Monitor {
	<-m.loaded
	r := m.rec
	if r.Error == "" && len(m.samples) == 0 && m.lastErr != "" {
		r.Error = "no valid sample: " + m.lastErr
	}
	if n := len(m.costNS); n > 0 {
		var sum, mx int64
		for _, c := range m.costNS {
			sum += c
			mx = max(mx, c)
		}
		r.CostUSMean = math.Round(float64(sum)/float64(n)/10) / 100
		r.CostUSMax = math.Round(float64(mx)/10) / 100
	}
	r.PerCPU = Summary(m.samples)
	r.Timeline, r.Stride = m.samples, 1
	if len(m.samples) > m.cfg.MaxTimeline {
		r.Stride = (len(m.samples) + m.cfg.MaxTimeline - 1) / m.cfg.MaxTimeline
		r.Timeline = nil
		for i := 0; i < len(m.samples); i += r.Stride {
			r.Timeline = append(r.Timeline, m.samples[i])
		}
	}
	if !completed && len(m.samples) > 0 {
		end := len(m.samples)
		// A scheduler that died: what the CPUs did up to it, not the
		// fallback to EEVDF after.
		for i := len(m.samples) - 1; i > 0; i-- {
			if m.samples[i-1].SCXState == "enabled" && m.samples[i].SCXState != "enabled" {
				end = min(len(m.samples), i+LastAfterExit)
				break
			}
		}
		r.Last = m.samples[max(0, end-LastSamples):end]
	}
	return &r
}

// Summary is each CPU's mean and max nr_running, idle share and deepest
// local DSQ over samples.
func Summary(samples []record.MonitorSample) []record.MonitorCPU {
	if len(samples) == 0 {
		return nil
	}
	out := make([]record.MonitorCPU, len(samples[0].CPUs))
	var idle = make([]int, len(out))
	for i := range out {
		out[i].CPU = i
	}
	for _, s := range samples {
		for i, c := range s.CPUs {
			if i >= len(out) {
				break
			}
			o := &out[i]
			o.MeanNr += float64(c.Nr)
			o.MaxNr = max(o.MaxNr, c.Nr)
			if c.Nr == 0 {
				idle[i]++
			}
			if c.DSQ != nil {
				if o.MaxDSQ == nil {
					o.MaxDSQ = new(uint32)
				}
				*o.MaxDSQ = max(*o.MaxDSQ, *c.DSQ)
			}
		}
	}
	for i := range out {
		out[i].MeanNr = math.Round(out[i].MeanNr/float64(len(samples))*100) / 100
		out[i].IdlePct = math.Round(float64(idle[i])/float64(len(samples))*1000) / 10
	}
	return out
}

// IsNotReady reports whether err only says the guest kernel was not up yet.
func IsNotReady(err error) bool { return errors.Is(err, guestmem.ErrNotReady) }
