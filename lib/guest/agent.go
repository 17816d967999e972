package guest

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

	"github.com/ktstr-go/ktstr/lib/cgroup"
	"github.com/ktstr-go/ktstr/lib/host"
	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/role"
	"github.com/ktstr-go/ktstr/lib/scenario"
	"github.com/ktstr-go/ktstr/lib/scenario/engine"
	"github.com/ktstr-go/ktstr/lib/sched"
	"github.com/ktstr-go/ktstr/lib/sched/live"
	"github.com/ktstr-go/ktstr/lib/topology"
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
	a.send(proto.Message{Type: proto.MsgHello, Hello: host.RunningKernel("/sys")})
	observed, err := topology.ReadSysfs("/sys", "guest")
	if err != nil {
		a.fail("read guest topology: " + err.Error())
	} else {
		a.send(proto.Message{Type: proto.MsgTopology, Topology: observed})
	}
	for _, obj := range job.BPFObjects {
		res := live.VerifyObject(filepath.Join(proto.IncludeDir, filepath.Base(obj)))
		res.Path = obj
		a.send(proto.Message{Type: proto.MsgBPFObject, BPFObject: &res})
	}
	probes := a.startProbes(job.Probes)
	if job.Scheduler != nil {
		runner, err := a.startScheduler(job.Scheduler, attachBudget(job))
		if err != nil {
			// Never attached: running the workload under EEVDF instead
			// would report on the wrong scheduler.
			a.send(proto.Message{Type: proto.MsgDone})
			return nil
		}
		defer func() {
			a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: runner.Stop()})
			a.send(proto.Message{Type: proto.MsgDone})
		}()
	}
	if len(job.Scenario) > 0 {
		if observed == nil {
			observed = job.Topology
		}
		res, err := a.runScenario(job, observed)
		if err != nil {
			a.fail("scenario: " + err.Error())
		} else {
			a.send(proto.Message{Type: proto.MsgScenario, Scenario: res})
		}
	}
	if job.Exec != "" {
		a.send(proto.Message{Type: proto.MsgExec, Exec: runExec(job.Exec)})
	}
	if dev := shellDevice(readTrim("/proc/cmdline")); dev != "" {
		a.send(proto.Message{Type: proto.MsgExec, Exec: a.runShell(dev)})
	}
	probes.stop()
	if job.Scheduler == nil {
		a.send(proto.Message{Type: proto.MsgDone})
	}
	return nil
}

// attachTimeout bounds how long a scheduler may take to load and enable:
// BPF verification is slow under TCG (the fixture's verify-loop knob walks
// the verifier's 1M-instruction limit twice, ~30 s here). The job's own
// timeout, enforced by the host, is the real bound: attachBudget keeps the
// wait inside it, so the agent says why before the host gives up.
const attachTimeout = 180 * time.Second

// attachBudget is how long the agent may wait for the scheduler: what is
// left of the job's timeout (counted, like the host's, from boot) less a
// margin to report why, at most attachTimeout. A scheduler that attaches
// late still runs; if the scenario then overruns, the run times out with
// the attach recorded.
func attachBudget(job *record.Job) time.Duration {
	if job.TimeoutS <= 0 {
		return attachTimeout
	}
	var info unix.Sysinfo_t
	up := 0.0
	if unix.Sysinfo(&info) == nil {
		up = float64(info.Uptime)
	}
	left := job.TimeoutS - up - 3
	return time.Duration(max(1, min(left, attachTimeout.Seconds())) * float64(time.Second))
}

// startScheduler applies the scheduler's sysctls, starts it from /include
// and waits until sched_ext reports it enabled. On failure it reports the
// scheduler message itself.
func (a *Agent) startScheduler(s *record.Scheduler, budget time.Duration) (*live.Runner, error) {
	for k, v := range s.Sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			a.logf("sysctl %s=%s: %v", k, v, err)
		}
	}
	bin := filepath.Join(proto.IncludeDir, filepath.Base(s.Binary))
	var env []string
	if s.Binary == sched.FixtureBinary {
		bin, _ = os.Executable()
		env = []string{role.Environ(role.Fixture)}
	}
	a.logf("starting scheduler %s (%s %s)", s.Name, bin, strings.Join(s.Args, " "))
	r, err := live.Start(bin, s.Args, s.Ops, env...)
	if err != nil {
		a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: &record.SchedulerRun{Died: true, Reason: err.Error()}})
		return nil, err
	}
	err = r.WaitAttached(budget)
	if err != nil && s.EnableHelperCPU != nil {
		first := r.Stop()
		n := live.PinKthreads("scx_ops_enable_helper", *s.EnableHelperCPU)
		why := fmt.Sprintf("first attach failed (%s); pinned %d scx_ops_enable_helper kthread(s) to CPU %d and retried", first.Reason, n, *s.EnableHelperCPU)
		a.logf("%s", why)
		if r, err = live.Start(bin, s.Args, s.Ops, env...); err == nil {
			r.SetRetried(why)
			err = r.WaitAttached(budget)
		}
		if r == nil {
			a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: &record.SchedulerRun{Died: true, Reason: err.Error(), Retried: why}})
			return nil, err
		}
	}
	if err != nil {
		a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: r.Stop()})
		return nil, err
	}
	a.logf("scheduler %s attached", s.Name)
	// Said now, so that a run that later times out still tells whether and
	// when the scheduler attached; the final message replaces it.
	a.send(proto.Message{Type: proto.MsgScheduler, Scheduler: r.State()})
	r.Watch()
	return r, nil
}

// runScenario runs the job's scenario in cgroups under /sys/fs/cgroup/ktstr.
func (a *Agent) runScenario(job *record.Job, topo *record.Topology) (*record.ScenarioResult, error) {
	s, err := scenario.Parse(job.Scenario)
	if err != nil {
		return nil, err
	}
	cg, err := cgroup.New("/sys/fs/cgroup", "ktstr", []string{"cpuset", "cpu"})
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/init"
	}
	// Stop early when every worker is stuck for longer than the gap limit:
	// the verdict is a failed check in seconds, not the kernel's watchdog
	// 30 s later.
	stallAfter := time.Duration(job.StallAfterMS * float64(time.Millisecond))
	a.logf("scenario %s: %.1fs, %d workers per cgroup", s.Name, job.DurationS, job.Workers)
	return engine.Run(context.Background(), s, engine.Env{
		Exe: exe, Cgroups: cg, Topology: topo, Duration: time.Duration(job.DurationS * float64(time.Second)),
		Workers: job.Workers, AgentStart: a.start, Logf: a.logf,
		StallAfter: stallAfter, Dump: live.RequestDump,
	}), nil
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
