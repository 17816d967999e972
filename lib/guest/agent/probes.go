package agent

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// probeReadyTimeout bounds the wait for the probes to attach: each probe
// is a program the verifier checks and a trampoline patched in, under
// single-threaded TCG.
const probeReadyTimeout = 120 * time.Second

// probeRun is the probe loader process (lib/guest/probe's role) of a job with
// probes. Every result it writes goes on as a probe message; the last one
// is the run record's.
type probeRun struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProbes starts the probe loader and waits until it has attached
// the kernel probes, so that the scheduler starts traced. nil without
// probes or when the loader cannot start (said on the result channel).
func (a *Agent) startProbes(p *record.Probes) *probeRun {
	if p == nil {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/init"
	}
	spec, _ := json.Marshal(p)
	cmd := exec.Command(exe, string(spec))
	cmd.Env = []string{role.Environ(role.Probe), "PATH=/bin:/sbin:/usr/bin"}
	cmd.Stderr = a.console
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		a.fail("probes: " + err.Error())
		return nil
	}
	r := &probeRun{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		first := true
		for sc.Scan() {
			var res record.ProbeResult
			if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
				a.fail("probes: " + err.Error())
				continue
			}
			a.send(proto.Message{Type: proto.MsgProbe, Probe: &res})
			if first {
				first = false
				close(ready)
			}
		}
		cmd.Wait()
	}()
	select {
	case <-ready:
		a.logf("probes attached")
	case <-r.done:
		a.fail("probes: the loader exited before attaching")
	case <-time.After(probeReadyTimeout):
		a.fail("probes: not attached within " + probeReadyTimeout.String())
	}
	return r
}

// stop asks the loader for its last result (the events, unless the
// trigger already flushed them) and waits for it.
func (r *probeRun) stop() {
	if r == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
	}
}
