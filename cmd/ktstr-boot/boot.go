package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/host"
	"github.com/ktstr-go/ktstr/lib/initramfs"
	"github.com/ktstr-go/ktstr/lib/kernel"
	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/rootfs"
	"github.com/ktstr-go/ktstr/lib/scenario"
	"github.com/ktstr-go/ktstr/lib/sched"
	"github.com/ktstr-go/ktstr/lib/topology"
	"github.com/ktstr-go/ktstr/lib/vm"
)

type namedScenario struct {
	name string
	raw  json.RawMessage
}

// skipError is a job that does not apply to its topology.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// consoleTailLines is how much of the console a non-completed run carries.
const consoleTailLines = 40

type booter struct {
	o           *options
	out         *record.Writer
	stderr      io.Writer
	qemu        string
	qemuVersion string
	agent       string
	cacheRoot   string
	logDir      string
	hostCPUs    int

	kernelOnce sync.Once
	kernel     *record.Kernel
	kernelErr  error

	accelOnce sync.Once
	accel     vm.AccelChoice
	accelErr  error

	baseMu sync.Mutex
	bases  map[string]string

	// scenarios are --scenario's, encoded once; each topology record
	// becomes one job per scenario.
	scenarios []namedScenario
	// scheduler and profiles are --scheduler's definition and the profiles
	// to run it with; each job becomes one VM per profile.
	scheduler *sched.Definition
	profiles  []sched.Profile

	seq          atomic.Int64
	runningVCPUs atomic.Int64
	failed       atomic.Bool
	badInput     atomic.Bool
}

func newBooter(ctx context.Context, o *options, stdout, stderr io.Writer) (*booter, error) {
	qemu, err := vm.QEMUBinary()
	if err != nil {
		return nil, err
	}
	agent, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary for the guest agent: %w", err)
	}
	root, err := cachedir.Root()
	if err != nil {
		return nil, err
	}
	b := &booter{o: o, out: record.NewWriter(stdout), stderr: stderr, qemu: qemu, qemuVersion: vm.QEMUVersion(qemu),
		agent: agent, cacheRoot: root, logDir: o.LogDir, hostCPUs: host.CPUs(), bases: map[string]string{}}
	if b.logDir == "" {
		b.logDir = filepath.Join(root, "logs")
	}
	if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	for i, inc := range o.Include {
		p, err := rootfs.ResolveInclude(inc)
		if err != nil {
			return nil, &cli.UsageError{Err: err}
		}
		o.Include[i] = p
	}
	if o.Jobs <= 0 {
		o.Jobs = max(1, b.hostCPUs/2)
	}
	if o.Scenario != "" {
		var list []*scenario.Scenario
		if o.Scenario == "all" {
			list = scenario.Catalog()
		} else {
			for _, n := range strings.Split(o.Scenario, ",") {
				sc, err := scenario.Load(strings.TrimSpace(n))
				if err != nil {
					return nil, &cli.UsageError{Err: err}
				}
				list = append(list, sc)
			}
		}
		for _, sc := range list {
			raw, err := json.Marshal(sc)
			if err != nil {
				return nil, err
			}
			b.scenarios = append(b.scenarios, namedScenario{sc.Name, raw})
		}
	}
	if err := b.loadScheduler(); err != nil {
		return nil, err
	}
	if o.Job == "verifier" && ((o.Scheduler == "" && len(o.BPFObject) == 0) || o.Scenario != "" || o.Exec != "") {
		return nil, cli.Usagef("--job verifier needs --scheduler or --bpf-object and takes no --scenario or --exec")
	}
	for i, p := range o.BPFObject {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, &cli.UsageError{Err: err}
		}
		o.BPFObject[i] = abs
	}
	if o.Duration <= 0 || o.Workers < 1 {
		return nil, cli.Usagef("--duration must be > 0 and --workers ≥ 1")
	}
	vm.SweepStaleShm("/dev/shm")
	pruneLogs(b.logDir, logRetention)
	return b, nil
}

func (b *booter) close() {}

// logRetention is how long console logs are kept.
const logRetention = 14 * 24 * time.Hour

// pruneLogs removes console logs older than age.
func pruneLogs(dir string, age time.Duration) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.console.log"))
	for _, l := range logs {
		if st, err := os.Stat(l); err == nil && time.Since(st.ModTime()) > age {
			os.Remove(l)
		}
	}
}

func (b *booter) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, name+": "+format+"\n", args...)
}

// run reads jobs and boots them on a pool of o.Jobs workers; records are
// written as runs finish.
func (b *booter) run(ctx context.Context, stdin io.Reader) int {
	jobs := make(chan *record.Job)
	var wg sync.WaitGroup
	for i := 0; i < b.o.Jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b.boot(ctx, j)
			}
		}()
	}
	err := b.feed(ctx, stdin, jobs)
	close(jobs)
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		b.logf("interrupted: QEMU processes killed, temporary files removed")
		return cli.ExitInterrupted
	case err != nil:
		return cli.Report(b.stderr, name, err)
	case b.badInput.Load():
		return cli.ExitUsage
	case b.failed.Load():
		return cli.ExitFail
	}
	return cli.ExitOK
}

// feed turns --topology or stdin records into jobs.
func (b *booter) feed(ctx context.Context, stdin io.Reader, jobs chan<- *record.Job) error {
	if b.o.Topology != "" {
		s, err := topology.ParseSpec(b.o.Topology)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		return b.sendExpanded(ctx, jobs, &record.Job{Topology: s.Record(topology.DefaultRemoteDistance)})
	}
	rd := record.NewReader(stdin, name)
	for ctx.Err() == nil {
		line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		switch line.Kind {
		case record.KindTopology:
			var t record.Topology
			if err := line.Decode(&t); err != nil {
				b.inputError(line.Num, err)
				continue
			}
			if err := b.sendExpanded(ctx, jobs, &record.Job{Topology: &t}); err != nil {
				return nil
			}
		case record.KindJob:
			var j record.Job
			if err := line.Decode(&j); err != nil {
				b.inputError(line.Num, err)
				continue
			}
			if j.Topology == nil {
				b.inputError(line.Num, errors.New("job has no topology"))
				continue
			}
			if err := b.sendExpanded(ctx, jobs, &j); err != nil {
				return nil
			}
		default:
			if line.Err != nil {
				b.badInput.Store(true)
			}
			b.out.WriteRaw(line.Raw)
		}
	}
	return nil
}

// loadScheduler resolves --scheduler and its profiles.
func (b *booter) loadScheduler() error {
	o := b.o
	if o.Scheduler == "" {
		if o.Flags != "" || o.AllProfiles || o.SchedulerArgs != "" {
			return cli.Usagef("--flags, --all-profiles and --scheduler-args need --scheduler")
		}
		return nil
	}
	def, err := sched.Lookup(o.Scheduler)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	b.scheduler = def
	switch {
	case o.AllProfiles && o.Flags != "":
		return cli.Usagef("--flags and --all-profiles exclude each other")
	case o.AllProfiles:
		b.profiles = def.Profiles()
	default:
		var flags []string
		if o.Flags != "" {
			flags = strings.Split(o.Flags, ",")
		}
		p, err := def.Profile(flags)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		b.profiles = []sched.Profile{p}
	}
	return nil
}

// sendExpanded sends j once per --scenario and scheduler profile (a job
// record that brings its own scenario or scheduler keeps it).
func (b *booter) sendExpanded(ctx context.Context, jobs chan<- *record.Job, j *record.Job) error {
	if j.Scheduler == nil && b.scheduler != nil {
		for _, p := range b.profiles {
			c := *j
			c.Scheduler = b.schedulerFor(p)
			c.KernelArgs = append(slices.Clone(c.KernelArgs), b.scheduler.KernelArgs...)
			if b.scheduler.Thresholds != nil {
				c.Thresholds = mergeThresholds(b.scheduler.Thresholds, c.Thresholds)
			}
			if err := b.sendScenarios(ctx, jobs, &c, "/"+b.scheduler.Name+":"+p.Name); err != nil {
				return err
			}
		}
		return nil
	}
	return b.sendScenarios(ctx, jobs, j, "")
}

func (b *booter) schedulerFor(p sched.Profile) *record.Scheduler {
	args := slices.Clone(p.Args)
	args = append(args, strings.Fields(b.o.SchedulerArgs)...)
	return &record.Scheduler{Name: b.scheduler.Name, Binary: b.scheduler.Binary, Args: args, Profile: p.Name,
		Flags: p.Flags, Ops: b.scheduler.OpsName(), Sysctls: b.scheduler.Sysctls, EnableHelperCPU: b.scheduler.EnableHelperCPU}
}

// mergeThresholds applies job over sched (the scheduler's layer comes
// before the job's).
func mergeThresholds(sched, job *record.Thresholds) *record.Thresholds {
	m := *sched
	if job != nil {
		jb, _ := json.Marshal(job)
		json.Unmarshal(jb, &m)
	}
	return &m
}

// sendScenarios sends j once per --scenario (or once, as is, when j has
// its own scenario or none was given); suffix ends generated job ids.
func (b *booter) sendScenarios(ctx context.Context, jobs chan<- *record.Job, j *record.Job, suffix string) error {
	if len(j.Scenario) > 0 || len(b.scenarios) == 0 {
		if j.ID == "" && suffix != "" {
			j.ID = topoID(j.Topology) + suffix
		}
		return send(ctx, jobs, j)
	}
	for _, sc := range b.scenarios {
		c := *j
		c.Scenario = sc.raw
		if c.ID == "" {
			c.ID = topoID(c.Topology) + "/" + sc.name + suffix
		}
		if err := send(ctx, jobs, &c); err != nil {
			return err
		}
	}
	return nil
}

func topoID(t *record.Topology) string {
	if t.Preset != "" {
		return t.Preset
	}
	return t.Name
}

func send(ctx context.Context, jobs chan<- *record.Job, j *record.Job) error {
	select {
	case jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *booter) inputError(line int, err error) {
	b.badInput.Store(true)
	b.out.Write(&record.Error{Source: name, Line: line, Message: err.Error()})
}

// defaultKernel resolves --kernel (or the newest cached kernel) once.
func (b *booter) defaultKernel(ctx context.Context) (*record.Kernel, error) {
	b.kernelOnce.Do(func() {
		root, err := kernel.DefaultRoot()
		if err != nil {
			b.kernelErr = err
			return
		}
		c, err := kernel.OpenCache(root)
		if err != nil {
			b.kernelErr = err
			return
		}
		r := &kernel.Resolver{Cache: c}
		if b.o.Kernel != "" {
			b.kernel, b.kernelErr = r.Resolve(ctx, b.o.Kernel)
		} else {
			b.kernel, b.kernelErr = r.Newest()
		}
	})
	return b.kernel, b.kernelErr
}

// fillJob applies the flags as defaults to j.
func (b *booter) fillJob(ctx context.Context, j *record.Job) error {
	if j.ID == "" {
		j.ID = j.Topology.Name
		if j.Topology.Preset != "" {
			j.ID = j.Topology.Preset
		}
	}
	if j.Kernel == nil {
		k, err := b.defaultKernel(ctx)
		if err != nil {
			return err
		}
		j.Kernel = k
	}
	if j.Exec == "" {
		j.Exec = b.o.Exec
	}
	if len(j.Include) == 0 {
		j.Include = slices.Clone(b.o.Include)
	}
	if len(j.BPFObjects) == 0 {
		j.BPFObjects = slices.Clone(b.o.BPFObject)
	}
	for _, obj := range j.BPFObjects {
		if !slices.Contains(j.Include, obj) {
			j.Include = append(j.Include, obj)
		}
	}
	if s := j.Scheduler; s != nil {
		if !j.Kernel.SchedExt {
			return &cli.UsageError{Err: fmt.Errorf("scheduler %s: kernel %s has no sched_ext (CONFIG_SCHED_CLASS_EXT)", s.Name, j.Kernel.Image)}
		}
		if s.Binary == sched.FixtureBinary {
			// Built into the agent: nothing to resolve or include.
		} else if !strings.Contains(s.Binary, "/") {
			p, ok := j.Kernel.Schedulers[s.Binary]
			if !ok {
				return &cli.UsageError{Err: fmt.Errorf("scheduler %s: the kernel's cache entry has no %s (built with --no-schedulers?)", s.Name, s.Binary)}
			}
			s.Binary = p
		}
		if s.Binary != sched.FixtureBinary && !slices.Contains(j.Include, s.Binary) {
			j.Include = append(j.Include, s.Binary)
		}
	}
	if j.Accel == "" {
		j.Accel = b.o.Accel
	}
	if j.MemoryMB == 0 {
		j.MemoryMB = b.o.MemoryMB
	}
	if j.MemoryMB == 0 {
		j.MemoryMB = topology.GuestMemoryMB(topology.SpecOf(j.Topology))
	}
	if j.TimeoutS == 0 {
		j.TimeoutS = b.o.Timeout
	}
	if len(j.KernelArgs) == 0 {
		j.KernelArgs = b.o.KernelArgs
	}
	j.Dmesg = j.Dmesg || b.o.Dmesg
	if len(j.Scenario) > 0 {
		if j.DurationS == 0 {
			j.DurationS = b.o.Duration
		}
		if j.Workers == 0 {
			j.Workers = b.o.Workers
		}
	}
	return nil
}

// workerMemoryMB is what one worker process (a small Go program) needs.
const workerMemoryMB = 12

// checkScenario parses and validates a job's scenario against its
// topology before anything boots. A scenario the topology is too small for
// is a skip, not an error.
func checkScenario(j *record.Job) (skip string, err error) {
	if len(j.Scenario) == 0 {
		return "", nil
	}
	s, err := scenario.Parse(j.Scenario)
	if err != nil {
		return "", &cli.UsageError{Err: err}
	}
	if ok, why := s.Fits(j.Topology); !ok {
		return fmt.Sprintf("scenario %s: %s", s.Name, why), nil
	}
	if err := s.Validate(j.Topology, j.Workers); err != nil {
		return "", &cli.UsageError{Err: err}
	}
	return "", nil
}

// peakWorkers estimates the most workers a scenario runs at once.
func peakWorkers(j *record.Job) int {
	s, err := scenario.Parse(j.Scenario)
	if err != nil {
		return 0
	}
	n := 0
	add := func(defs []scenario.CgroupDef) {
		for _, d := range scenario.Expand(defs, j.Topology) {
			for _, w := range d.WorksResolved(j.Workers) {
				n += w.Workers
			}
		}
	}
	add(s.Backdrop)
	for _, st := range s.Steps {
		add(st.Cgroups)
		for _, op := range st.Ops {
			if op.Def != nil {
				add([]scenario.CgroupDef{*op.Def})
			}
			if op.Work != nil {
				n += max(op.Work.Workers, j.Workers)
			}
		}
	}
	return n
}

// boot runs one job and writes its run record.
func (b *booter) boot(ctx context.Context, j *record.Job) {
	prepStart := time.Now()
	seq := b.seq.Add(1)
	runID := fmt.Sprintf("%s-%d-%d", prepStart.UTC().Format("20060102T150405"), os.Getpid(), seq)
	r, err := b.prepareAndRun(ctx, j, runID, fmt.Sprintf("%d-%d", os.Getpid(), seq), prepStart)
	var skip *skipError
	if errors.As(err, &skip) {
		b.logf("%s: skipped: %s", j.ID, skip.reason)
		b.out.Write(&record.Skip{Source: name, Subject: j.ID, Reason: "topology_too_small", Detail: skip.reason, Topology: j.Topology})
		return
	}
	if err != nil {
		// Could not even start the VM: an error record, the stream goes on.
		b.failed.Store(true)
		var ue *cli.UsageError
		var se *kernel.SpecError
		var nb *kernel.NotBuiltError
		if errors.As(err, &ue) || errors.As(err, &se) || errors.As(err, &nb) {
			b.badInput.Store(true)
		}
		b.logf("%s: %v", j.ID, err)
		b.out.Write(&record.Error{Source: name, Message: fmt.Sprintf("job %s: %v", j.ID, err)})
		return
	}
	if r.Outcome != record.OutcomeCompleted {
		b.failed.Store(true)
	}
	b.out.Write(r)
	summary := fmt.Sprintf("%s %s: %s in %.1fs (%s", r.ID, j.ID, r.Outcome, r.Timings.WallS, r.Host.Accel)
	if r.Host.TCGThreads != "" {
		summary += "/" + r.Host.TCGThreads
	}
	summary += ")"
	if r.Reason != "" {
		summary += ": " + r.Reason
	}
	b.logf("%s", summary)
}

// prepareAndRun boots j. vmName names the VM's QEMU process and /dev/shm
// files (ktstr-PID-SEQ-nodeN: the pid lets a later run sweep files of a
// ktstr-boot that was killed).
func (b *booter) prepareAndRun(ctx context.Context, j *record.Job, runID, vmName string, prepStart time.Time) (*record.Run, error) {
	if err := b.fillJob(ctx, j); err != nil {
		return nil, err
	}
	if err := topology.SpecOf(j.Topology).Validate(); err != nil {
		return nil, &cli.UsageError{Err: fmt.Errorf("topology %s: %w", j.Topology.Name, err)}
	}
	if _, err := os.Stat(j.Kernel.Image); err != nil {
		return nil, fmt.Errorf("kernel image: %w", err)
	}
	if why, err := checkScenario(j); err != nil {
		return nil, err
	} else if why != "" {
		return nil, &skipError{why}
	}
	if len(j.Scenario) > 0 && b.o.MemoryMB == 0 {
		j.MemoryMB = topology.GuestMemoryMB(topology.SpecOf(j.Topology)) + workerMemoryMB*peakWorkers(j)
		j.MemoryMB += (j.Topology.NUMANodes - j.MemoryMB%j.Topology.NUMANodes) % j.Topology.NUMANodes
	}
	accel, err := b.chooseAccel(ctx, j.Accel)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	r := &record.Run{ID: runID, Job: j, Host: record.RunHost{Accel: accel.Accel, HostCPUs: b.hostCPUs, QEMUVersion: b.qemuVersion, MemoryMB: j.MemoryMB}}
	if accel.Accel == vm.AccelTCG {
		r.Host.TCGThreads, r.Host.TCGThreadsReason = vm.TCGThreads(j.Kernel, false)
		if b.o.TCGThreads != "auto" && b.o.TCGThreads != r.Host.TCGThreads {
			r.Host.TCGThreads, r.Host.TCGThreadsReason = b.o.TCGThreads, "forced by --tcg-threads (auto would choose "+r.Host.TCGThreads+": "+r.Host.TCGThreadsReason+")"
		}
	}
	cpus := j.Topology.CPUs
	if j.TimeoutS == 0 {
		j.TimeoutS = vm.DefaultTimeoutS(vm.BootEstimateS(accel.Accel, r.Host.TCGThreads, cpus, b.hostCPUs), j.DurationS, cpus, b.hostCPUs)
	}
	r.Timings.TimeoutS = j.TimeoutS

	base, err := b.baseArchive(j.Include, initrdCompression(b.o.InitrdCompression, accel.Accel, j.Kernel))
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "ktstr-boot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initrd")
	if err := writeInitrd(initrd, base, j); err != nil {
		return nil, err
	}
	r.ConsoleLog = filepath.Join(b.logDir, runID+".console.log")
	m := &vm.Machine{
		Name: vmName, Topology: j.Topology, MemoryMB: j.MemoryMB,
		Kernel: j.Kernel.Image, Initrd: initrd, Cmdline: vm.KernelCmdline(j.Dmesg, j.KernelArgs),
		Accel: accel.Accel, TCGThreads: r.Host.TCGThreads, CPUVendor: host.CPUVendor(),
		ConsoleLog: r.ConsoleLog, Results: filepath.Join(tmp, "results.ndjson"),
	}
	if args, err := m.Args(); err == nil {
		r.Host.QEMUCommand = append([]string{b.qemu}, args...)
	}
	opts := vm.RunOptions{QEMU: b.qemu, Timeout: time.Duration(j.TimeoutS * float64(time.Second)), Series: len(j.Scenario) > 0}
	if j.Dmesg {
		opts.ConsoleStream = b.stderr
	}
	running := b.runningVCPUs.Add(int64(cpus))
	defer b.runningVCPUs.Add(-int64(cpus))
	r.Host.VCPUOvercommit = float64(running) / float64(b.hostCPUs)
	r.Timings.PrepareMS = float64(time.Since(prepStart).Microseconds()) / 1000

	res, err := vm.Run(ctx, m, opts)
	if err != nil {
		return nil, err
	}
	fillRun(r, res)
	return r, nil
}

// fillRun copies a run's facts into the record.
func fillRun(r *record.Run, res *vm.Result) {
	console := vm.ConsoleLines(r.ConsoleLog, 400)
	r.Outcome, r.Reason = vm.Classify(res, console, r.Timings.TimeoutS)
	r.Timings.WallS = res.Wall.Seconds()
	r.Timings.AgentStartS = res.AgentStart.Seconds()
	r.VCPUs = res.VCPUs
	r.HostSamples = res.Samples
	r.Timings.AgentClockS = res.AgentClock
	for _, m := range res.Messages {
		switch m.Type {
		case proto.MsgHello:
			r.Guest = m.Hello
		case proto.MsgTopology:
			r.ObservedTopology = m.Topology
		case proto.MsgExec:
			r.Exec = m.Exec
		case proto.MsgScenario:
			r.Scenario = m.Scenario
		case proto.MsgScheduler:
			r.Scheduler = m.Scheduler
		case proto.MsgBPFObject:
			r.BPFObjects = append(r.BPFObjects, *m.BPFObject)
		case proto.MsgError:
			r.GuestErrors = append(r.GuestErrors, m.Text)
		}
	}
	for _, e := range res.DecodeErrors {
		r.GuestErrors = append(r.GuestErrors, "result channel: "+e)
	}
	if r.Outcome != record.OutcomeCompleted {
		if len(console) > consoleTailLines {
			console = console[len(console)-consoleTailLines:]
		}
		r.ConsoleTail = console
	}
}

func (b *booter) chooseAccel(ctx context.Context, want string) (vm.AccelChoice, error) {
	if want != "" && want != "auto" {
		return vm.ChooseAccel(ctx, want, "", b.qemuVersion, nil)
	}
	b.accelOnce.Do(func() {
		// The KVM probe needs a booted guest; with no hardware
		// virtualisation (this machine) it is never reached.
		b.accel, b.accelErr = vm.ChooseAccel(ctx, "auto", filepath.Join(b.cacheRoot, "accel-probe.json"), b.qemuVersion, b.kvmProbe)
		if b.accelErr == nil {
			b.logf("accelerator: %s (%s)", b.accel.Accel, b.accel.Reason)
		}
	})
	return b.accel, b.accelErr
}

// kvmProbe boots the default kernel once under KVM and checks the agent
// finishes.
func (b *booter) kvmProbe(ctx context.Context) error {
	k, err := b.defaultKernel(ctx)
	if err != nil {
		return err
	}
	spec := topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 1, ThreadsPerCore: 1}
	j := &record.Job{ID: "kvm-probe", Topology: spec.Record(20), Kernel: k, Accel: vm.AccelKVM, TimeoutS: 30, MemoryMB: topology.GuestMemoryMB(spec)}
	r, err := b.prepareAndRun(ctx, j, fmt.Sprintf("kvm-probe-%d", os.Getpid()), fmt.Sprintf("%d-probe", os.Getpid()), time.Now())
	if err != nil {
		return err
	}
	os.Remove(r.ConsoleLog)
	if r.Outcome != record.OutcomeCompleted {
		return fmt.Errorf("probe guest: %s: %s", r.Outcome, r.Reason)
	}
	return nil
}

// initrdCompression resolves --initramfs-compression. auto: none under
// TCG, where the guest decompresses zstd in emulation (measured: a 5.5 MB
// zstd base took 636 ms to unpack, 12.7 MB uncompressed 182 ms); zstd under
// KVM, or gzip when the kernel's config says it has no zstd initramfs
// support.
func initrdCompression(flag, accel string, k *record.Kernel) initramfs.Compression {
	if flag != "auto" {
		return initramfs.Compression(flag)
	}
	if accel == vm.AccelTCG {
		return initramfs.None
	}
	if k.Config != "" {
		if f, err := os.Open(k.Config); err == nil {
			cfg, err := kernel.ParseConfig(f)
			f.Close()
			if err == nil && !cfg.Enabled("RD_ZSTD") && cfg.Enabled("RD_GZIP") {
				return initramfs.Gzip
			}
		}
	}
	return initramfs.Zstd
}

// baseArchive returns the cached base initramfs for includes.
func (b *booter) baseArchive(includes []string, c initramfs.Compression) (string, error) {
	key := string(c) + "\x00" + strings.Join(includes, "\x00")
	b.baseMu.Lock()
	defer b.baseMu.Unlock()
	if p, ok := b.bases[key]; ok {
		return p, nil
	}
	a, err := rootfs.BaseArchive(b.agent, includes)
	if err != nil {
		return "", err
	}
	p, _, err := a.Cached(filepath.Join(b.cacheRoot, "initramfs"), c)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	b.bases[key] = p
	return p, nil
}

// writeInitrd concatenates the base archive and the job suffix.
func writeInitrd(path, base string, j *record.Job) error {
	suffix, err := rootfs.JobSuffix(j)
	if err != nil {
		return err
	}
	in, err := os.Open(base)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, in)
	if err == nil && n%4 != 0 { // the kernel expects each archive 4-byte aligned
		_, err = out.Write(make([]byte, 4-n%4))
	}
	if err == nil {
		_, err = out.Write(suffix)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
