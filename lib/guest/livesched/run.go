// Package livesched runs a sched_ext scheduler in the guest: start it, wait
// until sched_ext reports it enabled under its ops name, watch it for the
// whole run, request the kernel's dump, capture why it died, and report its
// BPF programs; and loads BPF objects through the verifier (VerifyObject).
// Scheduler definitions and profiles, the host's side, are lib/model/sched.
package livesched

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

const (
	dumpEvent = "/sys/kernel/tracing/events/sched_ext/sched_ext_dump/enable"
	traceFile = "/sys/kernel/tracing/trace"
	dumpLimit = 64 << 10
	stateFile = "/sys/kernel/sched_ext/state"
	opsFile   = "/sys/kernel/sched_ext/root/ops"
	logTail   = 256 << 10
)

// Runner is a scheduler process in the guest.
type Runner struct {
	cmd     *exec.Cmd
	ops     string
	logPath string
	start   time.Time
	exited  chan struct{}

	mu  sync.Mutex
	run record.SchedulerRun
	// stopping is set once the agent itself stops the scheduler.
	stopping bool
}

// Start runs the scheduler binary with args (and extra environment), its
// output going to a log file, and enables BPF run-time statistics.
func Start(binary string, args []string, ops string, env ...string) (*Runner, error) {
	os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("1"), 0)
	// The kernel writes its exit dump (sched_ext_dump) to the trace buffer;
	// schedulers that do not print it themselves would otherwise lose it.
	os.WriteFile(dumpEvent, []byte("1"), 0)
	log, err := os.CreateTemp("/tmp", "sched-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append([]string{"PATH=/bin:/sbin:/include"}, env...)
	r := &Runner{cmd: cmd, ops: ops, logPath: log.Name(), start: time.Now(), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start scheduler %s: %w", binary, err)
	}
	log.Close()
	go func() {
		cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

// WaitAttached waits until sched_ext is enabled with this scheduler's ops.
// If the process exits first, or the timeout passes, the scheduler is
// recorded as dead with the reason.
func (r *Runner) WaitAttached(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var other time.Time // when sched_ext was first seen enabled under another name
	for {
		state, ops := readTrim(stateFile), readTrim(opsFile)
		if state == "enabled" && ops != "" && (r.ops == "" || ops == r.ops) {
			r.mu.Lock()
			r.run.Attached, r.run.AttachS, r.run.Ops = true, time.Since(r.start).Seconds(), ops
			r.mu.Unlock()
			return nil
		}
		// Enabled under another name: a definition whose "ops" is wrong.
		// Waiting longer cannot help; a moment's grace covers a name
		// still being written.
		if state == "enabled" && ops != "" {
			if other.IsZero() {
				other = time.Now()
			} else if time.Since(other) > 500*time.Millisecond {
				r.died(fmt.Sprintf("sched_ext enabled scheduler %q, but the definition expects ops %q: set \"ops\": %q in the definition (or leave it out to accept any)", ops, r.ops, ops))
				return errors.New(r.run.Reason)
			}
		}
		select {
		case <-r.exited:
			r.died(fmt.Sprintf("exited with code %d before attaching", r.cmd.ProcessState.ExitCode()))
			return errors.New(r.run.Reason)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			state := readTrim(stateFile)
			if state == "" {
				state = "absent (kernel without sched_ext?)"
			}
			r.died(fmt.Sprintf("not attached within %s: sched_ext state %s, ops %q", timeout, state, readTrim(opsFile)))
			return errors.New(r.run.Reason)
		}
	}
}

// Watch follows the scheduler until Stop: if its process exits or sched_ext
// leaves the enabled state, it is recorded as dead (once).
func (r *Runner) Watch() {
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.exited:
				r.died(fmt.Sprintf("scheduler process exited with code %d", r.cmd.ProcessState.ExitCode()))
				return
			case <-tick.C:
				if s := readTrim(stateFile); s != "enabled" {
					r.died("sched_ext state became " + s)
					// The process usually exits right after, printing why.
					select {
					case <-r.exited:
					case <-time.After(2 * time.Second):
					}
					return
				}
			}
		}
	}()
}

// SetRetried records why this is a second attempt.
func (r *Runner) SetRetried(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Retried = why
}

// PinKthreads sets the CPU affinity of every kernel thread named comm and
// returns how many it pinned.
func PinKthreads(comm string, cpu int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	n := 0
	for _, d := range dirs {
		if readTrim(filepath.Join(d, "comm")) != comm {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		var set unix.CPUSet
		set.Set(cpu)
		if unix.SchedSetaffinity(pid, &set) == nil {
			n++
		}
	}
	return n
}

// State is a copy of the scheduler's story so far.
func (r *Runner) State() *record.SchedulerRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.run
	return &run
}

// RequestDump asks the kernel to dump the running sched_ext scheduler's
// state (SysRq D) into the trace buffer, where Stop collects it; false when
// no sched_ext scheduler is enabled or the request failed.
func RequestDump() bool {
	if readTrim(stateFile) != "enabled" {
		return false
	}
	if err := os.WriteFile("/proc/sysrq-trigger", []byte("D"), 0); err != nil {
		return false
	}
	return true
}

// Dead reports whether the scheduler died, and why.
func (r *Runner) Dead() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.run.Died, r.run.Reason
}

func (r *Runner) died(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run.Died || r.stopping {
		return
	}
	r.run.Died, r.run.Reason, r.run.DiedAtS = true, reason, time.Since(r.start).Seconds()
}

// Stop lists the scheduler's BPF programs (while they are loaded), stops it
// with SIGINT (SIGKILL after 5 s) and returns its story.
func (r *Runner) Stop() *record.SchedulerRun {
	progs := Programs()
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	select {
	case <-r.exited:
	default:
		r.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			r.cmd.Process.Kill()
			<-r.exited
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.run
	run.Log = readTail(r.logPath, logTail)
	if len(progs) > 0 {
		attachVerifierStats(progs, run.Log)
		run.Programs = progs
	}
	if code := r.cmd.ProcessState.ExitCode(); code >= 0 {
		run.ExitCode = &code
	}
	run.ExitKind = kernelExitLine()
	run.Dump = kernelDump()
	if run.Died {
		run.Reason = explain(run.Reason, run.Log, run.ExitKind)
	}
	os.Remove(r.logPath)
	return &run
}

// explain adds the scheduler's own EXIT line and the kernel's exit line to
// a death reason.
func explain(reason, log, kernel string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "EXIT:") {
			reason += "; " + strings.TrimSpace(l)
			break
		}
	}
	if kernel != "" {
		reason += "; kernel: " + kernel
	}
	return reason
}

// kernelExitLine finds the kernel's last "sched_ext: BPF scheduler ...
// disabled (...)" message and the scheduler's exit message that follows it
// ("sched_ext: NAME: text"). /dev/kmsg is read with raw non-blocking reads
// (one record per read) until EAGAIN: through os.File, Go's poller would
// wait for more messages forever.
func kernelExitLine() string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var last, detail string
	buf := make([]byte, 8192)
	for i := 0; i < 100000; i++ {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) { // a record was overwritten: go on
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		_, msg, ok := strings.Cut(string(buf[:n]), ";")
		if !ok {
			continue
		}
		msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
		switch {
		case strings.HasPrefix(msg, "sched_ext: BPF scheduler") && strings.Contains(msg, "disabled"):
			last, detail = msg, ""
		case last != "" && detail == "" && strings.HasPrefix(msg, "sched_ext: ") && !strings.HasPrefix(msg, "sched_ext: BPF scheduler"):
			detail = strings.TrimPrefix(msg, "sched_ext: ")
		}
	}
	if detail != "" {
		return last + ": " + detail
	}
	return last
}

// kernelDump returns the sched_ext_dump lines in the trace buffer: the
// dumps of the scheduler's state asked for while it ran (RequestDump) and
// the kernel's dump when it exited with an error, the latest kept first
// when they exceed dumpLimit.
func kernelDump() string {
	b, err := os.ReadFile(traceFile)
	if err != nil {
		return ""
	}
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if _, line, ok := strings.Cut(l, "sched_ext_dump: "); ok {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return record.KeepLatestDumps(out.String(), dumpLimit)
}

// Programs lists the loaded BPF programs with the verifier's instruction
// count and run-time statistics.
func Programs() []record.BPFProgram {
	var out []record.BPFProgram
	id := ebpf.ProgramID(0)
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return out
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		stats, _ := p.Stats()
		p.Close()
		if err != nil {
			continue
		}
		bp := record.BPFProgram{ID: uint32(id), Name: info.Name, Type: info.Type.String()}
		if n, ok := info.VerifiedInstructions(); ok {
			bp.VerifiedInsns = n
		}
		if stats != nil {
			bp.RunCount, bp.RunTimeNS = stats.RunCount, uint64(stats.Runtime)
		}
		out = append(out, bp)
	}
}

// attachVerifierStats copies "verifier PROG: stats" lines a loader printed
// (the fixture does) to the matching programs.
func attachVerifierStats(progs []record.BPFProgram, log string) {
	for _, l := range strings.Split(log, "\n") {
		rest, ok := strings.CutPrefix(l, "verifier ")
		if !ok {
			continue
		}
		name, stats, ok := strings.Cut(rest, ": ")
		if !ok {
			continue
		}
		for i := range progs {
			// The kernel truncates program names to 15 characters.
			if progs[i].Name == name || (len(progs[i].Name) == 15 && strings.HasPrefix(name, progs[i].Name)) {
				progs[i].VerifierStats = stats
			}
		}
	}
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func readTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	if st != nil && st.Size() > n {
		f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return string(b[:k])
}
