// Package plan turns ktstr-boot's input into jobs: topology and job records,
// with the command line's flags as defaults, become complete job records —
// one per scenario × scheduler flag profile — checked against their
// topology and kernel before anything boots, and resolved (Resolved: the
// scenario decoded, the limits merged, the stall limit and the timeout
// worked out, once, for the runner and bare metal). It boots nothing
// (lib/host/runner does), so a plan can be built, printed and tested without
// QEMU.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/shellwords"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/host/rootfs"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// Flags are ktstr-boot's job flags as given on the command line. They are
// defaults: the fields of a job record win.
type Flags struct {
	Exec       string
	Include    []string // --include: paths, or bare names looked up here and in $PATH
	BPFObjects []string
	Accel      string // auto, kvm or tcg
	MemoryMB   int
	TimeoutS   float64
	KernelArgs []string
	Dmesg      bool

	Scenario  string // catalog names or JSON files, comma-separated, or "all"
	DurationS float64
	Workers   int

	Scheduler      string // a built-in, a definition file or a binary
	SchedulerArgs  string // words split as a POSIX shell does, quotes and backslashes kept (lib/base/shellwords)
	SchedulerFlags string // comma-separated flag profile
	AllProfiles    bool
	// Job is "default" or "verifier" (load the scheduler or objects only).
	Job string

	// Kernels multiply the jobs: every job without a kernel of its own runs
	// once on each; with several, job ids end in "@" and the kernel's
	// label. KernelSpecs (--kernel) add the kernels they name, resolved
	// through the cache when the first job is expanded (so that flags can
	// be checked before the kernel is built), all before any job runs:
	// when one fails, every job fails with its error. Both empty: the
	// default kernel.
	Kernels     []*record.Kernel
	KernelSpecs []string

	// Force boots topologies far beyond the host (see RefuseVCPURatio).
	Force bool
	// HostCPUs is what topologies are measured against (0: this host's).
	HostCPUs int
	// Warn receives warnings about jobs before they boot, once per
	// distinct text (nil: discarded).
	Warn func(string)
}

// A job or flag that is wrong as given (not a failure of this machine) is a
// usage error (cli.ErrUsage): ktstr-boot exits with the usage status for it.
func inputf(format string, args ...any) error { return cli.Usagef(format, args...) }

// SkipTooSmall is the skip reason of a job that does not apply to its
// topology: a scenario that needs more CPUs, LLCs or nodes, or scheduler
// flags the profile lacks (Complete's *record.SkipError).
const SkipTooSmall = "topology_too_small"

// IsInputError reports whether err is the user's doing: a usage error (a
// bad flag, job record or kernel spec) or, to ktstr-boot, a kernel that is
// not built yet.
func IsInputError(err error) bool {
	var nb *kernel.NotBuiltError
	return errors.Is(err, cli.ErrUsage) || errors.As(err, &nb)
}

// KernelFunc returns the kernel for jobs that do not name one.
type KernelFunc func(ctx context.Context) (*record.Kernel, error)

// CachedKernel resolves spec (anything ktstr-kernel resolves; "" = the
// newest kernel in the ktstr cache) through the kernel cache.
func CachedKernel(spec string) KernelFunc {
	return func(ctx context.Context) (*record.Kernel, error) {
		root, err := kernel.DefaultRoot()
		if err != nil {
			return nil, err
		}
		c, err := kernel.OpenCache(root)
		if err != nil {
			return nil, err
		}
		r := &kernel.Resolver{Cache: c}
		if spec != "" {
			return r.Resolve(ctx, spec)
		}
		return r.Newest()
	}
}

// workerMemoryMB is what one worker process (a small Go program) needs.
const workerMemoryMB = 12

type namedScenario struct {
	name string
	raw  json.RawMessage
}

// Planner expands and completes jobs. Its methods are safe for concurrent
// use.
type Planner struct {
	f Flags
	// scenarios are --scenario's, encoded once; each topology record
	// becomes one job per scenario.
	scenarios []namedScenario
	// scheduler and profiles are --scheduler's definition and the profiles
	// to run it with; each job becomes one job per profile.
	scheduler *sched.Definition
	profiles  []sched.Profile
	// schedulerArgs are Flags.SchedulerArgs split into words.
	schedulerArgs []string

	warned sync.Map // warning texts already given

	kernelsMu sync.Mutex
	kernels   []*record.Kernel // the matrix's: Flags.Kernels, KernelSpecs', AddKernel's
	specsOnce sync.Once
	specsErr  error // resolving KernelSpecs

	kernelFunc KernelFunc
	kernelOnce sync.Once
	kernel     *record.Kernel
	kernelErr  error
}

// New checks f and resolves what it names (includes, scenarios, the
// scheduler and its profiles). kernels gives the kernel of jobs that name
// none; it is called at most once, when the first such job is completed.
func New(f Flags, kernels KernelFunc) (*Planner, error) {
	f.Include = slices.Clone(f.Include)
	for i, inc := range f.Include {
		path, err := rootfs.ResolveInclude(inc)
		if err != nil {
			return nil, cli.Usage(err)
		}
		f.Include[i] = path
	}
	f.BPFObjects = slices.Clone(f.BPFObjects)
	for i, obj := range f.BPFObjects {
		abs, err := filepath.Abs(obj)
		if err != nil {
			return nil, cli.Usage(err)
		}
		f.BPFObjects[i] = abs
	}
	if f.DurationS <= 0 || f.Workers < 1 {
		return nil, inputf("--duration must be > 0 and --workers ≥ 1")
	}
	if f.Job == "verifier" && ((f.Scheduler == "" && len(f.BPFObjects) == 0) || f.Scenario != "" || f.Exec != "") {
		return nil, inputf("--job verifier needs --scheduler or --bpf-object and takes no --scenario or --exec")
	}
	p := &Planner{f: f, kernelFunc: kernels}
	for _, k := range f.Kernels {
		if err := p.AddKernel(k); err != nil {
			return nil, err
		}
	}
	if err := p.loadScenarios(); err != nil {
		return nil, err
	}
	if err := p.loadScheduler(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Planner) loadScenarios() error {
	if p.f.Scenario == "" {
		return nil
	}
	var list []*scenario.Scenario
	if p.f.Scenario == "all" {
		list = scenario.Catalog()
	} else {
		for _, n := range strings.Split(p.f.Scenario, ",") {
			sc, err := scenario.Load(strings.TrimSpace(n))
			if err != nil {
				return cli.Usage(err)
			}
			list = append(list, sc)
		}
	}
	for _, sc := range list {
		raw, err := json.Marshal(sc)
		if err != nil {
			return fmt.Errorf("encode scenario %s: %w", sc.Name, err)
		}
		p.scenarios = append(p.scenarios, namedScenario{sc.Name, raw})
	}
	return nil
}

// loadScheduler resolves --scheduler and its profiles.
func (p *Planner) loadScheduler() error {
	f := p.f
	if f.Scheduler == "" {
		if f.SchedulerFlags != "" || f.AllProfiles || f.SchedulerArgs != "" {
			return inputf("--flags, --all-profiles and --scheduler-args need --scheduler")
		}
		return nil
	}
	args, err := shellwords.Split(f.SchedulerArgs)
	if err != nil {
		return inputf("--scheduler-args: %w", err)
	}
	p.schedulerArgs = args
	def, err := sched.Lookup(f.Scheduler)
	if err != nil {
		return cli.Usage(err)
	}
	p.scheduler = def
	if def.Thresholds != nil {
		if err := verdict.Validate(def.Thresholds); err != nil {
			return inputf("scheduler %s: %w", def.Name, err)
		}
	}
	switch {
	case f.AllProfiles && f.SchedulerFlags != "":
		return inputf("--flags and --all-profiles exclude each other")
	case f.AllProfiles:
		p.profiles = def.Profiles()
	default:
		var flags []string
		if f.SchedulerFlags != "" {
			flags = strings.Split(f.SchedulerFlags, ",")
		}
		prof, err := def.Profile(flags)
		if err != nil {
			return cli.Usage(err)
		}
		p.profiles = []sched.Profile{prof}
	}
	return nil
}

// warn gives w to Flags.Warn once.
func (p *Planner) warn(w string) {
	if w == "" || p.f.Warn == nil {
		return
	}
	if _, dup := p.warned.LoadOrStore(w, true); !dup {
		p.f.Warn(w)
	}
}

// FromSpec is the job of a --topology spec (N,L,C,T or NnLlCcTt).
func FromSpec(spec string) (*record.Job, error) {
	s, err := topology.ParseSpec(spec)
	if err != nil {
		return nil, cli.Usage(err)
	}
	return &record.Job{Topology: s.Record(topology.DefaultRemoteDistance)}, nil
}

// Expand returns j once per --scenario, scheduler profile and kernel of the
// matrix, with ids that name the topology, the scenario, the profile and
// (with several kernels) the kernel's label. A job record that brings its
// own scenario, scheduler or kernel keeps it, and one with an id keeps that
// (a kernel's label still ends it).
func (p *Planner) Expand(j *record.Job) []*record.Job {
	var out []*record.Job
	for _, e := range p.expandSchedulers(j) {
		out = append(out, p.perKernel(e)...)
	}
	return out
}

func (p *Planner) expandSchedulers(j *record.Job) []*record.Job {
	if j.Scheduler == nil && p.scheduler != nil {
		var out []*record.Job
		for _, prof := range p.profiles {
			c := cloneJob(j)
			c.Scheduler = p.schedulerFor(prof)
			c.KernelArgs = append(slices.Clone(c.KernelArgs), p.scheduler.KernelArgs...)
			if p.scheduler.Thresholds != nil {
				c.Thresholds = verdict.Compose(p.scheduler.Thresholds, c.Thresholds)
			}
			out = append(out, p.expandScenarios(c, p.schedulerSuffix(prof))...)
		}
		return out
	}
	return p.expandScenarios(j, "")
}

// schedulerSuffix names the scheduler in job ids: "/NAME:PROFILE", then
// --scheduler-args in brackets, so that runs with different fault knobs
// (scx_qmap -t 20, -e 100) are told apart in verdicts; an argument with a
// blank or a quote in it is quoted, so the brackets say what it was.
func (p *Planner) schedulerSuffix(prof sched.Profile) string {
	s := "/" + p.scheduler.Name + ":" + prof.Name
	if len(p.schedulerArgs) > 0 {
		s += "[" + shellwords.Join(p.schedulerArgs) + "]"
	}
	return s
}

func (p *Planner) schedulerFor(prof sched.Profile) *record.Scheduler {
	args := slices.Clone(prof.Args)
	args = append(args, p.schedulerArgs...)
	d := p.scheduler
	return &record.Scheduler{Name: d.Name, Binary: d.Binary, Args: args, Profile: prof.Name,
		Flags: prof.Flags, Ops: d.OpsName(), Sysctls: d.Sysctls, EnableHelperCPU: d.EnableHelperCPU}
}

// expandScenarios returns j once per --scenario (or once, as is, when j has
// its own scenario or none was given); suffix ends generated job ids.
func (p *Planner) expandScenarios(j *record.Job, suffix string) []*record.Job {
	if len(j.Scenario) > 0 || len(p.scenarios) == 0 {
		if j.ID == "" && suffix != "" {
			j.ID = topoID(j.Topology) + suffix
		}
		return []*record.Job{j}
	}
	out := make([]*record.Job, 0, len(p.scenarios))
	for _, sc := range p.scenarios {
		c := cloneJob(j)
		c.Scenario = sc.raw
		if c.ID == "" {
			c.ID = topoID(c.Topology) + "/" + sc.name + suffix
		}
		out = append(out, c)
	}
	return out
}

// cloneJob copies j with slices and maps of its own: the copies of one
// input job (per scenario, profile and kernel) are completed separately,
// and Complete appends to their lists (a kernel's scheduler binary to
// Include). Sharing a backing array with spare capacity would let one
// copy's append land in another's list — one kernel's scheduler in
// another kernel's job — and be a data race when jobs complete in
// parallel.
func cloneJob(j *record.Job) *record.Job {
	c := *j
	c.Include = slices.Clone(j.Include)
	c.KernelArgs = slices.Clone(j.KernelArgs)
	c.BPFObjects = slices.Clone(j.BPFObjects)
	c.Scenario = slices.Clone(j.Scenario)
	if j.Scheduler != nil {
		s := *j.Scheduler
		s.Args = slices.Clone(s.Args)
		s.Flags = slices.Clone(s.Flags)
		s.Sysctls = maps.Clone(s.Sysctls)
		c.Scheduler = &s
	}
	return &c
}

func topoID(t *record.Topology) string {
	if t.Preset != "" {
		return t.Preset
	}
	return t.Name
}

// DefaultKernel is the kernel of jobs that name none, resolved once; when
// --kernel specs were given and did not resolve, their error.
func (p *Planner) DefaultKernel(ctx context.Context) (*record.Kernel, error) {
	if err := p.resolveSpecs(); err != nil {
		return nil, err
	}
	p.kernelOnce.Do(func() {
		if p.kernelFunc == nil {
			p.kernelErr = errors.New("no kernel: the job names none and no default was configured")
			return
		}
		p.kernel, p.kernelErr = p.kernelFunc(ctx)
	})
	return p.kernel, p.kernelErr
}

// Complete fills j's empty fields from the flags (the kernel, the
// scheduler's binary from the kernel's cache entry, memory sized for the
// scenario's workers), checks it can boot — a valid topology, an existing
// kernel image, a scenario valid on the topology — and resolves it: the
// Resolved it returns is j, complete, with its scenario decoded and its
// limits, stall limit and timeout worked out; nothing changes j after. It
// returns a *record.SkipError when the scenario needs a larger topology and a
// usage error (cli.ErrUsage) when the job is wrong as given.
func (p *Planner) Complete(ctx context.Context, j *record.Job) (*Resolved, error) {
	if j.Topology == nil {
		return nil, inputf("job has no topology")
	}
	memorySet := j.MemoryMB != 0 || p.f.MemoryMB != 0
	localizeKernel(j) // a job planned on another host
	if err := p.fill(ctx, j); err != nil {
		return nil, err
	}
	spec, err := p.checkBootable(j)
	if err != nil {
		return nil, err
	}
	if j.MemoryMB == 0 {
		j.MemoryMB = topology.GuestMemoryMB(spec)
	}
	sc, err := decodeScenario(j)
	if err != nil {
		return nil, err
	}
	if sc != nil {
		if err := completeScenario(j, sc, spec, memorySet); err != nil {
			return nil, err
		}
	}
	return resolved(j, sc), nil
}

// completeScenario checks j's scenario sc applies to it (checkScenario),
// adds its payloads' files to the guest's and, unless memory was given,
// sizes the guest's memory for its workers.
func completeScenario(j *record.Job, sc *scenario.Scenario, spec topology.Spec, memorySet bool) error {
	if err := checkScenario(j, sc); err != nil {
		return err
	}
	if err := includePayloads(j, sc); err != nil {
		return cli.Usage(err)
	}
	if !memorySet {
		mb := topology.GuestMemoryMB(spec) + workerMemoryMB*sc.MaxWorkers(j.Topology, j.Workers)
		nodes := j.Topology.NUMANodes
		j.MemoryMB = mb + (nodes-mb%nodes)%nodes
	}
	return nil
}

// checkBootable checks the filled job j can boot here: its kernel's label,
// a valid topology (returned as a spec), valid thresholds, a VM not too
// large for the host (warning when it is large), an existing kernel image.
func (p *Planner) checkBootable(j *record.Job) (topology.Spec, error) {
	// A job record's own kernel is checked as a kernel record's is: its
	// label names the kernel in subjects and store filters.
	if err := checkKernelLabel(j.Kernel); err != nil {
		return topology.Spec{}, err
	}
	spec := topology.SpecOf(j.Topology)
	if err := spec.Validate(); err != nil {
		return spec, inputf("topology %s: %w", j.Topology.Name, err)
	}
	if j.Thresholds != nil {
		if err := verdict.Validate(j.Thresholds); err != nil {
			return spec, cli.Usage(err)
		}
	}
	warning, err := p.sanity(j)
	if err != nil {
		return spec, err
	}
	p.warn(warning)
	if _, err := os.Stat(j.Kernel.Image); err != nil {
		return spec, fmt.Errorf("kernel image: %w", err)
	}
	return spec, nil
}

// checkScenario checks j's scenario sc applies to it: a *record.SkipError
// when it needs a larger topology or scheduler flags the profile lacks, a
// usage error (cli.ErrUsage) when it is invalid on the topology.
func checkScenario(j *record.Job, sc *scenario.Scenario) error {
	if ok, why := sc.Fits(j.Topology); !ok {
		return &record.SkipError{Reason: SkipTooSmall, Detail: fmt.Sprintf("scenario %s: %s", sc.Name, why)}
	}
	var active []string
	if j.Scheduler != nil {
		active = j.Scheduler.Flags
	}
	if ok, why := sc.FlagsFit(active); !ok {
		return &record.SkipError{Reason: SkipTooSmall, Detail: fmt.Sprintf("scenario %s: %s", sc.Name, why)}
	}
	if err := sc.Validate(j.Topology, j.Workers); err != nil {
		return cli.Usage(err)
	}
	return nil
}

// fill applies the flags as defaults to j.
func (p *Planner) fill(ctx context.Context, j *record.Job) error {
	f := p.f
	if j.ID == "" {
		j.ID = topoID(j.Topology)
	}
	if j.Kernel == nil {
		k, err := p.DefaultKernel(ctx)
		if err != nil {
			return err
		}
		j.Kernel = k
	}
	if j.Exec == "" {
		j.Exec = f.Exec
	}
	if len(j.Include) == 0 {
		j.Include = slices.Clone(f.Include)
	}
	if len(j.BPFObjects) == 0 {
		j.BPFObjects = slices.Clone(f.BPFObjects)
	}
	for _, obj := range j.BPFObjects {
		if !slices.Contains(j.Include, obj) {
			// Clipped: an input job's list may be shared (cloneJob).
			j.Include = append(slices.Clip(j.Include), obj)
		}
	}
	if err := resolveScheduler(j); err != nil {
		return err
	}
	if j.Accel == "" {
		j.Accel = f.Accel
	}
	if j.MemoryMB == 0 {
		j.MemoryMB = f.MemoryMB
	}
	if j.TimeoutS == 0 {
		j.TimeoutS = f.TimeoutS
	}
	if len(j.KernelArgs) == 0 {
		j.KernelArgs = slices.Clone(f.KernelArgs)
	}
	j.Dmesg = j.Dmesg || f.Dmesg
	if len(j.Scenario) > 0 {
		if j.DurationS == 0 {
			j.DurationS = f.DurationS
		}
		if j.Workers == 0 {
			j.Workers = f.Workers
		}
	}
	return nil
}

// resolveScheduler finds a built-in scheduler's binary in the kernel's cache
// entry and adds the binary to the files the guest gets.
func resolveScheduler(j *record.Job) error {
	if j.Scheduler == nil {
		return nil
	}
	// Expanded jobs share their scheduler record: resolve a copy.
	c := *j.Scheduler
	s := &c
	j.Scheduler = s
	if !j.Kernel.SchedExt {
		return inputf("scheduler %s: kernel %s has no sched_ext (CONFIG_SCHED_CLASS_EXT)", s.Name, j.Kernel.Image)
	}
	if s.Binary == sched.FixtureBinary {
		return nil // built into the agent: nothing to resolve or include
	}
	if !strings.Contains(s.Binary, "/") {
		path, ok := j.Kernel.Schedulers[s.Binary]
		if !ok {
			return inputf("scheduler %s: the kernel's cache entry has no %s (built with --no-schedulers?)", s.Name, s.Binary)
		}
		s.Binary = path
	}
	if !slices.Contains(j.Include, s.Binary) {
		// Clipped: an input job's list may be shared (cloneJob).
		j.Include = append(slices.Clip(j.Include), s.Binary)
	}
	return nil
}
