package worker

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every worker publishes its progress in a slot of memory it shares with
// the agent, so that the agent can see a worker that the scheduler stopped
// running — one that cannot answer on its pipe — and can tell when every
// worker is stuck at once. The worker writes with plain atomic stores at
// its checkpoints (no system call on the hot path); the agent only reads.
const slotSize = 64 // one cache line: workers never share a line

// Slot fields, as uint64 offsets into a slot.
const (
	slotUnits    = iota // work units done
	slotLastNS          // wall clock (UnixNano) of the last checkpoint
	slotTID             // the worker thread's id
	slotStopping        // 1 once the worker left its work loop
	slotStopNS          // written by the agent: its wall clock at stop
)

// progressMap is a mapping of n slots.
type progressMap struct {
	mem []byte
}

func progressBytes(n int) int {
	page := os.Getpagesize()
	return (n*slotSize + page - 1) / page * page
}

// newProgress creates a shared mapping of n slots on a memfd; the file is
// handed to the workers.
func newProgress(n int) (*progressMap, *os.File, error) {
	fd, err := unix.MemfdCreate("ktstr-progress", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("progress memory: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ktstr-progress")
	size := progressBytes(n)
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("progress memory: %w", err)
	}
	m, err := mapProgress(f, n)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return m, f, nil
}

func mapProgress(f *os.File, n int) (*progressMap, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, progressBytes(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map progress memory: %w", err)
	}
	return &progressMap{mem: b}, nil
}

func (m *progressMap) field(slot, f int) *uint64 {
	return (*uint64)(unsafe.Pointer(&m.mem[slot*slotSize+f*8]))
}

func (m *progressMap) store(slot, f int, v uint64) { atomic.StoreUint64(m.field(slot, f), v) }
func (m *progressMap) load(slot, f int) uint64     { return atomic.LoadUint64(m.field(slot, f)) }

// Progress is what a worker last published.
type Progress struct {
	Units uint64
	// Last is the time of its last checkpoint (zero before the first).
	Last time.Time
	TID  int
	// Stopping is true once it left its work loop.
	Stopping bool
}

func (m *progressMap) read(slot int) Progress {
	p := Progress{Units: m.load(slot, slotUnits), TID: int(m.load(slot, slotTID)), Stopping: m.load(slot, slotStopping) != 0}
	if ns := m.load(slot, slotLastNS); ns != 0 {
		p.Last = time.Unix(0, int64(ns))
	}
	return p
}
