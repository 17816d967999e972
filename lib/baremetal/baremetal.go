// Package baremetal runs a job's scenario on the machine ktstr runs on, not
// in a VM: the agent's own job executor (lib/guest/jobexec: scheduler attach,
// scenario engine, worker processes, telemetry) and the same checks, in a
// cgroup v2 subtree of its own, optionally on a subset of the host's CPUs. The run record has the VM runs' shape (accel "none"), so
// ktstr-verify and ktstr-stats judge and compare both alike.
//
// It is the host-side counterpart of lib/guest/agent: where the agent is PID 1
// of a fresh kernel, this runs beside everything else on the host, so it owns
// only what it creates (a cgroup parent, one run cgroup per job, the
// workers, an optional scheduler) and removes all of it on every path,
// interruption included.
package baremetal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/internal/fileutil"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/guest/jobexec"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// AccelNone is the run record's host.accel of a bare-metal run.
const AccelNone = "none"

// SkipReason is the skip record's reason class of a job bare metal cannot
// run here (a scenario larger than the host, no sched_ext).
const SkipReason = "bare_metal"

// Config is how bare-metal jobs run.
type Config struct {
	// CgroupParent is the cgroup (a directory under a cgroup2 mount, or a
	// path relative to the mount) under which each job's cgroup is made.
	// "" = <mount>/ktstr-baremetal-PID. A parent that does not exist is
	// created and removed at Close.
	CgroupParent string
	// CPUs restricts the scenario to these host CPUs (a cpu list); "" = the
	// CPUs this process may run on.
	CPUs string
	// AllowScheduler lets a job attach a sched_ext scheduler to the host
	// kernel: every task on the machine is then scheduled by it.
	AllowScheduler bool
	// Log receives progress lines (nil: discarded).
	Log io.Writer
	// sysRoot and procRoot are "/sys" and "/proc" (tests use fixtures).
	sysRoot string
}

// Host runs bare-metal jobs. Close removes what New created.
type Host struct {
	cfg   Config
	exe   string
	mount string // the cgroup2 mount point
	// parent is the cgroup parent's path relative to mount; made lists the
	// directories of it New created, outermost first.
	parent string
	made   []string
	cpus   []int
	topo   *record.Topology
	seq    atomic.Int64
}

// NotAvailableError says why bare-metal runs are impossible on this host
// (not root, no cgroup v2): one line, nothing to retry.
type NotAvailableError struct{ Reason string }

func (e *NotAvailableError) Error() string { return "bare metal: " + e.Reason }

// New checks that this host can run bare-metal jobs (root, a cgroup2
// mount), reads its topology restricted to cfg.CPUs and prepares the cgroup
// parent.
func New(cfg Config) (*Host, error) {
	if cfg.sysRoot == "" {
		cfg.sysRoot = "/sys"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if os.Geteuid() != 0 {
		return nil, &NotAvailableError{"needs root (it creates cgroups and moves workers into them)"}
	}
	mount, err := cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		return nil, &NotAvailableError{err.Error()}
	}
	h := &Host{cfg: cfg, mount: mount}
	if h.exe, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("bare metal: the executable workers re-run: %w", err)
	}
	if h.cpus, err = cpuSet(cfg.CPUs, cfg.sysRoot); err != nil {
		return nil, err
	}
	full, err := topology.ReadSysfs(cfg.sysRoot, "host")
	if err != nil {
		return nil, fmt.Errorf("bare metal: host topology: %w", err)
	}
	h.topo = Restrict(full, h.cpus)
	if err := h.makeParent(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Topology is the host's topology restricted to the CPUs the scenarios may
// use: the topology of every bare-metal job.
func (h *Host) Topology() *record.Topology { return h.topo }

// Parent is the cgroup parent's directory.
func (h *Host) Parent() string { return filepath.Join(h.mount, h.parent) }

// cgroup2Mount finds the cgroup v2 mount point in a mountinfo file: the
// unified hierarchy at /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
// hybrid host.
func cgroup2Mount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("needs cgroup v2: %w", err)
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source ...
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(fs) > 0 && fs[0] == "cgroup2" {
			found = append(found, fields[4])
		}
	}
	if len(found) == 0 {
		return "", errors.New("needs cgroup v2: no cgroup2 file system is mounted")
	}
	// Prefer the canonical place when the hierarchy is mounted twice.
	if slices.Contains(found, "/sys/fs/cgroup") {
		return "/sys/fs/cgroup", nil
	}
	return found[0], nil
}

// cpuSet is the CPUs a bare-metal scenario may use: list (checked against
// the online CPUs), else this process's affinity.
func cpuSet(list, sysRoot string) ([]int, error) {
	onlineText, err := os.ReadFile(filepath.Join(sysRoot, "devices/system/cpu/online"))
	if err != nil {
		return nil, fmt.Errorf("bare metal: online CPUs: %w", err)
	}
	online, err := topology.ParseList(string(onlineText))
	if err != nil {
		return nil, fmt.Errorf("bare metal: online CPUs: %w", err)
	}
	if list == "" {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return online, nil
		}
		var out []int
		for _, c := range online {
			if set.IsSet(c) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	cpus, err := topology.ParseList(list)
	if err != nil || len(cpus) == 0 {
		return nil, cli.Usagef("--cpus %q: a cpu list such as 0-3,8", list)
	}
	for _, c := range cpus {
		if !slices.Contains(online, c) {
			return nil, cli.Usagef("--cpus %s: CPU %d is not online (online: %s)", list, c, topology.FormatList(online))
		}
	}
	return cpus, nil
}

// Restrict returns t limited to cpus: groups keep only those CPUs, empty
// groups and nodes go, and the dimensions and name are derived again.
func Restrict(t *record.Topology, cpus []int) *record.Topology {
	keep := func(list string) string {
		all, _ := topology.ParseList(list)
		var out []int
		for _, c := range all {
			if slices.Contains(cpus, c) {
				out = append(out, c)
			}
		}
		return topology.FormatList(out)
	}
	r := &record.Topology{Source: t.Source, CPUs: len(cpus), ThreadsPerCore: 1}
	for _, g := range t.LLCGroups {
		if c := keep(g.CPUs); c != "" {
			g.CPUs = c
			r.LLCGroups = append(r.LLCGroups, g)
		}
	}
	for _, s := range t.SMTGroups {
		if c := keep(s); c != "" {
			r.SMTGroups = append(r.SMTGroups, c)
			n, _ := topology.ParseList(c)
			r.ThreadsPerCore = max(r.ThreadsPerCore, len(n))
		}
	}
	var kept []int
	for i, n := range t.Nodes {
		c := keep(n.CPUs)
		if c == "" {
			continue
		}
		kept = append(kept, i)
		n.CPUs = c
		n.LLCs = nil
		for _, g := range r.LLCGroups {
			if g.Node == n.ID {
				n.LLCs = append(n.LLCs, g.ID)
			}
		}
		r.Nodes = append(r.Nodes, n)
	}
	for _, i := range kept {
		if i >= len(t.Distances) {
			continue
		}
		var row []int
		for _, j := range kept {
			if j < len(t.Distances[i]) {
				row = append(row, t.Distances[i][j])
			}
		}
		r.Distances = append(r.Distances, row)
	}
	for _, g := range r.LLCGroups {
		n, _ := topology.ParseList(g.CPUs)
		r.CoresPerLLC = max(r.CoresPerLLC, (len(n)+r.ThreadsPerCore-1)/r.ThreadsPerCore)
	}
	r.LLCs, r.NUMANodes = len(r.LLCGroups), len(r.Nodes)
	r.Name = topology.Spec{NUMANodes: r.NUMANodes, LLCs: r.LLCs, CoresPerLLC: r.CoresPerLLC, ThreadsPerCore: r.ThreadsPerCore}.Name()
	return r
}

// makeParent resolves and creates the cgroup parent, enabling the cpu and
// cpuset controllers on the way down where the host offers them.
func (h *Host) makeParent() error {
	p := h.cfg.CgroupParent
	switch {
	case p == "":
		p = fmt.Sprintf("ktstr-baremetal-%d", os.Getpid())
	case filepath.IsAbs(p):
		rel, err := filepath.Rel(h.mount, filepath.Clean(p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return cli.Usagef("--cgroup-parent %s is not under the cgroup2 mount %s", p, h.mount)
		}
		p = rel
	}
	p = filepath.Clean(p)
	if p == "." || strings.HasPrefix(p, "..") {
		return cli.Usagef("--cgroup-parent %s: a cgroup below %s, not the root", h.cfg.CgroupParent, h.mount)
	}
	h.parent = p
	sweepStale(h.mount)
	dir := h.mount
	for _, part := range strings.Split(p, "/") {
		enableControllers(dir)
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err == nil {
			h.made = append(h.made, dir)
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("bare metal: cgroup parent: %w", err)
		}
	}
	return nil
}

// setsCpusets reports whether the scenario gives any cgroup a cpuset
// (per-CPU cgroups included) or changes one.
func setsCpusets(sc *scenario.Scenario) bool {
	return sc.Any(func(d *scenario.CgroupDef) bool { return d.Cpuset != nil || d.PerCPU },
		func(op scenario.Op) bool {
			return op.Op == scenario.OpSetCpuset || op.Op == scenario.OpClearCpuset || op.Op == scenario.OpSwapCpusets
		})
}

// setsAffinity reports whether any work group or operation of the scenario
// sets CPU affinities.
func setsAffinity(sc *scenario.Scenario) bool {
	return sc.Any(func(d *scenario.CgroupDef) bool {
		for _, w := range d.Works {
			if w.Affinity != nil {
				return true
			}
		}
		return false
	}, func(op scenario.Op) bool { return op.Affinity != nil || (op.Work != nil && op.Work.Affinity != nil) })
}

// hasCpuset reports whether cgroups made under the parent get the cpuset
// controller.
func (h *Host) hasCpuset() bool {
	b, err := os.ReadFile(filepath.Join(h.Parent(), "cgroup.subtree_control"))
	return err == nil && slices.Contains(strings.Fields(string(b)), "cpuset")
}

// sweepStale removes default parents (ktstr-baremetal-PID) of bare-metal
// runs whose process is gone: only a SIGKILL leaves one, with its workers
// still running, and cgroup.kill ends them.
func sweepStale(mount string) {
	dirs, _ := filepath.Glob(filepath.Join(mount, "ktstr-baremetal-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "ktstr-baremetal-"))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			sweep(d)
		}
	}
}

// enableControllers turns on cpu and cpuset for dir's children where dir
// offers them; a refusal (a parent holding processes) leaves the scenario
// without them, which the run says through its cgroups' cpusets.
func enableControllers(dir string) {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	for _, c := range []string{"cpu", "cpuset"} {
		if slices.Contains(strings.Fields(string(avail)), c) {
			os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
		}
	}
}

// Close removes the cgroup parent directories New created (innermost
// first), after removing anything left below them.
func (h *Host) Close() error {
	var errs []error
	for i := len(h.made) - 1; i >= 0; i-- {
		if err := sweep(h.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	h.made = nil
	return errors.Join(errs...)
}

// Result is what one bare-metal job produced: a run record, or a skip.
type Result struct {
	Run  *record.Run
	Skip *record.Skip
}

// Run runs one job (a scenario, optionally under a scheduler) on the host.
// Its topology is replaced by the host's (Topology); a job that does not fit
// it, or needs a scheduler the host cannot attach, is a skip. An error is a
// job wrong as given (cli.ErrUsage) or a host that failed before the
// scenario started; once it started, everything is in the run record.
func (h *Host) Run(ctx context.Context, j *record.Job, source string) (*Result, error) {
	prep := time.Now()
	jc := *j
	j = &jc
	j.Topology = h.topo
	if j.ID == "" {
		j.ID = "host"
	}
	rj, skip, err := h.admit(j)
	switch {
	case err != nil:
		return nil, err
	case skip != "":
		return &Result{Skip: &record.Skip{Source: source, Subject: j.ID, Reason: SkipReason, Detail: skip, Topology: h.topo}}, nil
	}
	j = rj.AsRun(j.TimeoutS) // bare metal has no timeout: the job's own, if any
	seq := h.seq.Add(1)
	run := newRun(fmt.Sprintf("%s-%d-%d", prep.UTC().Format("20060102T150405"), os.Getpid(), seq), j, h.cfg.sysRoot)
	// Affinity is inherited by every thread and process created after it:
	// workers start inside the CPU subset even without a cpuset controller.
	restore, err := pinProcess(h.cpus)
	if err != nil {
		return nil, fmt.Errorf("bare metal: restrict to CPUs %s: %w", topology.FormatList(h.cpus), err)
	}
	defer restore()

	name := filepath.Join(h.parent, fmt.Sprintf("run-%d", seq))
	cg, err := cgroup.New(h.mount, name, []string{"cpuset", "cpu"})
	if err != nil {
		sweep(filepath.Join(h.mount, name))
		return nil, fmt.Errorf("bare metal: %w", err)
	}
	defer func() {
		if err := sweep(cg.Root); err != nil {
			run.GuestErrors = append(run.GuestErrors, err.Error())
		}
	}()
	if slices.Contains(cg.Controllers, "cpuset") {
		if err := os.WriteFile(filepath.Join(cg.Root, "cpuset.cpus"), []byte(topology.FormatList(h.cpus)), 0); err != nil {
			return nil, fmt.Errorf("bare metal: cpuset of %s: %w", cg.Root, err)
		}
	}
	fmt.Fprintf(h.cfg.Log, "bare metal: %s in %s on CPUs %s (%s)\n", j.ID, cg.Root, topology.FormatList(h.cpus), h.topo.Name)

	x := jobexec.Job{Scheduler: j.Scheduler, Scenario: rj.Scenario, Workers: j.Workers,
		Duration:   time.Duration(j.DurationS * float64(time.Second)),
		StallAfter: time.Duration(j.StallAfterMS * float64(time.Millisecond))}
	out := jobexec.Run(ctx, x, jobexec.Env{Exe: h.exe, SchedulerBinary: hostBinary,
		Cgroups: func() (*cgroup.Manager, error) { return cg, nil }, Topology: h.topo,
	}, runSink{run, h.cfg.Log})
	h.finish(ctx, run, prep, out)
	return &Result{Run: run}, nil
}

// admit resolves j (on this host's topology) if this host can run it:
// else why it is a skip here, or a usage error (cli.ErrUsage) for a job bare metal never
// runs (no scenario, guest features, an invalid scenario, a scheduler not
// allowed).
func (h *Host) admit(j *record.Job) (rj *plan.Resolved, skip string, err error) {
	if len(j.Scenario) == 0 {
		return nil, "", cli.Usagef("bare metal runs a scenario: give --scenario")
	}
	if j.Exec != "" || len(j.BPFObjects) > 0 || len(j.Include) > 0 {
		return nil, "", cli.Usagef("bare metal takes no --exec, --bpf-object or --include: they are guest features")
	}
	rj, err = plan.Resolve(j)
	if err != nil {
		return nil, "", cli.Usage(err)
	}
	sc := rj.Scenario
	if ok, why := sc.Fits(h.topo); !ok {
		return nil, fmt.Sprintf("scenario %s: %s (this host's CPUs %s)", sc.Name, why, topology.FormatList(h.cpus)), nil
	}
	// The scenario model numbers CPUs 0..N-1 (ranges, exact lists, the
	// cross-cgroup affinity): on another subset they would name CPUs the
	// run may not use.
	if !slices.Equal(h.cpus, topology.Range(0, len(h.cpus))) && (setsCpusets(sc) || setsAffinity(sc)) {
		return nil, fmt.Sprintf("scenario %s sets cpusets or affinities by CPU number 0..%d; --cpus %s is not that range", sc.Name, len(h.cpus)-1, topology.FormatList(h.cpus)), nil
	}
	if setsCpusets(sc) && !h.hasCpuset() {
		return nil, fmt.Sprintf("scenario %s sets cpusets, and the cgroup v2 parent %s has no cpuset controller (on a hybrid host it is bound to cgroup v1)", sc.Name, h.Parent()), nil
	}
	if err := sc.Validate(h.topo, j.Workers); err != nil {
		return nil, "", cli.Usage(err)
	}
	if j.Scheduler == nil {
		return rj, "", nil
	}
	if !h.cfg.AllowScheduler {
		return nil, "", cli.Usagef("a scheduler on bare metal replaces the host's for every task: add --allow-host-scheduler")
	}
	if _, err := os.Stat(filepath.Join(h.cfg.sysRoot, "kernel/sched_ext")); err != nil {
		return nil, "host kernel has no sched_ext", nil
	}
	if st := readTrim(filepath.Join(h.cfg.sysRoot, "kernel/sched_ext/state")); st != "disabled" {
		return nil, fmt.Sprintf("host sched_ext is %s (ops %q): another scheduler is attached", st, readTrim(filepath.Join(h.cfg.sysRoot, "kernel/sched_ext/root/ops"))), nil
	}
	return rj, "", nil
}

// finish puts how the execution went into run: its times (the wall time
// is the scenario's), an interruption, a scheduler that died, and the
// host's topology as it was after.
func (h *Host) finish(ctx context.Context, run *record.Run, prep time.Time, out jobexec.Outcome) {
	if out.SchedulerFailed {
		run.Outcome, run.Reason = record.OutcomeSchedulerDied, run.Scheduler.Reason
		run.Timings.WallS = time.Since(prep).Seconds()
		return
	}
	run.Timings.PrepareMS = float64(out.ScenarioStart.Sub(prep).Microseconds()) / 1000
	run.Timings.WallS = out.ScenarioEnd.Sub(out.ScenarioStart).Seconds()
	if ctx.Err() != nil {
		run.Outcome, run.Reason = record.OutcomeInterrupted, "interrupted: workers stopped, cgroups removed"
	}
	if s := run.Scheduler; s != nil && s.Died && run.Outcome == record.OutcomeCompleted {
		run.Outcome, run.Reason = record.OutcomeSchedulerDied, s.Reason
	}
	if obs, err := topology.ReadSysfs(h.cfg.sysRoot, "host"); err == nil {
		run.ObservedTopology = Restrict(obs, h.cpus)
	} else {
		run.GuestErrors = append(run.GuestErrors, "read host topology: "+err.Error())
	}
}

// hostBinary finds a scheduler's binary on the host: a path as given, a
// name in $PATH.
func hostBinary(s *record.Scheduler) (string, error) {
	if strings.Contains(s.Binary, "/") {
		return s.Binary, nil
	}
	p, err := exec.LookPath(s.Binary)
	if err != nil {
		return "", fmt.Errorf("scheduler %s: %v", s.Binary, err)
	}
	return p, nil
}

// runSink records a job's execution (lib/guest/jobexec) in its run record.
type runSink struct {
	run *record.Run
	log io.Writer
}

func (s runSink) Scheduler(r *record.SchedulerRun)  { s.run.Scheduler = r }
func (s runSink) Scenario(r *record.ScenarioResult) { s.run.Scenario = r }
func (s runSink) Error(text string)                 { s.run.GuestErrors = append(s.run.GuestErrors, text) }
func (s runSink) Logf(format string, args ...any) {
	fmt.Fprintf(s.log, "bare metal: "+format+"\n", args...)
}

// pinProcess sets the affinity of every thread of this process to cpus and
// returns a function that puts the previous masks back.
func pinProcess(cpus []int) (func(), error) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	old := map[int]unix.CPUSet{}
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		var prev unix.CPUSet
		if unix.SchedGetaffinity(tid, &prev) != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return nil, err
		}
		old[tid] = prev
	}
	return func() {
		for tid, prev := range old {
			unix.SchedSetaffinity(tid, &prev)
		}
	}, nil
}

// sweep removes the cgroup dir and everything below it: processes still
// there are killed (cgroup.kill where the kernel has it, SIGKILL to each
// otherwise) and the directories removed innermost first. It is the last
// line after the engine's own cleanup, so that no path leaves a cgroup or
// a worker behind.
func sweep(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		if fileutil.WriteExisting(filepath.Join(d, "cgroup.kill"), "1", false) != nil {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	var err error
	for i := len(dirs) - 1; i >= 0; i-- {
		for try := 0; try < 40; try++ {
			if err = unix.Rmdir(dirs[i]); err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			time.Sleep(50 * time.Millisecond) // killed tasks take a moment to leave
		}
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// newRun is the run record of j on this host before it starts: this
// ktstr's version, the host's CPUs, memory and running kernel.
func newRun(id string, j *record.Job, sysRoot string) *record.Run {
	return &record.Run{ID: id, KtstrVersion: version.String(), Job: j, Outcome: record.OutcomeCompleted,
		Host:  record.RunHost{Accel: AccelNone, HostCPUs: machine.CPUs(), MemoryMB: machine.MemAvailableMB()},
		Guest: machine.RunningKernel(sysRoot),
	}
}
