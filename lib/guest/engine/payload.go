package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// Payload run limits: how long a killed payload may take to be reaped, how much of its output is kept for the
// parser (the end: results come last) and for the record.
const (
	payloadReap      = 5 * time.Second
	payloadOutputMax = 1 << 20
	payloadTailLines = 40
	payloadTailWidth = 200
)

// runningPayload is a payload process while the scenario runs.
type runningPayload struct {
	def     *payload.Definition
	res     *record.PayloadResult
	cmd     *exec.Cmd
	stdout  *tailBuffer
	stderr  *tailBuffer
	outFile string
	done    chan struct{}
	mu      sync.Mutex
	killed  string
}

func payloadKey(cgroup, name string) string { return cgroup + "\x00" + name }

// runPayload starts op's payload in its cgroup, in a process group of its
// own (kill_payload and the scenario's end kill the whole group: the
// benchmarks fork).
func (e *engine) runPayload(op scenario.Op) {
	res := &record.PayloadResult{Name: op.PayloadName(), Cgroup: op.Cgroup, ExitCode: -1, StartS: time.Since(e.start).Seconds()}
	e.payloadResults = append(e.payloadResults, res)
	fail := func(format string, args ...any) {
		res.Error = fmt.Sprintf(format, args...)
		res.EndS = res.StartS
		e.errf("run_payload %s in %s: %s", res.Name, op.Cgroup, res.Error)
	}
	l := e.need(op, op.Cgroup)
	if l == nil {
		fail("no cgroup %s", op.Cgroup)
		return
	}
	def, err := op.Definition()
	if err != nil {
		fail("%v", err)
		return
	}
	p := &runningPayload{def: def, res: res, stdout: &tailBuffer{max: payloadOutputMax}, stderr: &tailBuffer{max: payloadOutputMax}, done: make(chan struct{})}
	if def.UsesOutFile(op.Args) {
		f, err := os.CreateTemp("", "ktstr-payload-"+def.Name+"-*")
		if err != nil {
			fail("results file: %v", err)
			return
		}
		p.outFile = f.Name()
		f.Close()
		// The tool writes it anew; an empty file left here would read as
		// a result that is not there.
		os.Remove(p.outFile)
	}
	argv := def.Argv(def.GuestBinary(proto.IncludeDir), op.Args, p.outFile)
	res.Binary, res.Args = argv[0], argv[1:]
	dir, err := os.Open(e.dir(l))
	if err != nil {
		fail("open cgroup: %v", err)
		return
	}
	defer dir.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/bin:/sbin:/usr/bin:/usr/sbin:"+proto.IncludeDir)
	cmd.Dir = os.TempDir()
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd()), Setpgid: true}
	if err := cmd.Start(); err != nil {
		fail("start %s: %v", argv[0], err)
		return
	}
	p.cmd = cmd
	e.payloads[payloadKey(op.Cgroup, res.Name)] = p
	e.started = append(e.started, p)
	e.env.Logf("scenario %s: payload %s started in %s (pid %d): %s", e.s.Name, res.Name, op.Cgroup, cmd.Process.Pid, strings.Join(argv, " "))
	go func() {
		err := cmd.Wait()
		res.EndS = time.Since(e.start).Seconds()
		res.WallS = res.EndS - res.StartS
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			res.Signal = unix.SignalName(st.Signal())
		}
		if cmd.ProcessState != nil {
			res.ExitCode = cmd.ProcessState.ExitCode()
		} else if err != nil {
			res.Error = err.Error()
		}
		close(p.done)
	}()
}

// waitPayload waits for op's payload to exit, at most op.DurationS seconds
// (default 60), then kills it.
func (e *engine) waitPayload(op scenario.Op) {
	p := e.payloads[payloadKey(op.Cgroup, op.PayloadName())]
	if p == nil {
		e.errf("wait_payload: %s in %s was not started", op.PayloadName(), op.Cgroup)
		return
	}
	limit := scenario.DefaultPayloadWait
	if op.DurationS > 0 {
		limit = time.Duration(op.DurationS * float64(time.Second))
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		e.errf("wait_payload: %s in %s still running after %s; killed", op.PayloadName(), op.Cgroup, limit)
		e.kill(p, "wait_timeout")
	case <-e.ctx.Done():
		e.kill(p, "interrupted")
	}
}

// killPayload kills op's payload.
func (e *engine) killPayload(op scenario.Op) {
	p := e.payloads[payloadKey(op.Cgroup, op.PayloadName())]
	if p == nil {
		e.errf("kill_payload: %s in %s was not started", op.PayloadName(), op.Cgroup)
		return
	}
	e.kill(p, "kill_payload")
}

// kill ends a payload's process group with SIGKILL, unless it has
// exited, and reaps it.
func (e *engine) kill(p *runningPayload, why string) {
	select {
	case <-p.done:
		return
	default:
	}
	p.mu.Lock()
	if p.killed == "" {
		p.killed = why
	}
	p.mu.Unlock()
	if err := unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		e.errf("kill payload %s: %v", p.res.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(payloadReap):
		e.errf("payload %s: not reaped %s after SIGKILL", p.res.Name, payloadReap)
	}
}

// killPayloadsIn kills the payloads still running in cgroup (before it is
// removed: a cgroup with processes cannot be).
func (e *engine) killPayloadsIn(cgroup, why string) {
	for _, p := range e.started {
		if p.res.Cgroup == cgroup {
			e.kill(p, why)
		}
	}
}

// finishPayloads kills every payload still running (the scenario is over),
// reads each one's output into metrics, and returns the results in start
// order.
func (e *engine) finishPayloads() []record.PayloadResult {
	for _, p := range e.started {
		e.kill(p, "scenario_end")
	}
	started := map[*record.PayloadResult]bool{}
	for _, p := range e.started {
		started[p.res] = true
	}
	out := make([]record.PayloadResult, len(e.payloadResults))
	for i, res := range e.payloadResults {
		if !started[res] {
			out[i] = *res // it never ran: nothing else writes it
		}
	}
	for _, p := range e.started {
		i := indexOf(e.payloadResults, p.res)
		r := &out[i]
		select {
		case <-p.done:
			*r = *p.res // its exit, written by the goroutine that reaped it
		default:
			// Still being reaped: only the fields set at its start.
			*r = record.PayloadResult{Name: p.res.Name, Cgroup: p.res.Cgroup, Binary: p.res.Binary, Args: p.res.Args,
				StartS: p.res.StartS, ExitCode: -1, Error: "not reaped after SIGKILL"}
		}
		r.Killed = p.killed
		var file []byte
		if p.outFile != "" {
			file, _ = os.ReadFile(p.outFile)
			os.Remove(p.outFile)
		}
		stdout, stderr := p.stdout.Bytes(), p.stderr.Bytes()
		ms, err := p.def.Extract(stdout, stderr, file)
		if err != nil && r.Error == "" {
			r.Error = err.Error()
		}
		r.Metrics = ms
		text := string(stdout)
		if len(stderr) > 0 {
			text = strings.TrimRight(text, "\n") + "\n" + string(stderr)
		}
		r.OutputTail = payload.Tail(text, payloadTailLines, payloadTailWidth)
		e.env.Logf("scenario %s: payload %s in %s: exit %d, %d metrics%s", e.s.Name, r.Name, r.Cgroup, r.ExitCode, len(ms), killedNote(r.Killed))
	}
	return out
}

func killedNote(k string) string {
	if k == "" {
		return ""
	}
	return ", killed (" + k + ")"
}

func indexOf(rs []*record.PayloadResult, r *record.PayloadResult) int {
	for i := range rs {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what it holds.
func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}
