package monitor

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/host/guestmem"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// synthetic builds a guest image of 2 CPUs with per-CPU runqueues in the
// direct map, tasks, sched_ext state and the watchdog variables, and a
// monitor attached to it.
func synthetic(t *testing.T, wdTimeout time.Duration) (*Monitor, []byte) {
	t.Helper()
	ram := make([]byte, 4<<20)
	put64 := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
	put32 := func(pa uint64, v uint32) { binary.LittleEndian.PutUint32(ram[pa:], v) }
	img := func(pa uint64) uint64 { return guestmem.StartKernelMap + pa }
	dm := func(pa uint64) uint64 { return guestmem.DefaultPageOffsetL4 + pa }
	l := &Layout{
		Syms:      guestmem.KernelSymbols{InitTopPgt: img(0x1000), PhysBase: img(0x2000), PerCPUOffset: img(0x3000)},
		Runqueues: 0x100, BannerAddr: img(0x4000), LinuxBanner: "Linux version 9.9",
		SCXEnableState: img(0x5000), SCXStates: map[uint32]string{0: "enabling", 1: "enabled"},
		WatchdogTimeout: img(0x5008), WatchdogTimestamp: img(0x5010), Jiffies: img(0x5018),
		GlobalDSQs:  img(0x5020),
		RqNrRunning: 4, RqClock: 16, RqSCXNr: 24, RqLocalDSQNr: 28, RqCurr: 32, TaskPID: 8, TaskComm: 16, DSQNr: 4,
		Absent: map[string]string{},
	}
	copy(ram[0x4000:], l.LinuxBanner+"\x00")
	for cpu, area := range []uint64{0x100000, 0x200000} {
		put64(0x3000+uint64(cpu)*8, dm(area))
		rq := area + 0x100
		put32(rq+4, uint32(cpu*3))            // nr_running
		put64(rq+16, 1_000_000*uint64(cpu+1)) // clock
		put32(rq+24, uint32(cpu*2))           // scx.nr_running
		put32(rq+28, uint32(cpu*5))           // local_dsq.nr
		task := 0x300000 + uint64(cpu)*0x1000 // task_struct
		put64(rq+32, dm(task))                // curr
		put32(task+8, uint32(100+cpu))        // pid
		copy(ram[task+16:], "worker"+string(rune('0'+cpu))+"\x00")
	}
	put32(0x5000, 1)
	put64(0x5008, 30*250) // the scheduler's 30 s
	put64(0x5010, 1000)   // last watchdog pass
	put64(0x5018, 1100)   // jiffies
	put64(0x5020, dm(0x6000))
	put64(0x6000, dm(0x7000))
	put32(0x7000+4, 7)
	m := &Monitor{cfg: Config{CPUs: 2, Nodes: 1, HZ: 10, KernelHZ: 250, Watchdog: wdTimeout, MaxTimeline: 3}, layout: l, loaded: make(chan struct{})}
	close(m.loaded) // the layout is given, not loaded
	if wdTimeout > 0 {
		m.wd = &watchdog{rec: record.MonitorWatchdog{RequestedS: wdTimeout.Seconds(), Jiffies: uint64(wdTimeout.Seconds() * 250)}}
		m.rec.Watchdog = &m.wd.rec
	}
	m.mem = guestmem.FromBytes([][]byte{ram}, []guestmem.Region{{GPA: 0, Size: uint64(len(ram)), File: 0, Off: 0}})
	return m, ram
}

func TestSampleReadsRunqueues(t *testing.T) {
	m, ram := synthetic(t, 0)
	m.Sample(1500*time.Millisecond, []record.VCPUUsage{{CPU: 1, CPUS: 2.5}})
	if len(m.Samples()) != 1 {
		t.Fatalf("no sample: %d errors, last %s", m.rec.ReadErrors, m.lastErr)
	}
	s := m.Samples()[0]
	c1 := s.CPUs[1]
	if s.T != 1.5 || c1.Nr != 3 || c1.Clock != 2_000_000 || *c1.SCXNr != 2 || *c1.DSQ != 5 || c1.PID != 101 || c1.Comm != "worker1" || c1.VCPURunS != 2.5 {
		t.Errorf("cpu1 = %+v (scx %d dsq %d) at %v", c1, *c1.SCXNr, *c1.DSQ, s.T)
	}
	if s.SCXState != "enabled" || len(s.GlobalDSQ) != 1 || s.GlobalDSQ[0] != 7 {
		t.Errorf("state %q global DSQs %v", s.SCXState, s.GlobalDSQ)
	}
	// The guest changes a runqueue; the next sample sees it.
	binary.LittleEndian.PutUint32(ram[0x100000+0x100+4:], 9)
	for i := range 4 {
		m.Sample(time.Duration(2+i)*time.Second, nil)
	}
	if got := m.Samples()[1].CPUs[0].Nr; got != 9 {
		t.Errorf("after the guest's write nr_running = %d, want 9", got)
	}
	r := m.Record(false)
	if r.Stride != 2 || len(r.Timeline) != 3 || len(r.Last) != 5 {
		t.Errorf("stride %d timeline %d last %d", r.Stride, len(r.Timeline), len(r.Last))
	}
	if r.PerCPU[0].MaxNr != 9 || r.PerCPU[0].IdlePct != 20 || *r.PerCPU[1].MaxDSQ != 5 {
		t.Errorf("summary %+v", r.PerCPU)
	}
}

func TestSampleBeforeBoot(t *testing.T) {
	m, ram := synthetic(t, 0)
	copy(ram[0x4000:], "garbage")
	m.Sample(time.Second, nil)
	if len(m.Samples()) != 0 || m.rec.ReadErrors != 1 {
		t.Fatalf("banner mismatch sampled: %d samples %d errors", len(m.Samples()), m.rec.ReadErrors)
	}
	if r := m.Record(false); !strings.Contains(r.Error, "linux_banner") {
		t.Errorf("error %q", r.Error)
	}
}

func TestWatchdogOverride(t *testing.T) {
	m, ram := synthetic(t, 3*time.Second)
	m.Sample(time.Second, nil)
	if got := binary.LittleEndian.Uint64(ram[0x5008:]); got != 750 {
		t.Fatalf("watchdog timeout = %d jiffies, want 750", got)
	}
	// The first watchdog pass is due at 1000 + 7500/2: until 750 jiffies
	// before that (+ HZ/2) the timestamp follows jiffies.
	if got := binary.LittleEndian.Uint64(ram[0x5010:]); got != 1100 {
		t.Errorf("watchdog timestamp = %d, want refreshed to 1100", got)
	}
	binary.LittleEndian.PutUint64(ram[0x5018:], 1000+3750+125-750)
	binary.LittleEndian.PutUint64(ram[0x5010:], 4700)
	m.Sample(2*time.Second, nil)
	if got := binary.LittleEndian.Uint64(ram[0x5010:]); got != 4700 {
		t.Errorf("timestamp rewritten after the first pass: %d", got)
	}
	if w := m.Record(true).Watchdog; w.Writes != 1 || w.FirstT != 1 {
		t.Errorf("watchdog record %+v", w)
	}
	// The scheduler re-attaches with its own timeout: written again.
	binary.LittleEndian.PutUint64(ram[0x5008:], 7500)
	m.Sample(3*time.Second, nil)
	if got := binary.LittleEndian.Uint64(ram[0x5008:]); got != 750 || m.wd.rec.Writes != 2 {
		t.Errorf("after re-attach: %d jiffies, %d writes", got, m.wd.rec.Writes)
	}
}

// TestWatchdogNoRefresh: a scheduler timeout under twice the new one needs
// no timestamp refresh (its first pass comes before the new timeout).
func TestWatchdogNoRefresh(t *testing.T) {
	m, ram := synthetic(t, 3*time.Second)
	binary.LittleEndian.PutUint64(ram[0x5008:], 5*250)
	m.Sample(time.Second, nil)
	if got := binary.LittleEndian.Uint64(ram[0x5008:]); got != 750 {
		t.Fatalf("timeout = %d", got)
	}
	if got := binary.LittleEndian.Uint64(ram[0x5010:]); got != 1000 {
		t.Errorf("timestamp rewritten to %d", got)
	}
}

// TestSampleAbsentFields: a kernel without sched_ext (no scx members, no
// enable state) still gives nr_running, clock and the current task.
func TestSampleAbsentFields(t *testing.T) {
	m, _ := synthetic(t, 0)
	l := m.layout
	l.RqSCXNr, l.RqLocalDSQNr, l.DSQNr, l.SCXStates, l.SCXEnableState, l.GlobalDSQs = -1, -1, -1, nil, 0, 0
	m.Sample(time.Second, nil)
	if len(m.Samples()) != 1 {
		t.Fatalf("no sample: %s", m.lastErr)
	}
	s := m.Samples()[0]
	if c := s.CPUs[1]; c.SCXNr != nil || c.DSQ != nil || c.Nr != 3 || c.PID != 101 || s.SCXState != "" || s.GlobalDSQ != nil {
		t.Errorf("sample %+v", s)
	}
	if r := m.Record(true); r.PerCPU[1].MaxDSQ != nil || r.Last != nil {
		t.Errorf("record %+v", r)
	}
}

// TestRecordLastAroundSchedulerExit: a failed run whose scheduler left the
// enabled state keeps the samples up to just after that, not the EEVDF
// fallback that followed.
func TestRecordLastAroundSchedulerExit(t *testing.T) {
	m, ram := synthetic(t, 0)
	m.layout.SCXStates[2] = "disabling"
	for i := range 40 {
		state := uint32(1) // enabled
		if i >= 30 {
			state = 2 // disabling
		}
		binary.LittleEndian.PutUint32(ram[0x5000:], state)
		m.Sample(time.Duration(i)*100*time.Millisecond, nil)
	}
	r := m.Record(false)
	if len(r.Last) != LastSamples || r.Last[len(r.Last)-1].T != 3.2 {
		t.Errorf("last %d samples ending at %v, want %d ending at 3.2", len(r.Last), r.Last[len(r.Last)-1].T, LastSamples)
	}
}
