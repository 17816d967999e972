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

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
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
// m's /dev/shm files are removed before Run returns. It goes in phases:
// the files (the console and result captures, a restore's guest RAM), the
// result channel, QEMU's start (and a restore's incoming migration), the
// watch until QEMU exits, and what is left to read after.
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
	if err := restoreRAM(m); err != nil {
		return nil, err
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
	q := newQEMURun(m, opts, args)
	if opts.Terminal != nil {
		defer holdTerminal(opts.Terminal)()
	}
	if err := q.start(); err != nil {
		return nil, err
	}
	q.watch(ctx)
	q.finish(ch, channelDone)
	return q.res, nil
}

// restoreRAM copies a restore's guest-RAM files into m's /dev/shm files.
func restoreRAM(m *Machine) error {
	if len(m.IncomingRAM) == 0 {
		return nil
	}
	shm := m.ShmFiles()
	if len(m.IncomingRAM) != len(shm) {
		return fmt.Errorf("restore: %d guest-RAM files for %d NUMA nodes", len(m.IncomingRAM), len(shm))
	}
	for i, p := range m.IncomingRAM {
		if err := restoreSparse(p, shm[i]); err != nil {
			return err
		}
	}
	return nil
}

// qemuRun is one QEMU process of Run and what it has told so far.
type qemuRun struct {
	m      *Machine
	opts   RunOptions
	cmd    *exec.Cmd
	out    tailBuffer // QEMU's own output, the tail of it
	begin  time.Time
	exited chan error
	res    *Result

	results, console *follower
	vcpus            *vcpuSampler
	doneAt           time.Time // when the agent said done
}

func newQEMURun(m *Machine, opts RunOptions, args []string) *qemuRun {
	q := &qemuRun{m: m, opts: opts, res: &Result{}, exited: make(chan error, 1)}
	q.out.limit = 16 << 10
	q.cmd = exec.Command(opts.QEMU, args...)
	q.cmd.Stdout, q.cmd.Stderr = &q.out, &q.out
	// Own process group, so one kill reaches every QEMU thread and helper;
	// and if ktstr-boot dies without cleaning up, the kernel kills QEMU.
	q.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if opts.Terminal != nil {
		q.cmd.Stdin, q.cmd.Stdout = opts.Terminal, opts.Terminal
		q.cmd.SysProcAttr.Foreground, q.cmd.SysProcAttr.Ctty = true, int(opts.Terminal.Fd())
	}
	return q
}

// start starts QEMU and, for a restore with shared RAM, its incoming
// migration.
func (q *qemuRun) start() error {
	q.begin = time.Now()
	if err := q.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", q.opts.QEMU, err)
	}
	go func() { q.exited <- q.cmd.Wait() }()
	if q.m.Incoming != "" && q.m.SharedRAMSnapshot {
		if err := startIncoming(q.m); err != nil {
			// QEMU stays silent: the caller sees a restore that never
			// reached the agent, with this reason.
			q.kill()
			q.out.Write([]byte("\nrestore: " + err.Error() + "\n"))
			q.res.IncomingFailed = "restore: " + err.Error()
		}
	}
	return nil
}

// kill kills QEMU's process group.
func (q *qemuRun) kill() { syscall.Kill(-q.cmd.Process.Pid, syscall.SIGKILL) }

// watch follows QEMU until it exits: it samples the vCPUs and reads the
// result channel every period, and kills QEMU when the timeout passes, ctx
// ends, the agent stays silent past RunOptions.AgentTimeout, or the guest
// does not power off after done.
func (q *qemuRun) watch(ctx context.Context) {
	q.results = &follower{path: q.m.Results}
	q.console = &follower{path: q.m.ConsoleLog}
	q.vcpus = newVCPUSampler(q.cmd.Process.Pid, q.begin, q.opts.Series, q.opts.SeriesLimit)
	deadline := time.NewTimer(q.opts.Timeout)
	defer deadline.Stop()
	var agentDeadline <-chan time.Time
	if q.opts.AgentTimeout > 0 {
		t := time.NewTimer(q.opts.AgentTimeout)
		defer t.Stop()
		agentDeadline = t.C
	}
	period := q.opts.Period
	if period <= 0 {
		period = 100 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case err := <-q.exited:
			q.res.ExitErr = err
			return
		case <-deadline.C:
			q.res.TimedOut = true
			q.kill()
		case <-ctx.Done():
			q.res.Interrupted = true
			q.kill()
			ctx = context.Background() // fire once
		case <-agentDeadline:
			q.agentDeadline()
		case <-tick.C:
			q.tick()
		}
	}
}

// agentDeadline kills a QEMU whose agent has said nothing by
// RunOptions.AgentTimeout, asking a restore's QMP first why.
func (q *qemuRun) agentDeadline() {
	q.drain()
	if len(q.res.Messages) > 0 {
		return
	}
	q.res.AgentSilent = true
	if q.m.Incoming != "" && q.m.QMP != "" && q.res.IncomingFailed == "" {
		q.res.IncomingFailed = queryIncoming(q.m.QMP)
	}
	q.kill()
}

// tick samples the vCPUs, reads the result channel and kills a guest
// that has not powered off PowerOffGrace after done.
func (q *qemuRun) tick() {
	q.vcpus.sample()
	if q.opts.OnTick != nil {
		q.opts.OnTick(time.Since(q.begin), q.vcpus.usage())
	}
	q.drain()
	if q.res.Done && !q.res.KilledAfterDone && time.Since(q.doneAt) > q.opts.PowerOffGrace {
		q.res.KilledAfterDone = true
		q.kill()
	}
}

// drain reads the result messages and the console written since the last
// call.
func (q *qemuRun) drain() {
	res := q.res
	for _, line := range q.results.lines() {
		m, err := decodeMessage(line)
		if err != nil {
			res.DecodeErrors = append(res.DecodeErrors, err.Error())
			continue
		}
		arrival := time.Since(q.begin)
		if len(res.Messages) == 0 {
			res.AgentStart = arrival
			res.AgentClock = arrival.Seconds() - m.T
		}
		res.AgentClock = min(res.AgentClock, arrival.Seconds()-m.T)
		res.Messages = append(res.Messages, m)
		if m.Type == proto.MsgDone && !res.Done {
			res.Done, q.doneAt = true, time.Now()
		}
		if q.opts.OnMessage != nil {
			q.opts.OnMessage(m)
		}
	}
	if q.opts.ConsoleStream != nil {
		if b := q.console.next(); len(b) > 0 {
			q.opts.ConsoleStream.Write(b)
		}
	}
}

// finish reads what QEMU left once it exited: the rest of the result
// channel (ch, when the channel is a socket, is let finish its copy), a
// truncated last line, the vCPUs' totals and samples, QEMU's output and
// why a restore's migration failed.
func (q *qemuRun) finish(ch *channel, channelDone <-chan struct{}) {
	res := q.res
	res.Wall = time.Since(q.begin)
	if ch != nil {
		// QEMU is gone, so the socket is at its end (or was never
		// connected): let the copy finish.
		ch.ln.Close()
		select {
		case <-channelDone:
		case <-time.After(2 * time.Second):
		}
	}
	q.drain()
	if q.results.partial.Len() > 0 { // a last line without newline: the guest died mid-write
		res.DecodeErrors = append(res.DecodeErrors, fmt.Sprintf("truncated last result line (%d bytes)", q.results.partial.Len()))
	}
	res.VCPUs = q.vcpus.usage()
	res.Samples = q.vcpus.series
	res.QEMUOutput = filterQEMUNoise(q.out.String())
	if q.m.Incoming != "" && res.IncomingFailed == "" {
		res.IncomingFailed = incomingFailure(res.QEMUOutput)
	}
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
