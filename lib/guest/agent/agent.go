package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/guest/jobexec"
	"github.com/ktstr-go/ktstr/lib/guest/livesched"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// outputLimit caps the captured stdout and stderr of Job.Exec.
const outputLimit = 1 << 20

// Agent is the PID-1 program of a ktstr guest.
type Agent struct {
	start   time.Time
	mu      sync.Mutex
	results io.WriteCloser
	console io.Writer
}

// Main runs the agent (the binary as PID 1, role.Init) and powers the
// guest off. It never returns (the status is for role.Main's shape); until
// the console is open it logs to stderr, and args and stdout are unused.
// Any panic is reported on the result channel as an error, so the host
// sees guest_error with the message instead of a hang or a kernel panic.
func Main(args []string, stdout, stderr io.Writer) int {
	a := &Agent{start: time.Now(), console: stderr}
	defer a.powerOff()
	defer func() {
		if r := recover(); r != nil {
			a.fail(fmt.Sprintf("agent panic: %v\n%s", r, debug.Stack()))
		}
	}()
	if err := a.run(); err != nil {
		a.fail(err.Error())
	}
	return 0 // not reached: the deferred power-off does not return
}

func (a *Agent) logf(format string, args ...any) {
	fmt.Fprintf(a.console, "ktstr-agent: "+format+"\n", args...)
}

// send writes one message to the result channel (or, before it is open, to
// the console with a marker the host looks for).
func (a *Agent) send(m proto.Message) {
	m.T = time.Since(a.start).Seconds()
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(proto.Message{Type: proto.MsgError, T: m.T, Text: "encode message: " + err.Error()})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.results == nil {
		fmt.Fprintf(a.console, "KTSTR_AGENT_MESSAGE %s\n", b)
		return
	}
	if _, err := a.results.Write(append(b, '\n')); err != nil {
		fmt.Fprintf(a.console, "KTSTR_AGENT_MESSAGE %s\n", b)
	}
}

func (a *Agent) fail(text string) {
	a.logf("error: %s", text)
	a.send(proto.Message{Type: proto.MsgError, Text: text})
}

func (a *Agent) run() error {
	if err := mountAll(a.logf); err != nil {
		return err
	}
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		a.console = f
	}
	port, err := openPort(proto.PortName)
	if err != nil {
		return fmt.Errorf("result channel: %w", err)
	}
	a.results = port

	job, err := readJob(proto.JobPath)
	if errors.Is(err, fs.ErrNotExist) {
		// No job in the initramfs: a snapshot source; the job comes over
		// the channel.
		job, err = a.awaitJob(port)
	}
	if err != nil {
		return err
	}
	a.send(proto.Message{Type: proto.MsgHello, Hello: machine.RunningKernel("/sys")})
	observed, err := topology.ReadSysfs("/sys", "guest")
	if err != nil {
		a.fail("read guest topology: " + err.Error())
	} else {
		a.send(proto.Message{Type: proto.MsgTopology, Topology: observed})
	}
	for _, obj := range job.BPFObjects {
		res := livesched.VerifyObject(filepath.Join(proto.IncludeDir, filepath.Base(obj)))
		res.Path = obj
		a.send(proto.Message{Type: proto.MsgBPFObject, BPFObject: &res})
	}
	probes := a.startProbes(job.Probes)
	if job.Scheduler != nil {
		// Said last, after the scheduler's final state: also when it never
		// attached (nothing else of the job ran then: running the workload
		// under EEVDF instead would report on the wrong scheduler), and
		// when the job panics.
		defer a.send(proto.Message{Type: proto.MsgDone})
		a.applySysctls(job.Scheduler)
	}
	if observed == nil {
		observed = job.Topology
	}
	jobexec.Run(context.Background(), jobexec.FromRecord(job), jobexec.Env{
		Exe: executable(), SchedulerBinary: includedBinary, AttachBudget: attachBudget(job),
		Cgroups: func() (*cgroup.Manager, error) {
			return cgroup.New("/sys/fs/cgroup", "ktstr", []string{"cpuset", "cpu"})
		},
		Topology: observed, Start: a.start,
		Under: func() { a.underScheduler(job, probes) },
	}, agentSink{a})
	if job.Scheduler == nil {
		a.send(proto.Message{Type: proto.MsgDone})
	}
	return nil
}

// underScheduler is what the job does after its scenario, the scheduler
// still attached: its command, the interactive shell, and the probes'
// last result.
func (a *Agent) underScheduler(job *record.Job, probes *probeRun) {
	if job.Exec != "" {
		a.send(proto.Message{Type: proto.MsgExec, Exec: runExec(job.Exec)})
	}
	if dev := shellDevice(readTrim("/proc/cmdline")); dev != "" {
		a.send(proto.Message{Type: proto.MsgExec, Exec: a.runShell(dev)})
	}
	probes.stop()
}

// agentSink reports a job's execution (lib/guest/jobexec) on the result
// channel.
type agentSink struct{ a *Agent }

func (s agentSink) Scheduler(r *record.SchedulerRun) {
	s.a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: r})
}

func (s agentSink) Scenario(r *record.ScenarioResult) {
	s.a.send(proto.Message{Type: proto.MsgScenario, Scenario: r})
}

func (s agentSink) Error(text string)               { s.a.fail(text) }
func (s agentSink) Logf(format string, args ...any) { s.a.logf(format, args...) }

// executable is the agent's own binary, which workers and the fixture
// scheduler run.
func executable() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return "/init"
}

// includedBinary is where a scheduler's binary is in the guest: the host
// put it in /include.
func includedBinary(s *record.Scheduler) (string, error) {
	return filepath.Join(proto.IncludeDir, filepath.Base(s.Binary)), nil
}

// attachBudget is how long the agent may wait for the scheduler: what is
// left of the job's timeout (counted, like the host's, from boot) less a
// margin to report why, at most jobexec.AttachTimeout. The job's timeout,
// enforced by the host, is the real bound: within it the agent says why
// before the host gives up. A scheduler that attaches late still runs; if
// the scenario then overruns, the run times out with the attach recorded.
func attachBudget(job *record.Job) time.Duration {
	if job.TimeoutS <= 0 {
		return jobexec.AttachTimeout
	}
	var info unix.Sysinfo_t
	up := 0.0
	if unix.Sysinfo(&info) == nil {
		up = float64(info.Uptime)
	}
	left := job.TimeoutS - up - 3
	return time.Duration(max(1, min(left, jobexec.AttachTimeout.Seconds())) * float64(time.Second))
}

// applySysctls writes the scheduler's sysctls: a fresh guest's to change
// (bare metal leaves the host's alone). A failure is logged, not fatal.
func (a *Agent) applySysctls(s *record.Scheduler) {
	for k, v := range s.Sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			a.logf("sysctl %s=%s: %v", k, v, err)
		}
	}
}

// powerOff flushes and powers the machine off; with -no-reboot QEMU exits.
func (a *Agent) powerOff() {
	a.mu.Lock()
	if a.results != nil {
		a.results.Close()
	}
	a.mu.Unlock()
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Not reached unless power-off failed; PID 1 must not exit (that is a
	// kernel panic), so wait for the host's timeout.
	for {
		time.Sleep(time.Hour)
	}
}

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	required               bool
}

var mounts = []mount{
	{"proc", "/proc", "proc", 0, "", true},
	{"sysfs", "/sys", "sysfs", 0, "", true},
	{"devtmpfs", "/dev", "devtmpfs", 0, "", true},
	{"tmpfs", "/tmp", "tmpfs", 0, "mode=1777", true},
	{"tmpfs", "/run", "tmpfs", 0, "mode=755", false},
	{"tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777", false},
	// Unix98 ptys (/dev/ptmx) for payloads that need a terminal; the
	// kernel command line turns the legacy BSD ones off.
	{"devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666", false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "", false},
	{"debugfs", "/sys/kernel/debug", "debugfs", 0, "", false},
	{"tracefs", "/sys/kernel/tracing", "tracefs", 0, "", false},
	{"bpf", "/sys/fs/bpf", "bpf", 0, "", false},
}

// mountAll mounts the pseudo filesystems. Missing optional ones (a kernel
// without tracefs) are logged, not fatal.
func mountAll(logf func(string, ...any)) error {
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && m.required {
			return fmt.Errorf("mkdir %s: %w", m.target, err)
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			if m.required {
				return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
			}
			logf("optional mount %s on %s: %v", m.fstype, m.target, err)
		}
	}
	return nil
}

// openPort finds the virtio-serial port called name, opened for reading
// too: a snapshot's restored copies receive their job on it.
func openPort(name string) (io.ReadWriteCloser, error) {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != name {
			continue
		}
		dev := filepath.Join("/dev", filepath.Base(filepath.Dir(n)))
		return os.OpenFile(dev, os.O_RDWR, 0)
	}
	return nil, fmt.Errorf("no virtio-serial port named %s (kernel without CONFIG_VIRTIO_CONSOLE?)", name)
}

func readJob(path string) (*record.Job, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	var j record.Job
	if err := record.Unmarshal(bytes.TrimSpace(b), &j); err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	return &j, nil
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// limitedBuffer keeps the first limit bytes written and counts the rest.
type limitedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.limit - l.buf.Len(); room < len(p) {
		l.dropped = true
		l.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.buf.Write(p)
}

// runExec runs cmd with the guest's shell, capturing its output.
func runExec(cmd string) *record.ExecResult {
	start := time.Now()
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Env = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin:" + proto.IncludeDir, "HOME=/tmp", "TERM=dumb", "KTSTR_GUEST=1"}
	c.Dir = "/tmp"
	stdout, stderr := &limitedBuffer{limit: outputLimit}, &limitedBuffer{limit: outputLimit}
	c.Stdout, c.Stderr = stdout, stderr
	// Background jobs of the command inherit its output pipes; without a
	// bound, Wait would wait for them to exit too, which spinners never do.
	c.WaitDelay = 2 * time.Second
	res := &record.ExecResult{Command: cmd}
	if err := c.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.ExitCode = ee.ExitCode()
		} else {
			res.ExitCode = 127
			stderr.Write([]byte(err.Error()))
		}
	}
	res.Stdout, res.Stderr = stdout.buf.String(), stderr.buf.String()
	res.Truncated = stdout.dropped || stderr.dropped
	res.DurationS = time.Since(start).Seconds()
	return res
}
