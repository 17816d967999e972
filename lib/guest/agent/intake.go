package agent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// Random-device ioctls (linux/random.h); golang.org/x/sys has no names for
// them.
const (
	rndAddEntropy   = 0x40085203 // RNDADDENTROPY: _IOW('R', 0x03, int[2])
	rndReseedCRNG   = 0x5207     // RNDRESEEDCRNG: _IO('R', 0x07)
	lastPIDPath     = "/proc/sys/kernel/ns_last_pid"
	lastPIDSpread   = 20000
	firstFreeLowPID = 300
)

// awaitJob is the job intake of a guest booted without a job (a snapshot
// source): it says it is ready on the channel and blocks until the host
// sends a Start line. The host saves the machine while it waits; every
// restored copy resumes here with its own Start. What copies must not
// share is set before anything of the job runs.
func (a *Agent) awaitJob(port io.Reader) (*record.Job, error) {
	a.send(proto.Message{Type: proto.MsgReady})
	line, err := readLine(port, proto.MaxStartLine)
	if err != nil {
		return nil, fmt.Errorf("job intake: %w", err)
	}
	start, job, err := proto.DecodeStart(line)
	if err != nil {
		return nil, fmt.Errorf("job intake: %w", err)
	}
	var notes []string
	if err := setClock(start.UnixNS); err != nil {
		a.logf("set clock: %v", err)
		notes = append(notes, "clock not set: "+err.Error())
	}
	// Message times count from here: the boot before the snapshot is no
	// part of this run. Taken after the clock is set: workers report wall
	// clock times that the engine turns into agent times by subtracting
	// this one's wall reading, which must not be from before the jump.
	a.start = time.Now()
	if err := reseed(start.Seed); err != nil {
		a.logf("reseed random: %v", err)
		notes = append(notes, "random generator not reseeded: "+err.Error())
	}
	if why := spreadPIDs(start.Seed); why != "" {
		a.logf("%s", why)
		notes = append(notes, why)
	}
	if len(notes) > 0 {
		a.send(proto.Message{Type: proto.MsgIntake, Text: strings.Join(notes, "; ")})
	}
	return job, nil
}

// readLine reads one newline-terminated line, at most limit bytes, without
// reading past it.
func readLine(r io.Reader, limit int) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("start line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, errors.New("channel closed before the job arrived")
		default:
			return nil, err
		}
	}
}

// setClock sets the guest's wall clock: a restored guest's would read the
// moment its snapshot was taken.
func setClock(unixNS int64) error {
	if unixNS <= 0 {
		return nil
	}
	ts := unix.NsecToTimespec(unixNS)
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

// reseed mixes seed into the kernel's entropy pool, credited, and forces
// the generator to reseed from it now (it otherwise reseeds on its own
// schedule, and copies of one snapshot would draw the same numbers until
// then). The boot id, generated at its first read, then differs too.
func reseed(seed []byte) error {
	if len(seed) == 0 {
		return nil
	}
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+(len(seed)+3)/4*4)
	binary.NativeEndian.PutUint32(buf[0:], uint32(len(seed)*8))
	binary.NativeEndian.PutUint32(buf[4:], uint32(len(seed)))
	copy(buf[8:], seed)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return fmt.Errorf("RNDADDENTROPY: %w", errno)
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndReseedCRNG, 0); errno != 0 {
		return fmt.Errorf("RNDRESEEDCRNG: %w", errno)
	}
	return nil
}

// spreadPIDs moves the next pid to a seed-chosen place, so that copies of
// one snapshot do not hand out the same pids. Kernels without
// CONFIG_CHECKPOINT_RESTORE have no ns_last_pid: pids then follow the
// snapshot's sequence, as a booted guest's follow its boot. It returns
// why the pids were not spread ("" if they were).
func spreadPIDs(seed []byte) string {
	return spreadPIDsAt(lastPIDPath, seed)
}

func spreadPIDsAt(path string, seed []byte) string {
	if len(seed) < 4 {
		return proto.IntakePIDsNotSpread + ": no seed"
	}
	if _, err := os.Stat(path); err != nil {
		return proto.IntakePIDsNotSpread + ": the kernel has no ns_last_pid (CONFIG_CHECKPOINT_RESTORE off)"
	}
	next := firstFreeLowPID + int(binary.LittleEndian.Uint32(seed)%lastPIDSpread)
	if err := os.WriteFile(path, []byte(strconv.Itoa(next)), 0); err != nil {
		return proto.IntakePIDsNotSpread + ": " + err.Error()
	}
	return ""
}
