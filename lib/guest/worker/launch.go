package worker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// readyTimeout bounds how long a worker may take to start and set up; under
// TCG with many vCPUs a fresh Go process takes a while.
const readyTimeout = 30 * time.Second

// Worker is a running worker process, seen from the agent.
type Worker struct {
	Task    Task
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	custom  bool
	started time.Time
	stopped time.Time
	stderr  *strings.Builder
	// progress is the launch's shared progress memory (nil for Custom).
	progress *progressMap
}

// Progress is what the worker last published (zero for Custom workers).
func (w *Worker) Progress() Progress {
	if w.progress == nil {
		return Progress{}
	}
	return w.progress.read(w.Task.ProgressSlot)
}

// Started is when the worker was released (zero before Go).
func (w *Worker) Started() time.Time { return w.started }

// PID is the worker's process id.
func (w *Worker) PID() int { return w.cmd.Process.Pid }

// Launch starts n workers of spec directly in the cgroup whose directory is
// cgroupDir (clone3 CLONE_INTO_CGROUP: they never run outside it), and waits
// until each has set itself up. They do not work until Go. affinity(i)
// gives worker i's CPUs (nil: the cgroup's cpuset); allowed is the cgroup's
// effective CPUs.
func Launch(exe, cgroupDir, cgroupName string, spec workload.Spec, n int, affinity func(i int) []int, allowed []int) ([]*Worker, error) {
	cg, err := os.Open(cgroupDir)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", cgroupDir, err)
	}
	defer cg.Close()
	t, ok := workload.LookupType(spec.Type)
	if !ok {
		return nil, fmt.Errorf("unknown work type %q", spec.Type)
	}
	group := max(1, spec.GroupSize())
	needShared := group > 1
	needPipes := t.Pipes
	command := t.Unit == nil // the worker is the spec's command
	var workers []*Worker
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	fail := func(err error) ([]*Worker, error) {
		Kill(workers)
		return nil, err
	}
	var shared *os.File
	var pipes [2][2]*os.File // [direction][read, write]: 0 = even→odd, 1 = odd→even
	var progress *progressMap
	var progressFile *os.File
	if !command {
		progress, progressFile, err = newProgress(n)
		if err != nil {
			return nil, err
		}
		toClose = append(toClose, progressFile)
	}
	for i := 0; i < n; i++ {
		gi := i % group
		if gi == 0 && needShared {
			fd, err := unix.MemfdCreate("ktstr-group", unix.MFD_CLOEXEC)
			if err != nil {
				return fail(fmt.Errorf("group memory: %w", err))
			}
			shared = os.NewFile(uintptr(fd), "ktstr-group")
			if err := shared.Truncate(sharedSize); err != nil {
				return fail(err)
			}
			toClose = append(toClose, shared)
		}
		if gi%2 == 0 && needPipes {
			for d := 0; d < 2; d++ {
				r, w, err := os.Pipe()
				if err != nil {
					return fail(err)
				}
				pipes[d] = [2]*os.File{r, w}
				toClose = append(toClose, r, w)
			}
		}
		task := Task{Spec: spec, Cgroup: cgroupName, GroupIndex: gi, GroupSize: group, Allowed: allowed, Shared: needShared, Pipes: needPipes}
		if affinity != nil {
			task.CPUs = affinity(i)
		}
		var extra []*os.File
		if needShared {
			extra = append(extra, shared)
		}
		if needPipes {
			in, out := pipes[1][0], pipes[0][1] // even: reads odd→even, writes even→odd
			if gi%2 == 1 {
				in, out = pipes[0][0], pipes[1][1]
			}
			extra = append(extra, in, out)
		}
		if progressFile != nil {
			extra = append(extra, progressFile)
			task.ProgressFD, task.ProgressSlot = 2+len(extra), i
		}
		w, err := start(exe, int(cg.Fd()), task, command, extra)
		if err != nil {
			return fail(fmt.Errorf("start %s worker %d: %w", spec.Type, i, err))
		}
		w.progress = progress
		workers = append(workers, w)
	}
	for i, w := range workers {
		if err := w.awaitReady(); err != nil {
			return fail(fmt.Errorf("%s worker %d: %w", spec.Type, i, err))
		}
	}
	return workers, nil
}

// start starts one worker: the worker role of exe, or the spec's own
// command when command is set.
func start(exe string, cgroupFD int, task Task, command bool, extra []*os.File) (*Worker, error) {
	w := &Worker{Task: task, stderr: &strings.Builder{}}
	var cmd *exec.Cmd
	if command {
		w.custom = true
		cmd = exec.Command(task.Spec.Command[0], task.Spec.Command[1:]...)
		cmd.Stdout = io.Discard
	} else {
		cmd = exec.Command(exe)
		cmd.Env = []string{role.Environ(role.Worker), "PATH=/bin:/sbin:/usr/bin:/include", "GOMAXPROCS=1"}
		cmd.ExtraFiles = extra
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		w.stdout = bufio.NewReader(stdout)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	w.stdin = stdin
	cmd.Stderr = limitWriter{w.stderr, 4096}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.cmd = cmd
	if !w.custom {
		b, err := json.Marshal(task)
		if err != nil {
			Kill([]*Worker{w})
			return nil, err
		}
		if _, err := w.stdin.Write(append(b, '\n')); err != nil {
			Kill([]*Worker{w})
			return nil, fmt.Errorf("send task: %w", err)
		}
	}
	return w, nil
}

type limitWriter struct {
	b     *strings.Builder
	limit int
}

func (l limitWriter) Write(p []byte) (int, error) {
	if room := l.limit - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// readLine reads one line from the worker with a deadline.
func (w *Worker) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := w.stdout.ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", fmt.Errorf("worker exited (%v); stderr: %s", r.err, strings.TrimSpace(w.stderr.String()))
		}
		return strings.TrimSpace(r.s), nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %s", timeout)
	}
}

func (w *Worker) awaitReady() error {
	if w.custom {
		return nil
	}
	line, err := w.readLine(readyTimeout)
	if err != nil {
		return err
	}
	if line != lineReady {
		return fmt.Errorf("unexpected %q instead of ready", line)
	}
	return nil
}

// Go releases launched workers: the second phase of the two-phase start.
func Go(workers []*Worker) {
	for _, w := range workers {
		w.started = time.Now()
		if !w.custom {
			io.WriteString(w.stdin, lineGo+"\n")
		}
	}
}

// Stop asks workers to stop; Collect gathers their reports.
func Stop(workers []*Worker) {
	now := time.Now()
	for _, w := range workers {
		w.stopped = now
		if w.progress != nil {
			w.progress.store(w.Task.ProgressSlot, slotStopNS, uint64(now.UnixNano()))
		}
		if w.custom {
			w.cmd.Process.Signal(syscall.SIGTERM)
		} else {
			fmt.Fprintf(w.stdin, "%s %d\n", lineStop, now.UnixNano())
		}
	}
}

// Collect waits for the reports of stopped workers, at most timeout in all.
// A worker that shows no sign of stopping — it made no progress since the
// stop, so the scheduler is not running it — is given only grace; then it
// is killed and reported from its progress slot and /proc, marked
// Unreported with how long it had been stuck. Every report says when the
// worker started (StartT, Unix seconds) and where it could run.
func Collect(workers []*Worker, timeout, grace time.Duration) []record.WorkerReport {
	deadline := time.Now().Add(timeout)
	out := make([]record.WorkerReport, len(workers))
	type result struct {
		i   int
		rep record.WorkerReport
		ok  bool
	}
	ch := make(chan result, len(workers))
	for i, w := range workers {
		go func() {
			rep, ok := w.collect(time.Until(deadline))
			ch <- result{i, rep, ok}
		}()
	}
	pending := map[int]bool{}
	for i := range workers {
		pending[i] = true
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case r := <-ch:
			if r.ok || pending[r.i] {
				out[r.i] = r.rep
			}
			delete(pending, r.i)
		case <-tick.C:
			for i := range pending {
				w := workers[i]
				if w.custom || time.Since(w.stopped) < grace {
					continue
				}
				if p := w.Progress(); p.Stopping || p.Last.After(w.stopped) {
					continue // alive and on its way out
				}
				out[i] = w.unreported()
				delete(pending, i)
				// Its collect goroutine ends when the kill lands (or at
				// the deadline if the task can never run again).
				syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	for i := range out {
		t, _ := workload.LookupType(workers[i].Task.Spec.Type)
		out[i].CPUBound = t.CPUBound
		out[i].StartT = float64(workers[i].started.UnixNano()) / 1e9
		out[i].StopT = float64(workers[i].stopped.UnixNano()) / 1e9
		if out[i].AllowedCPUs == "" {
			cpus := workers[i].Task.CPUs
			if len(cpus) == 0 {
				cpus = workers[i].Task.Allowed
			}
			out[i].AllowedCPUs = topology.FormatList(cpus)
		}
		out[i].Nice = workers[i].Task.Spec.Nice
	}
	return out
}

// unreported builds the report of a worker that is stuck: work units from
// its progress slot, CPU time and run delay of its thread from schedstat,
// and the time since its last progress as its gap.
func (w *Worker) unreported() record.WorkerReport {
	rep := w.baseReport()
	rep.Unreported = true
	p := w.Progress()
	rep.WorkUnits = p.Units
	rep.WallS = w.stopped.Sub(w.started).Seconds()
	last := p.Last
	if last.IsZero() || last.Before(w.started) {
		last = w.started
	}
	rep.StuckS = w.stopped.Sub(last).Seconds()
	rep.MaxGapMS = rep.StuckS * 1000
	rep.MaxGapAtMS = last.Sub(w.started).Seconds() * 1000
	rep.MaxGapStartT = float64(last.UnixNano()) / 1e9
	rep.MaxGapCPU, rep.MaxGapFromCPU = -1, -1
	if p.TID > 0 {
		if run, delay, ok := taskSchedstat(w.cmd.Process.Pid, p.TID); ok {
			rep.CPUS, rep.RunDelayS = run.Seconds(), delay.Seconds()
		}
		// The worker cannot say where it ran, but the kernel knows the
		// CPU it last ran on: without it the judge knows none of its
		// vCPUs, and can neither take their host noise off its share
		// nor name them.
		if _, cpu, ok := taskStat(w.cmd.Process.Pid, p.TID); ok {
			rep.CPUsUsed = strconv.Itoa(cpu)
		}
	}
	if rep.WallS > 0 {
		rep.OffCPUPct = max(0, (rep.WallS-rep.CPUS)/rep.WallS*100)
	}
	return rep
}

func (w *Worker) baseReport() record.WorkerReport {
	rep := record.WorkerReport{PID: w.cmd.Process.Pid, Cgroup: w.Task.Cgroup, WorkType: w.Task.Spec.Type}
	if w.Task.Spec.Policy != nil {
		rep.Policy = w.Task.Spec.Policy.Class
	}
	if w.Task.Spec.Affinity != nil {
		rep.Affinity = w.Task.Spec.Affinity.Kind
	}
	t, _ := workload.LookupType(w.Task.Spec.Type)
	rep.CPUBound = t.CPUBound
	return rep
}

// collect reads the worker's report; ok is false when it had to be killed.
func (w *Worker) collect(timeout time.Duration) (record.WorkerReport, bool) {
	rep := w.baseReport()
	if w.custom {
		done := make(chan struct{})
		go func() { w.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(max(timeout, time.Second)):
			w.cmd.Process.Kill()
			<-done
		}
		rep.WallS = time.Since(w.started).Seconds()
		if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rep.CPUS = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
		if rep.WallS > 0 {
			rep.OffCPUPct = max(0, (rep.WallS-rep.CPUS)/rep.WallS*100)
		}
		return rep, true
	}
	line, err := w.readLine(max(timeout, time.Second))
	if err == nil {
		err = json.Unmarshal([]byte(line), &rep)
	}
	ok := err == nil
	if err != nil {
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		rep.Error = "no report: " + err.Error()
	}
	w.stdin.Close()
	waitExit(w.cmd, 2*time.Second)
	return rep, ok
}

// waitExit reaps cmd, waiting at most d: a killed task that its scheduler
// never runs again cannot exit, and must not hold the scenario up.
func waitExit(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// taskSchedstat reads /proc/PID/task/TID/schedstat: time on CPU and time
// runnable but waiting.
func taskSchedstat(pid, tid int) (run, delay time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(f[0], 10, 64)
	d, err2 := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(r), time.Duration(d), err1 == nil && err2 == nil
}

// statLastCPU reads the CPU a task last ran on (field 39, "processor")
// from a /proc/PID/task/TID/stat line.
func statLastCPU(stat string) (int, bool) {
	f, ok := statField(stat, 39)
	if !ok {
		return 0, false
	}
	cpu, err := strconv.Atoi(f)
	return cpu, err == nil && cpu >= 0
}

// statField returns field n (from 1, as proc(5) numbers them) of a
// /proc/PID/task/TID/stat line, n ≥ 3. The command name, field 2, may hold
// spaces and parentheses, so the fields are counted from its last ')'.
func statField(stat string, n int) (string, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || n < 3 {
		return "", false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) <= n-3 {
		return "", false
	}
	return f[n-3], true
}

// RunState reads what the kernel says of the worker's thread now: whether
// it is runnable (state R: running or waiting to run), how much CPU time
// it has had, and the CPU it is on or last ran on. A runnable thread whose
// CPU time stands still is waiting to run, or running on a CPU the kernel
// has not accounted lately (its vCPU kept from running by the host). ok
// is false before the worker has published its thread id, or once the
// thread is gone.
func (w *Worker) RunState() (runnable bool, ran time.Duration, cpu int, ok bool) {
	tid := w.Progress().TID
	if tid <= 0 || w.cmd == nil || w.cmd.Process == nil {
		return false, 0, 0, false
	}
	pid := w.cmd.Process.Pid
	state, cpu, ok1 := taskStat(pid, tid)
	ran, _, ok2 := taskSchedstat(pid, tid)
	return state == "R", ran, cpu, ok1 && ok2
}

// taskStat reads a thread's state (field 3) and the CPU it is on or last
// ran on (field 39) from /proc/PID/task/TID/stat.
func taskStat(pid, tid int) (state string, cpu int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return "", 0, false
	}
	state, ok1 := statField(string(b), 3)
	cpu, ok2 := statLastCPU(string(b))
	return state, cpu, ok1 && ok2
}

// Pause stops a worker with SIGSTOP for d, then resumes it: a test op that
// makes a scheduling gap the checks must catch.
func (w *Worker) Pause(d time.Duration) error {
	if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	time.Sleep(d)
	return w.cmd.Process.Signal(syscall.SIGCONT)
}

// Kill ends workers at once (cleanup after a failed launch).
func Kill(workers []*Worker) {
	for _, w := range workers {
		if w.cmd != nil && w.cmd.Process != nil {
			syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			waitExit(w.cmd, 2*time.Second)
		}
	}
}
