package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/record"
)

// RunOptions control one QEMU run.
type RunOptions struct {
	QEMU    string
	Timeout time.Duration
	// ConsoleStream, if set, receives the console as it is written.
	ConsoleStream io.Writer
	// OnMessage, if set, is called for each result message as it arrives.
	OnMessage func(proto.Message)
	// PowerOffGrace is how long QEMU may run after the agent's "done"
	// before it is killed (a guest that cannot power off).
	PowerOffGrace time.Duration
	// Series keeps every vCPU sample (100 ms apart), not just the totals;
	// SeriesLimit, if set, keeps about the newest SeriesLimit of them (at
	// most twice that while running).
	Series      bool
	SeriesLimit int
	// Period is the poll period: vCPU samples, result channel, OnTick
	// (default 100 ms).
	Period time.Duration
	// OnTick, if set, is called after every vCPU sample with the time since
	// QEMU started and each vCPU thread's usage so far (the host-side
	// monitor pairs its guest-memory reads with them).
	OnTick func(t time.Duration, vcpus []record.VCPUUsage)
	// Send, if set, is called once QEMU connects to the result channel
	// (Machine.Channel) and what it returns written there: a restored
	// guest's proto.Start line, made then so that the wall clock it
	// carries is not older than the RAM copy and QEMU's start.
	Send func() []byte
	// AgentTimeout, if positive, bounds the wait for the agent's first
	// message: QEMU is killed and Result.AgentSilent set when none came by
	// then (a restored snapshot that does not resume).
	AgentTimeout time.Duration
	// Terminal, if set, is QEMU's stdin and stdout (Machine.Shell's port):
	// QEMU's process group becomes the terminal's foreground group for the
	// run, and the terminal's mode and foreground group are restored after.
	Terminal *os.File
}

// Result is what a run produced. It states facts; classifying them into an
// outcome is Classify's job.
type Result struct {
	Messages     []proto.Message
	DecodeErrors []string
	Done         bool
	TimedOut     bool
	Interrupted  bool
	// KilledAfterDone: the agent finished but QEMU did not exit by itself.
	KilledAfterDone bool
	// AgentSilent: no message came within RunOptions.AgentTimeout.
	AgentSilent bool
	// IncomingFailed says why a restore's incoming migration failed (""
	// if it did not, or the run was no restore): QEMU refused the stream,
	// or QMP said the migration failed. A restore whose guest is silent
	// while this is empty resumed, or was never found to fail: the
	// snapshot is not to blame for it.
	IncomingFailed string
	// ExitErr is QEMU's exit error (nil for status 0), informative only.
	ExitErr    error
	QEMUOutput string
	Wall       time.Duration
	// AgentStart is the wall time from QEMU start to the first message.
	AgentStart time.Duration
	// AgentClock maps agent time to host time since QEMU start: the
	// smallest (arrival - message.T) seen, accurate to the poll period.
	AgentClock float64
	VCPUs      []record.VCPUUsage
	Samples    []record.HostSample
}

// Run starts QEMU for m and waits until it exits, the timeout passes, or ctx
// is cancelled. On every path QEMU's process group is killed and reaped and
// m's /dev/shm files are removed before Run returns.
func Run(ctx context.Context, m *Machine, opts RunOptions) (*Result, error) {
	args, err := m.Args()
	if err != nil {
		return nil, err
	}
	if opts.PowerOffGrace == 0 {
		opts.PowerOffGrace = 10 * time.Second
	}
	for _, p := range []string{m.ConsoleLog, m.Results} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return nil, fmt.Errorf("prepare %s: %w", p, err)
		}
	}
	defer removeFiles(m.ShmFiles())
	if len(m.IncomingRAM) > 0 {
		shm := m.ShmFiles()
		if len(m.IncomingRAM) != len(shm) {
			return nil, fmt.Errorf("restore: %d guest-RAM files for %d NUMA nodes", len(m.IncomingRAM), len(shm))
		}
		for i, p := range m.IncomingRAM {
			if err := restoreSparse(p, shm[i]); err != nil {
				return nil, err
			}
		}
	}
	var ch *channel
	var channelDone <-chan struct{}
	if m.Channel != "" {
		if ch, err = listenChannel(m.Channel); err != nil {
			return nil, err
		}
		defer ch.Close()
		channelDone = ch.serve(m.Results, opts.Send)
	}

	var qemuOut tailBuffer
	qemuOut.limit = 16 << 10
	cmd := exec.Command(opts.QEMU, args...)
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	// Own process group, so one kill reaches every QEMU thread and helper;
	// and if ktstr-boot dies without cleaning up, the kernel kills QEMU.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if opts.Terminal != nil {
		cmd.Stdin, cmd.Stdout = opts.Terminal, opts.Terminal
		cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, int(opts.Terminal.Fd())
		defer holdTerminal(opts.Terminal)()
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.QEMU, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	res := &Result{}
	if m.Incoming != "" && m.SharedRAMSnapshot {
		if err := startIncoming(m); err != nil {
			// QEMU stays silent: the caller sees a restore that never
			// reached the agent, with this reason.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			qemuOut.Write([]byte("\nrestore: " + err.Error() + "\n"))
			res.IncomingFailed = "restore: " + err.Error()
		}
	}
	results := &follower{path: m.Results}
	console := &follower{path: m.ConsoleLog}
	vcpus := newVCPUSampler(cmd.Process.Pid, start, opts.Series, opts.SeriesLimit)
	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	var agentDeadline <-chan time.Time
	if opts.AgentTimeout > 0 {
		t := time.NewTimer(opts.AgentTimeout)
		defer t.Stop()
		agentDeadline = t.C
	}
	if opts.Period <= 0 {
		opts.Period = 100 * time.Millisecond
	}
	tick := time.NewTicker(opts.Period)
	defer tick.Stop()
	var doneAt time.Time
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	drain := func() {
		for _, line := range results.lines() {
			m, err := decodeMessage(line)
			if err != nil {
				res.DecodeErrors = append(res.DecodeErrors, err.Error())
				continue
			}
			arrival := time.Since(start)
			if len(res.Messages) == 0 {
				res.AgentStart = arrival
				res.AgentClock = arrival.Seconds() - m.T
			}
			res.AgentClock = min(res.AgentClock, arrival.Seconds()-m.T)
			res.Messages = append(res.Messages, m)
			if m.Type == proto.MsgDone && !res.Done {
				res.Done, doneAt = true, time.Now()
			}
			if opts.OnMessage != nil {
				opts.OnMessage(m)
			}
		}
		if opts.ConsoleStream != nil {
			if b := console.next(); len(b) > 0 {
				opts.ConsoleStream.Write(b)
			}
		}
	}

loop:
	for {
		select {
		case err := <-exited:
			res.ExitErr = err
			break loop
		case <-deadline.C:
			res.TimedOut = true
			kill()
		case <-ctx.Done():
			res.Interrupted = true
			kill()
			ctx = context.Background() // fire once
		case <-agentDeadline:
			drain()
			if len(res.Messages) == 0 {
				res.AgentSilent = true
				if m.Incoming != "" && m.QMP != "" && res.IncomingFailed == "" {
					res.IncomingFailed = queryIncoming(m.QMP)
				}
				kill()
			}
		case <-tick.C:
			vcpus.sample()
			if opts.OnTick != nil {
				opts.OnTick(time.Since(start), vcpus.usage())
			}
			drain()
			if res.Done && !res.KilledAfterDone && time.Since(doneAt) > opts.PowerOffGrace {
				res.KilledAfterDone = true
				kill()
			}
		}
	}
	res.Wall = time.Since(start)
	if ch != nil {
		// QEMU is gone, so the socket is at its end (or was never
		// connected): let the copy finish.
		ch.ln.Close()
		select {
		case <-channelDone:
		case <-time.After(2 * time.Second):
		}
	}
	drain()
	if results.partial.Len() > 0 { // a last line without newline: the guest died mid-write
		res.DecodeErrors = append(res.DecodeErrors, fmt.Sprintf("truncated last result line (%d bytes)", results.partial.Len()))
	}
	res.VCPUs = vcpus.usage()
	res.Samples = vcpus.series
	res.QEMUOutput = filterQEMUNoise(qemuOut.String())
	if m.Incoming != "" && res.IncomingFailed == "" {
		res.IncomingFailed = incomingFailure(res.QEMUOutput)
	}
	return res, nil
}

// incomingFailure is QEMU's line saying it could not load a restore's
// migration stream ("" if it said none): QEMU 7.2 prints "load of
// migration failed: ..." and exits when the stream or a device's state in
// it is refused.
func incomingFailure(qemuOutput string) string {
	for _, l := range strings.Split(qemuOutput, "\n") {
		if strings.Contains(l, "load of migration failed") || strings.Contains(l, "Unknown savevm section") || strings.Contains(l, "Missing section footer") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// queryIncoming asks QEMU over QMP whether a restore's incoming migration
// failed: its reason, or "" when it did not (or QMP did not answer, which
// proves nothing either way).
func queryIncoming(path string) string {
	q, err := dialQMP(path, 2*time.Second)
	if err != nil {
		return ""
	}
	defer q.Close()
	b, err := q.do("query-migrate", nil)
	if err != nil {
		return ""
	}
	var st struct {
		Status    string `json:"status"`
		ErrorDesc string `json:"error-desc"`
	}
	if json.Unmarshal(b, &st) != nil || st.Status != "failed" {
		return ""
	}
	return strings.TrimSpace("incoming migration failed: " + st.ErrorDesc)
}

func decodeMessage(line []byte) (proto.Message, error) {
	msgs, errs := proto.Collect(bytes.NewReader(append(line, '\n')))
	if len(errs) > 0 {
		return proto.Message{}, errs[0]
	}
	if len(msgs) != 1 {
		return proto.Message{}, errors.New("empty result line")
	}
	return msgs[0], nil
}

// follower reads a file that another process appends to.
type follower struct {
	path    string
	off     int64
	partial bytes.Buffer
}

// next returns the bytes appended since the last call.
func (f *follower) next() []byte {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil
	}
	defer fh.Close()
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(fh)
	f.off += int64(len(b))
	return b
}

// lines returns the complete lines appended since the last call.
func (f *follower) lines() [][]byte {
	f.partial.Write(f.next())
	var out [][]byte
	for {
		data := f.partial.Bytes()
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out
		}
		line := bytes.TrimSpace(data[:i])
		if len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
		f.partial.Next(i + 1)
	}
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	buf   []byte
	limit int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.limit {
		t.buf = t.buf[len(t.buf)-t.limit:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// filterQEMUNoise drops QEMU's per-feature TCG warnings: the Intel CPU
// model asks for features TCG does not emulate, which is expected.
func filterQEMUNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.Contains(l, "TCG doesn't support requested feature") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func removeFiles(paths []string) {
	for _, p := range paths {
		os.Remove(p)
	}
}

// SweepStaleShm removes guest-RAM files in dir left by ktstr processes that
// died without cleaning up (SIGKILL). Names carry the owner's pid:
// ktstr-PID-....
func SweepStaleShm(dir string) { SweepStale(dir, shmPrefix) }

// SweepStale removes the files and directories in dir named prefix+PID+"-"...
// whose owner process PID no longer exists: what a ktstr process killed
// with SIGKILL could not remove itself. Entries of live processes (and this
// one) and names without a pid stay.
func SweepStale(dir, prefix string) {
	entries, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	for _, e := range entries {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(e), prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			os.RemoveAll(e)
		}
	}
}

// startIncoming has QEMU, started with -incoming defer, read m's snapshot
// stream with guest RAM left out of it (the RAM files are in place).
func startIncoming(m *Machine) error {
	if m.QMP == "" {
		return errors.New("a restore with shared RAM needs a QMP socket")
	}
	q, err := dialQMP(m.QMP, 10*time.Second)
	if err != nil {
		return err
	}
	defer q.Close()
	caps := map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}}}
	if _, err := q.do("migrate-set-capabilities", caps); err != nil {
		return err
	}
	_, err = q.do("migrate-incoming", map[string]any{"uri": incomingURI(m.Incoming)})
	return err
}
