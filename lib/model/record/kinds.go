package record

import "encoding/json"

// This file is the schema: one Go type per record kind. Field names are the
// JSON names; a field marked omitempty may be absent. Every type's Kind method
// ties it to its envelope kind.

// Error reports a problem with one input line or one unit of work. It flows
// downstream like any record, so the end of a pipeline sees what went wrong
// and where.
type Error struct {
	// Source is the tool that produced the record (ktstr-topo, ...).
	Source string `json:"source,omitempty"`
	// Line is the 1-based input line the error is about, if any.
	Line int `json:"line,omitempty"`
	// Message says what is wrong, in one line.
	Message string `json:"message"`
	// Input is an excerpt of the offending input.
	Input string `json:"input,omitempty"`
}

func (*Error) Kind() Kind { return KindError }

// Skip says that a unit of work was deliberately not done, and why. A skip is
// never a pass: downstream tools count skips separately.
type Skip struct {
	Source string `json:"source,omitempty"`
	// Subject names what was skipped (a preset, a job id).
	Subject string `json:"subject"`
	// Reason is a short machine-readable class, e.g. "host_capacity".
	Reason string `json:"reason"`
	// Detail is the human explanation.
	Detail string `json:"detail"`
	// Topology is the skipped topology, when the subject is one.
	Topology *Topology `json:"topology,omitempty"`
}

func (*Skip) Kind() Kind { return KindSkip }

// Topology describes a CPU topology: requested (from a spec or preset), read
// from a host's sysfs, or observed inside a guest. The dimensions are the
// N,L,C,T of the spec; the groups are authoritative (a host topology can be
// irregular, in which case the dimensions are the largest seen).
type Topology struct {
	// Name is the compact form NnLlCcTt, e.g. "1n2l4c2t".
	Name string `json:"name"`
	// Preset is the gauntlet preset name, if this topology is one.
	Preset string `json:"preset,omitempty"`
	// Source is "spec", "preset", "host" or "guest".
	Source         string `json:"source,omitempty"`
	NUMANodes      int    `json:"numa_nodes"`
	LLCs           int    `json:"llcs"`
	CoresPerLLC    int    `json:"cores_per_llc"`
	ThreadsPerCore int    `json:"threads_per_core"`
	CPUs           int    `json:"cpus"`
	// Nodes lists the NUMA nodes in id order.
	Nodes []TopologyNode `json:"nodes"`
	// LLCGroups lists the last-level caches in id order.
	LLCGroups []LLCGroup `json:"llc_groups"`
	// SMTGroups lists the hardware-thread sibling sets as cpu lists ("0-1").
	SMTGroups []string `json:"smt_groups"`
	// Distances is the NUMA distance matrix (SLIT), Distances[i][j].
	Distances [][]int `json:"distances"`
}

func (*Topology) Kind() Kind { return KindTopology }

// TopologyNode is one NUMA node.
type TopologyNode struct {
	ID int `json:"id"`
	// CPUs is the node's cpu list, e.g. "0-7".
	CPUs string `json:"cpus"`
	// LLCs are the ids of the LLC groups on this node.
	LLCs     []int `json:"llcs"`
	MemoryMB int   `json:"memory_mb,omitempty"`
}

// LLCGroup is one last-level cache and the CPUs sharing it.
type LLCGroup struct {
	ID   int    `json:"id"`
	Node int    `json:"node"`
	CPUs string `json:"cpus"`
}

// Kernel describes a bootable kernel: an entry of ktstr-kernel's cache, a
// tree built in place, or a prebuilt image.
type Kernel struct {
	// Key is the cache key; empty for uncached kernels.
	Key string `json:"key,omitempty"`
	// Version is the kernel release, e.g. "6.12.117".
	Version string `json:"version,omitempty"`
	// Label names the kernel in job ids, subjects and store filters:
	// kernel_[a-z0-9_]+ (lib/host/kernel.Label), e.g. "kernel_6_12_117".
	Label string `json:"label,omitempty"`
	// Fragment is the name of the extra config fragment the kernel was
	// built with beyond its profile's (ktstr-kernel build --fragment), if
	// any; FragmentHash covers the profile's fragment only.
	Fragment string `json:"fragment,omitempty"`
	// Image is the bootable bzImage.
	Image string `json:"image"`
	// Vmlinux is the ELF with symbols and .BTF (DWARF stripped), if known.
	Vmlinux string `json:"vmlinux,omitempty"`
	// Config is the path of the kernel's .config, if known.
	Config  string `json:"config,omitempty"`
	Profile string `json:"profile,omitempty"`
	Arch    string `json:"arch"`
	// SchedExt is true when the config has CONFIG_SCHED_CLASS_EXT=y.
	SchedExt bool `json:"sched_ext"`
	// RuntimeCodePatching is true when the kernel rewrites its own text at
	// run time (JUMP_LABEL, PREEMPT_DYNAMIC); nil when unknown, which
	// ktstr-boot treats as true.
	RuntimeCodePatching *bool `json:"runtime_code_patching"`
	// Schedulers maps the kernel tree's sched_ext schedulers to binaries.
	Schedulers map[string]string `json:"schedulers,omitempty"`
	Source     KernelSource      `json:"source"`
	// Cache is "hit", "built" or "uncached".
	Cache string `json:"cache"`
	// Dir is the cache entry directory.
	Dir          string `json:"dir,omitempty"`
	BuiltAt      string `json:"built_at,omitempty"`
	FragmentHash string `json:"fragment_hash,omitempty"`
}

func (*Kernel) Kind() Kind { return KindKernel }

// KernelSource says where a kernel came from.
type KernelSource struct {
	// Type is "tarball", "tree", "download" or "image".
	Type   string `json:"type"`
	Path   string `json:"path,omitempty"`
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// GitHead is the commit of a clean git tree.
	GitHead string `json:"git_head,omitempty"`
	// Dirty is true for a tree with uncommitted changes (never cached).
	Dirty bool `json:"dirty,omitempty"`
}

// Job is what one VM runs. A topology record on ktstr-boot's stdin plus its
// flags makes a job; in a job record given on stdin, the record's fields win
// over the flags.
type Job struct {
	// ID names the job in run and verdict records; generated when empty.
	ID       string    `json:"id,omitempty"`
	Topology *Topology `json:"topology"`
	Kernel   *Kernel   `json:"kernel,omitempty"`
	// Exec is a shell command run in the guest (busybox sh -c).
	Exec string `json:"exec,omitempty"`
	// Include are host files or directories copied to /include in the
	// guest; ELF binaries bring their shared libraries.
	Include []string `json:"include,omitempty"`
	// Accel is "auto", "kvm" or "tcg".
	Accel    string `json:"accel,omitempty"`
	MemoryMB int    `json:"memory_mb,omitempty"`
	// TimeoutS overrides the derived timeout (boot estimate + duration +
	// margin).
	TimeoutS  float64 `json:"timeout_s,omitempty"`
	DurationS float64 `json:"duration_s,omitempty"`
	// Dmesg raises the console log level and streams the console to stderr.
	Dmesg bool `json:"dmesg,omitempty"`
	// KernelArgs are appended to the kernel command line.
	KernelArgs []string `json:"kernel_args,omitempty"`
	// Scenario is a scenario definition (lib/model/scenario's JSON format) run
	// in the guest; Workers is its default workers per cgroup.
	Scenario json.RawMessage `json:"scenario,omitempty"`
	Workers  int             `json:"workers,omitempty"`
	// Thresholds are the job's layer of check limits.
	Thresholds *Thresholds `json:"thresholds,omitempty"`
	// StallAfterMS: the agent stops the scenario early when no worker has
	// made progress for this long (the merged gap limit, filled in by
	// ktstr-boot; 0: never).
	StallAfterMS float64 `json:"stall_after_ms,omitempty"`
	// Scheduler is the sched_ext scheduler to run; nil means EEVDF.
	Scheduler *Scheduler `json:"scheduler,omitempty"`
	// BPFObjects are BPF object files (host paths) the guest loads for
	// verification only: each program's verifier statistics, or the log of
	// the rejection.
	BPFObjects []string `json:"bpf_objects,omitempty"`
	// Probes asks the guest to trace the job (auto-repro, lib/guest/probe);
	// probes patch kernel text, so the VM runs single-threaded TCG.
	Probes *Probes `json:"probes,omitempty"`
	// ReproOf names the failed run this job reproduces (ktstr-repro).
	ReproOf *ReproOrigin `json:"repro_of,omitempty"`
}

// BPFObject is the verification of one BPF object file in the guest.
type BPFObject struct {
	Path     string       `json:"path"`
	Programs []BPFProgram `json:"programs,omitempty"`
	// Error is the load failure; Log the verifier's log for it.
	Error string `json:"error,omitempty"`
	Log   string `json:"log,omitempty"`
}

// Scheduler is the sched_ext scheduler of a job, resolved: the exact
// binary and arguments, so a rerun (auto-repro) runs the same thing.
type Scheduler struct {
	Name string `json:"name"`
	// Binary is the host path; the guest runs it from /include.
	Binary string   `json:"binary"`
	Args   []string `json:"args,omitempty"`
	// Profile is "default" or the active flags joined with "+".
	Profile string   `json:"profile"`
	Flags   []string `json:"flags,omitempty"`
	// Ops is the name sched_ext must report in root/ops.
	Ops     string            `json:"ops"`
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// EnableHelperCPU: see lib/model/sched Definition.EnableHelperCPU.
	EnableHelperCPU *int `json:"enable_helper_cpu,omitempty"`
}

// SchedulerRun is what happened to the scheduler in the guest.
type SchedulerRun struct {
	Attached bool `json:"attached"`
	// Ops is the name sched_ext reported for it (root/ops).
	Ops string `json:"ops,omitempty"`
	// Retried says why the first attach was retried, if it was.
	Retried string `json:"retried,omitempty"`
	// AttachS is how long it took to reach state enabled.
	AttachS float64 `json:"attach_s,omitempty"`
	// Died says the scheduler stopped before the run ended: its process
	// exited or sched_ext left the enabled state.
	Died     bool    `json:"died"`
	DiedAtS  float64 `json:"died_at_s,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	ExitCode *int    `json:"exit_code,omitempty"`
	// ExitKind is the kernel's sched_ext exit line (dmesg), if any.
	ExitKind string `json:"exit_kind,omitempty"`
	// Log is the tail of the scheduler's output.
	Log string `json:"log,omitempty"`
	// Dump is the kernel's sched_ext dumps (sched_ext_dump trace
	// events): those the agent asked for while the scheduler ran (a stall,
	// a strand) and the exit dump when it exited with an error; see
	// DumpSections.
	Dump     string       `json:"dump,omitempty"`
	Programs []BPFProgram `json:"programs,omitempty"`
}

// BPFProgram is a loaded BPF program as the kernel reports it.
type BPFProgram struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// VerifiedInsns is how many instructions the verifier processed.
	VerifiedInsns uint32 `json:"verified_insns"`
	RunCount      uint64 `json:"run_count,omitempty"`
	RunTimeNS     uint64 `json:"run_time_ns,omitempty"`
	// VerifierStats is the verifier's statistics line, when the loader
	// reported it (the fixture does).
	VerifierStats string `json:"verifier_stats,omitempty"`
}

func (*Job) Kind() Kind { return KindJob }

// Outcome is how a run ended.
type Outcome string

// Run outcomes.
const (
	OutcomeCompleted     Outcome = "completed"
	OutcomeTimeout       Outcome = "timeout"
	OutcomeKernelPanic   Outcome = "kernel_panic"
	OutcomeBootFailed    Outcome = "boot_failed"
	OutcomeGuestError    Outcome = "guest_error"
	OutcomeSchedulerDied Outcome = "scheduler_died"
	// OutcomeInterrupted: the user stopped ktstr-boot (SIGINT/SIGTERM).
	OutcomeInterrupted Outcome = "interrupted"
)

// Run reports the facts of one VM run. It does not judge.
type Run struct {
	ID string `json:"id"`
	// KtstrVersion is the version of the ktstr-boot that made the run
	// (lib/base/version: a release, a pseudo-version naming the commit, or
	// (devel)+REVISION); ktstr-stats compare says when the runs it
	// compares come from different versions.
	KtstrVersion string  `json:"ktstr_version,omitempty"`
	Job          *Job    `json:"job"`
	Outcome      Outcome `json:"outcome"`
	// Reason explains any outcome other than completed.
	Reason           string      `json:"reason,omitempty"`
	Host             RunHost     `json:"host"`
	Guest            *GuestInfo  `json:"guest,omitempty"`
	ObservedTopology *Topology   `json:"observed_topology,omitempty"`
	Exec             *ExecResult `json:"exec,omitempty"`
	Timings          Timings     `json:"timings"`
	// ConsoleLog is the path of the kernel console log, kept after the run.
	ConsoleLog string `json:"console_log"`
	// ConsoleTail is the last console lines, for every outcome other than
	// completed.
	ConsoleTail []string `json:"console_tail,omitempty"`
	// GuestErrors are errors the agent reported.
	GuestErrors []string `json:"guest_errors,omitempty"`
	// VCPUs is what each vCPU thread got from the host.
	VCPUs []VCPUUsage `json:"vcpus,omitempty"`
	// HostSamples are periodic readings of the vCPU threads, to judge
	// whether the host starved the guest during a timing violation.
	HostSamples []HostSample `json:"host_samples,omitempty"`
	// Scenario is the scenario's telemetry, if the job ran one.
	Scenario *ScenarioResult `json:"scenario,omitempty"`
	// Scheduler is the scheduler's story, if the job ran one.
	Scheduler *SchedulerRun `json:"scheduler,omitempty"`
	// BPFObjects are the verifications of Job.BPFObjects.
	BPFObjects []BPFObject `json:"bpf_objects,omitempty"`
	// Stored is set on the copy ktstr-stats store keeps.
	Stored *Stored `json:"stored,omitempty"`
	// Monitor is the host's view of the guest's runqueues, read from guest
	// memory (absent with --no-monitor).
	Monitor *Monitor `json:"monitor,omitempty"`
	// Probe is what the job's probes saw (Job.Probes).
	Probe *ProbeResult `json:"probe,omitempty"`
}

func (*Run) Kind() Kind { return KindRun }

// Stored is what ktstr-stats store adds to each run and verdict record it
// keeps: where and when, and the labels that identify what ran.
type Stored struct {
	// Segment is the store segment holding the record.
	Segment  string `json:"segment"`
	StoredAt string `json:"stored_at"`
	// Labels are the --label values of the store command.
	Labels []string `json:"labels,omitempty"`
	// KernelHash identifies the kernel's source: its git head, tarball
	// sha256 or cache key.
	KernelHash string `json:"kernel_hash,omitempty"`
	// SchedulerHash is the sha256 of the scheduler binary that ran.
	SchedulerHash string `json:"scheduler_hash,omitempty"`
	// ProjectCommit is the git HEAD of the directory the store command ran
	// in, "-dirty" appended when the tree had changes.
	ProjectCommit string `json:"project_commit,omitempty"`
}

// RunHost is what the host ran the VM with.
type RunHost struct {
	// Accel is "kvm" or "tcg".
	Accel string `json:"accel"`
	// TCGThreads is "multi" or "single" under TCG.
	TCGThreads string `json:"tcg_threads,omitempty"`
	// TCGThreadsReason says why that mode was chosen.
	TCGThreadsReason string   `json:"tcg_threads_reason,omitempty"`
	HostCPUs         int      `json:"host_cpus"`
	QEMUVersion      string   `json:"qemu_version"`
	QEMUCommand      []string `json:"qemu_command,omitempty"`
	// VCPUOvercommit is the vCPUs of all VMs running at once divided by the
	// host CPUs, at this VM's start.
	VCPUOvercommit float64 `json:"vcpu_overcommit"`
	// Retried says why this run is a second boot of the job (QEMU aborted
	// before the agent ran the first time), with the first boot's reason.
	Retried string `json:"retried,omitempty"`
	// Boot is how the kernel was entered: "pvh" (the vmlinux at its PVH
	// entry) or "bzimage".
	Boot string `json:"boot,omitempty"`
	// Firmware is the guest firmware: "qboot" (QEMU's minimal one, the
	// default when installed) or "seabios" (QEMU's default).
	Firmware string `json:"firmware,omitempty"`
	// Start is how the guest came up: "booted", or "restored KEY" (from
	// the snapshot KEY of a machine booted to its agent's wait for a job).
	Start string `json:"start,omitempty"`
	// StartReason says why a run was booted while snapshots were on (none
	// usable yet, or the job cannot use one), or that a snapshot was
	// created or rebuilt for it.
	StartReason string `json:"start_reason,omitempty"`
	MemoryMB    int    `json:"memory_mb"`
}

// GuestInfo is what the agent saw of its kernel.
type GuestInfo struct {
	KernelRelease string `json:"kernel_release"`
	Cmdline       string `json:"cmdline"`
	HZ            int    `json:"hz,omitempty"`
	Clocksource   string `json:"clocksource,omitempty"`
	// SchedExtState is /sys/kernel/sched_ext/state, "" without sched_ext.
	SchedExtState string `json:"sched_ext_state,omitempty"`
	// UptimeS is the guest's uptime when the agent started.
	UptimeS float64 `json:"uptime_s"`
}

// ExecResult is the outcome of Job.Exec.
type ExecResult struct {
	Command   string  `json:"command"`
	ExitCode  int     `json:"exit_code"`
	Stdout    string  `json:"stdout"`
	Stderr    string  `json:"stderr"`
	DurationS float64 `json:"duration_s"`
	// Truncated is true when output beyond the capture limit was dropped.
	Truncated bool `json:"truncated,omitempty"`
}

// Timings of a run, in seconds unless named otherwise.
type Timings struct {
	// PrepareMS is host-side preparation: from job start to QEMU exec.
	PrepareMS float64 `json:"prepare_ms"`
	// AgentStartS is wall time from QEMU exec to the agent's first message.
	AgentStartS float64 `json:"agent_start_s,omitempty"`
	WallS       float64 `json:"wall_s"`
	TimeoutS    float64 `json:"timeout_s"`
	// AgentClockS maps the agent's clock (Message.T) to host time since
	// QEMU start: host_t = agent_t + AgentClockS (±0.1 s, the poll period).
	AgentClockS float64 `json:"agent_clock_s,omitempty"`
}

// VCPUUsage is what one vCPU thread got from the host over the run.
type VCPUUsage struct {
	CPU int `json:"cpu"`
	// CPUS is the thread's CPU time (user + system).
	CPUS float64 `json:"cpu_s"`
	// RunDelayS is the time the thread was runnable but waiting for a host
	// CPU (schedstat): the host starving the guest.
	RunDelayS float64 `json:"run_delay_s"`
}

// Status is a verdict or check result.
type Status string

// Verdict statuses.
const (
	StatusPass         Status = "pass"
	StatusFail         Status = "fail"
	StatusInconclusive Status = "inconclusive"
	StatusError        Status = "error"
	StatusSkip         Status = "skip"
)

// Verdict judges one run (or one upstream error or skip).
type Verdict struct {
	RunID string `json:"run_id,omitempty"`
	// KtstrVersion is the version of the ktstr-verify that judged it
	// (lib/base/version, as Run.KtstrVersion).
	KtstrVersion string `json:"ktstr_version,omitempty"`
	// Subject names what was judged: the topology, preset or job id.
	Subject string  `json:"subject"`
	Status  Status  `json:"status"`
	Checks  []Check `json:"checks"`
	// KnownBug names the documented scheduler bug whose trace the failed
	// run shows (lib/judge/knownbug): a real bug found, still a failure.
	KnownBug string `json:"known_bug,omitempty"`
	// Stored is set on the copy ktstr-stats store keeps.
	Stored *Stored `json:"stored,omitempty"`
}

func (*Verdict) Kind() Kind { return KindVerdict }

// Check is one assertion of a verdict.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Value is what was measured and Limit what it was held against, as
	// text or numbers.
	Value any `json:"value,omitempty"`
	Limit any `json:"limit,omitempty"`
	// Net is, for a timing check, Value less the host noise measured on
	// the parties (workers, cohorts, cgroups) that make it: each party's
	// own vCPUs' host wait over its own window is taken off that party,
	// and Net is the largest remainder. The status is judged on it: over
	// the limit fails; Value over the limit and Net within it is
	// inconclusive. Absent when the check subtracts no noise.
	Net    *float64 `json:"net,omitempty"`
	Detail string   `json:"detail,omitempty"`
	// Spans are when the check's violations happened (the monitor's
	// checks: each sustained violation), so that what explains a failure
	// can be held to the same time. Absent for checks judged on the
	// scenario as a whole.
	Spans []Span `json:"spans,omitempty"`
}

// Span is a stretch of a scenario, in seconds since its start.
type Span struct {
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
}

// Overlaps says whether s and o share a moment or are at most margin
// seconds apart (for clocks aligned to within margin).
func (s Span) Overlaps(o Span, margin float64) bool {
	return s.FromS <= o.ToS+margin && o.FromS <= s.ToS+margin
}

// ScenarioResult is what the guest measured while running a scenario.
type ScenarioResult struct {
	Name string `json:"name"`
	// DurationS is the scenario's planned length; WallS what it took.
	DurationS float64 `json:"duration_s"`
	WallS     float64 `json:"wall_s"`
	// StartT is the agent time (Message.T clock) when the scenario started,
	// to align guest events with host-side vCPU samples.
	StartT  float64        `json:"start_t"`
	Steps   []StepResult   `json:"steps"`
	Cgroups []CgroupResult `json:"cgroups"`
	Errors  []string       `json:"errors,omitempty"`
	// Stalled is set when the agent stopped the scenario early because no
	// worker made progress for longer than the gap limit.
	Stalled *Stall `json:"stalled,omitempty"`
	// Strands are the times the guest saw a worker wait to run beside
	// idle CPU time long enough to ask for a sched_ext dump
	// (lib/guest/engine): evidence for lib/judge/knownbug, not a verdict
	// (the host's monitor judges work conservation).
	Strands []Strand `json:"strands,omitempty"`
	// Payloads are the benchmark binaries the scenario ran (run_payload),
	// in the order they were started.
	Payloads []PayloadResult `json:"payloads,omitempty"`
}

// PayloadResult is one run of a payload (lib/model/payload): a benchmark binary
// started by a scenario's run_payload op in a cgroup, and what its output
// said.
type PayloadResult struct {
	// Name is the payload definition's name; Cgroup where it ran.
	Name   string `json:"name"`
	Cgroup string `json:"cgroup"`
	// Binary and Args are what was executed.
	Binary string   `json:"binary"`
	Args   []string `json:"args,omitempty"`
	// StartS and EndS are seconds since the scenario started; WallS is
	// EndS − StartS.
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	WallS  float64 `json:"wall_s"`
	// ExitCode is the process's exit status, -1 when a signal ended it
	// (Signal names it) or it never started.
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// Killed says who ended it: "kill_payload" (the op), "wait_timeout"
	// (a wait_payload that gave up), "remove_cgroup" (its cgroup was
	// removed) or "scenario_end" (still running when the scenario
	// stopped); empty when it exited by itself.
	Killed string `json:"killed,omitempty"`
	// Metrics are the numbers its output gave, with their polarity.
	Metrics []PayloadMetric `json:"metrics,omitempty"`
	// OutputTail is the last lines of its standard output and error
	// (at most 40 lines of 200 bytes).
	OutputTail []string `json:"output_tail,omitempty"`
	// Error says why it did not start or why its output gave no metrics.
	Error string `json:"error,omitempty"`
}

// PayloadMetric is one number a payload's output gave.
type PayloadMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Polarity is "lower" or "higher" (which way is better); Unit may be
	// empty.
	Polarity string `json:"polarity"`
	Unit     string `json:"unit,omitempty"`
}

// PayloadLimits are the checks of one payload's runs. In a thresholds
// layer, a set field overrides an earlier layer's, metric by metric.
type PayloadLimits struct {
	// ExitCode is the exit status the payload must end with.
	ExitCode *int `json:"exit_code,omitempty"`
	// Metrics limits metrics by name.
	Metrics map[string]MetricLimit `json:"metrics,omitempty"`
}

// MetricLimit is what one payload metric must satisfy; each set field is
// a check. Off (in a later layer) drops the earlier layers' limits of the
// metric.
type MetricLimit struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Range is [min, max], both inclusive.
	Range *[2]float64 `json:"range,omitempty"`
	// Exists requires the metric in the output (true) or only judges it
	// when present (false, the default).
	Exists *bool `json:"exists,omitempty"`
	Off    bool  `json:"off,omitempty"`
}

// Stall is an early stop: every worker stuck at once.
type Stall struct {
	// AtS is when the agent stopped the scenario (since its start) and
	// ForMS how long no worker had made progress by then.
	AtS   float64 `json:"at_s"`
	ForMS float64 `json:"for_ms"`
	// Workers is how many workers were running.
	Workers int `json:"workers"`
	// Dump says whether a sched_ext debug dump (SysRq D) was requested;
	// the dump itself is in the scheduler section.
	Dump bool `json:"dump,omitempty"`
}

// Strand is a time a worker waited to run in the guest beside idle CPU
// time: runnable, its CPU time still, while every second had at least
// half a CPU idle.
type Strand struct {
	// AtS is when the agent took the dump (since the scenario's start),
	// ForS how long the CPUs had had idle time by then.
	AtS  float64 `json:"at_s"`
	ForS float64 `json:"for_s"`
	// IdleCPUs is the idle time of the last second in CPUs (1.0: one
	// CPU idle throughout); Waiting how many workers had waited 2 s or
	// more.
	IdleCPUs float64 `json:"idle_cpus"`
	Waiting  int     `json:"waiting"`
	// Dump says whether a sched_ext dump (SysRq D) was taken; it is in
	// the scheduler section.
	Dump bool `json:"dump,omitempty"`
}

// StepResult times one scenario step.
type StepResult struct {
	Index  int      `json:"index"`
	StartS float64  `json:"start_s"`
	EndS   float64  `json:"end_s"`
	Ops    []string `json:"ops,omitempty"`
	// HoldT0 and HoldT1 bound the step's hold on the agent's clock, and
	// IdleS is each CPU's idle time in it (/proc/stat idle + iowait):
	// the guest's own view of idle CPUs, which host noise cannot fake
	// (the guest charges host-stolen time to the task that was running).
	HoldT0 float64   `json:"hold_t0,omitempty"`
	HoldT1 float64   `json:"hold_t1,omitempty"`
	IdleS  []float64 `json:"idle_s,omitempty"`
	// Looped is true when the step repeated its ops during the hold.
	Looped bool `json:"looped,omitempty"`
}

// CgroupResult is one cgroup and the workers that ran in it.
type CgroupResult struct {
	Name string `json:"name"`
	// Cpuset is the cpuset.cpus the scenario gave it (the last one, if it
	// changed), "" for none; CpusetHistory lists every value it had.
	Cpuset        string   `json:"cpuset,omitempty"`
	CpusetHistory []string `json:"cpuset_history,omitempty"`
	// Unrestricted is true when the cgroup ran without a cpuset at some
	// point (isolation does not apply then).
	Unrestricted bool `json:"unrestricted,omitempty"`
	// Transient cgroups were churned; starvation and fairness skip them.
	Transient bool `json:"transient,omitempty"`
	// Host is the root cgroup (workers left outside any scenario cgroup):
	// it competes with whole cgroups, not as one of equal weight.
	Host    bool           `json:"host,omitempty"`
	Workers []WorkerReport `json:"workers"`
}

// WorkerReport is one worker process's telemetry.
type WorkerReport struct {
	PID       int    `json:"pid"`
	Cgroup    string `json:"cgroup"`
	WorkType  string `json:"work_type"`
	Policy    string `json:"policy,omitempty"`
	WorkUnits uint64 `json:"work_units"`
	// Iterations counts outer loop iterations (a unit may need several).
	Iterations uint64  `json:"iterations"`
	CPUS       float64 `json:"cpu_s"`
	WallS      float64 `json:"wall_s"`
	// OffCPUPct is (wall - cpu) / wall × 100.
	OffCPUPct float64 `json:"off_cpu_pct"`
	// MaxGapMS is the longest off-CPU gap: wall time that passed between
	// two progress checkpoints while the worker's own CPU time did not (the
	// scheduler kept it waiting). Under TCG the guest charges time its
	// vCPU spent descheduled on the host to the task that was running, so
	// host noise lands in CPU time, not here. MaxGapAtMS is when it started
	// (since the worker started), MaxGapCPU the CPU it ended on and
	// MaxGapFromCPU the one it ran on before.
	MaxGapMS      float64 `json:"max_gap_ms"`
	MaxGapAtMS    float64 `json:"max_gap_at_ms"`
	MaxGapCPU     int     `json:"max_gap_cpu"`
	MaxGapFromCPU int     `json:"max_gap_from_cpu"`
	// MaxGapStartT is the agent time (Message.T clock) the gap started.
	MaxGapStartT float64 `json:"max_gap_start_t"`
	// MaxOnCPUStallMS is the longest time between two checkpoints that
	// was charged to the worker as CPU time but did no work: the vCPU was
	// descheduled on the host (or an interrupt storm). Not the scheduler's
	// doing; recorded to show how much noise the run had.
	MaxOnCPUStallMS float64 `json:"max_on_cpu_stall_ms,omitempty"`
	// OnCPUStallS sums those stalls (only intervals longer than the gap
	// probe, 2 ms, are split): CPU time the guest charged to the worker
	// while it could not have run — under TCG, the host's share of it.
	OnCPUStallS float64 `json:"on_cpu_stall_s,omitempty"`
	// StartT is the agent time the worker was released (told to go) and
	// StopT the agent time it was told to stop: the span it was runnable
	// for (its own WallS starts when it first ran).
	StartT float64 `json:"start_t,omitempty"`
	StopT  float64 `json:"stop_t,omitempty"`
	// AllowedCPUs is the cpu list the worker could run on: its affinity,
	// else its cgroup's effective cpuset at launch.
	AllowedCPUs string `json:"allowed_cpus,omitempty"`
	Nice        int    `json:"nice,omitempty"`
	// Unreported is true when the worker did not report within the grace
	// after stop: the agent built the report from the worker's progress
	// slot and /proc, and killed it. StuckS is how long it had made no
	// progress when the scenario stopped (all of its wall time if it never
	// ran).
	Unreported bool    `json:"unreported,omitempty"`
	StuckS     float64 `json:"stuck_s,omitempty"`
	// CPUsUsed is the cpu list the worker was seen running on; of an
	// Unreported worker, the CPU the kernel says it last ran on.
	CPUsUsed   string `json:"cpus_used"`
	Migrations uint64 `json:"migrations"`
	// RunDelayS is schedstat time spent runnable but waiting.
	RunDelayS float64 `json:"run_delay_s"`
	// WakeLatencyUS is a reservoir sample (≤ 100 000) of wake latencies;
	// WakeSamples counts all of them.
	WakeLatencyUS []float64 `json:"wake_latency_us,omitempty"`
	WakeSamples   uint64    `json:"wake_samples"`
	// Cohort numbers the launch batch: workers of one cohort started
	// together, so fairness compares them with each other.
	Cohort int `json:"cohort,omitempty"`
	// Role is "messenger" for the waking worker of a fan-out group, whose
	// share differs from its receivers' by design.
	Role string `json:"role,omitempty"`
	// Affinity is the worker's affinity kind, if it had one.
	Affinity string `json:"affinity,omitempty"`
	// CPUBound is true for work types that never sleep: the worker was
	// runnable from start to stop.
	CPUBound bool   `json:"cpu_bound,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Thresholds are the limits scenario checks hold telemetry against. A nil
// field is "not set" at that layer: layers merge defaults → scheduler → job
// → command line, each set field overriding the layer before. A check whose
// limit is unset after merging is off.
type Thresholds struct {
	// NotStarved fails a worker that did no work, did not stop, or did
	// less than MinCohortWorkPct of the median work of its cohort (workers
	// of one launch with the same work type, policy, nice and affinity).
	NotStarved       *bool    `json:"not_starved,omitempty"`
	MinCohortWorkPct *float64 `json:"min_cohort_work_pct,omitempty"`
	MaxSpreadPct     *float64 `json:"max_spread_pct,omitempty"`
	// MinFairSharePct and MaxFairSharePct are fair share: in a cohort of
	// CPU-bound workers allowed the same CPUs, every worker's work per
	// second its vCPUs ran is between these shares of the cohort's median.
	MinFairSharePct *float64 `json:"min_fair_share_pct,omitempty"`
	MaxFairSharePct *float64 `json:"max_fair_share_pct,omitempty"`
	MaxGapMS        *float64 `json:"max_gap_ms,omitempty"`
	// MaxCgroupSpreadPct bounds how far apart the CPU shares of cgroups
	// with equal weight and equal demand may be: (max − min) / max × 100.
	MaxCgroupSpreadPct *float64 `json:"max_cgroup_spread_pct,omitempty"`
	// MinBusyPct is work conservation: while CPU-bound workers are
	// runnable, they keep at least this share of the CPUs they may use
	// (as many as they can occupy) busy.
	MinBusyPct *float64 `json:"min_busy_pct,omitempty"`
	// DispatchCPU, set for a central-dispatch scheduler (scx_central),
	// names the CPU that dispatches for all the others: they idle while
	// the host holds its vCPU, so MinBusyPct applies to what such a design
	// can reach, measured per step — the dispatching CPU fully, every
	// other CPU for the share of the step the dispatcher's vCPU ran.
	DispatchCPU *int `json:"dispatch_cpu,omitempty"`
	// Isolation checks that workers ran only inside their cpuset; on by
	// default whenever a cpuset is set.
	Isolation           *bool    `json:"isolation,omitempty"`
	MaxThroughputCV     *float64 `json:"max_throughput_cv,omitempty"`
	MinWorkRate         *float64 `json:"min_work_rate,omitempty"`
	MaxP99WakeLatencyUS *float64 `json:"max_p99_wake_latency_us,omitempty"`
	MaxWakeLatencyCV    *float64 `json:"max_wake_latency_cv,omitempty"`
	MaxMigrationRatio   *float64 `json:"max_migration_ratio,omitempty"`
	// Host-side monitor limits (Run.Monitor), each violation sustained for
	// MonitorSustainedSamples consecutive samples inside the scenario:
	// max(nr_running)/max(1, min(nr_running)) across CPUs, a CPU's local
	// DSQ depth, a CPU's rq->clock not advancing while its vCPU ran, and
	// CPUs idle while tasks wait on other CPUs or in a DSQ.
	MaxImbalanceRatio       *float64 `json:"max_imbalance_ratio,omitempty"`
	MaxLocalDSQDepth        *int     `json:"max_local_dsq_depth,omitempty"`
	FailOnRqClockStall      *bool    `json:"fail_on_rq_clock_stall,omitempty"`
	MonitorWorkConservation *bool    `json:"monitor_work_conserving,omitempty"`
	MonitorSustainedSamples *int     `json:"sustained_samples,omitempty"`
	// Payload are the payload checks (lib/judge/verdict/payload.go) by payload
	// name, merged metric by metric over the payload definition's and the
	// scenario's own. Not one of ThresholdNames: it is a map, merged and
	// shown apart; "payload": null (Off) drops every payload limit of the
	// layers before.
	Payload map[string]PayloadLimits `json:"payload,omitempty"`
	// Off names the limits (their JSON names) this layer switches off,
	// whatever an earlier layer set; a JSON null for a limit decodes into
	// this list (see UnmarshalJSON).
	Off []string `json:"off,omitempty"`
}

// HostSample is one host-side reading of every vCPU thread.
type HostSample struct {
	// T is seconds since QEMU started.
	T float64 `json:"t"`
	// WaitS and RunS are cumulative per vCPU (index = vCPU).
	WaitS []float64 `json:"wait_s"`
	RunS  []float64 `json:"run_s"`
}

// Delta compares one metric of one subject between two sets of records
// (A and B); Delta is B − A.
type Delta struct {
	Subject string  `json:"subject"`
	Metric  string  `json:"metric"`
	A       float64 `json:"a"`
	B       float64 `json:"b"`
	Delta   float64 `json:"delta"`
	// Missing is "a" or "b" when the subject appears on one side only.
	Missing string `json:"missing,omitempty"`
	// The fields below are ktstr-stats compare's: A and B are the sides'
	// means over NA and NB runs, Unit the metric's unit, Polarity which
	// way is better ("lower", "higher", or "info": never gated), Rel
	// |Delta/A|.
	Unit     string  `json:"unit,omitempty"`
	Polarity string  `json:"polarity,omitempty"`
	NA       int     `json:"n_a,omitempty"`
	NB       int     `json:"n_b,omitempty"`
	Rel      float64 `json:"rel,omitempty"`
	// AbsGate and RelGate are the dual gate: a change counts only when
	// |Delta| ≥ AbsGate and Rel ≥ RelGate.
	AbsGate float64 `json:"abs_gate,omitempty"`
	RelGate float64 `json:"rel_gate,omitempty"`
	// NetA and NetB are, for a timing metric with a noise model, the
	// sides' means of the noise-subtracted values (metrics.Sample.Net)
	// the verdict was reached on; Delta and Rel are then theirs too.
	NetA *float64 `json:"net_a,omitempty"`
	NetB *float64 `json:"net_b,omitempty"`
	// P is the one-sided exact Mann–Whitney U p-value of the change, when
	// both sides have enough runs; nil when the gate alone decided.
	P *float64 `json:"p,omitempty"`
	// Verdict is "regression", "improvement", "unchanged" or "noisy" (the
	// gate fired but the runs do not tell the sides apart), or "info" for
	// a metric that is never gated; Why says what decided it.
	Verdict string `json:"verdict,omitempty"`
	Why     string `json:"why,omitempty"`
	// KtstrVersionsA and KtstrVersionsB are the ktstr versions that made
	// each side's runs (Run.KtstrVersion; "unknown" for runs from before
	// it), set only when the sides' differ: a change may then come from
	// the harness rather than from what was compared.
	KtstrVersionsA []string `json:"ktstr_versions_a,omitempty"`
	KtstrVersionsB []string `json:"ktstr_versions_b,omitempty"`
}

func (*Delta) Kind() Kind { return KindDelta }

// Stats summarises one metric over the runs of one group (ktstr-stats
// summary): a group is one scenario × topology × scheduler × profile ×
// kernel.
type Stats struct {
	Scenario  string  `json:"scenario"`
	Topology  string  `json:"topology"`
	Scheduler string  `json:"scheduler"`
	Profile   string  `json:"profile"`
	Kernel    string  `json:"kernel"`
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit,omitempty"`
	N         int     `json:"n"`
	Mean      float64 `json:"mean"`
	Median    float64 `json:"median"`
	P95       float64 `json:"p95"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Stddev    float64 `json:"stddev"`
	// CV is Stddev / Mean (0 when the mean is 0).
	CV float64 `json:"cv"`
	// Outliers are the runs whose value lies more than 2σ from the mean.
	Outliers []string `json:"outliers,omitempty"`
}

func (*Stats) Kind() Kind { return KindStats }

// Monitor is what the host read of the guest's scheduler state from guest
// memory while the VM ran: no guest instrumentation, so it sees a wedged
// guest too.
type Monitor struct {
	// HZ is the sampling rate; Samples how many samples were taken and
	// ReadErrors how many failed (before the kernel was up, mostly).
	HZ         float64 `json:"hz"`
	Samples    int     `json:"samples"`
	ReadErrors int     `json:"read_errors,omitempty"`
	// FirstT is the host time (seconds since QEMU start) of the first
	// valid sample.
	FirstT float64 `json:"first_t,omitempty"`
	// Absent lists fields the kernel lacks, as "field: reason".
	Absent []string `json:"absent,omitempty"`
	// Error says why the monitor could not run at all.
	Error string `json:"error,omitempty"`
	// CostUS is the host CPU time (this process's thread) per sample,
	// mean and max, in microseconds.
	CostUSMean float64 `json:"cost_us_mean"`
	CostUSMax  float64 `json:"cost_us_max"`
	// PerCPU summarises each CPU over the run.
	PerCPU []MonitorCPU `json:"per_cpu,omitempty"`
	// Timeline holds every sample, or every Stride-th once the run had more
	// than the bound (Stride > 1); Windows keep full-rate samples around
	// each violation the runner saw with the job's thresholds; Last the
	// final samples of a run that did not complete.
	Timeline []MonitorSample `json:"timeline,omitempty"`
	Stride   int             `json:"stride,omitempty"`
	Windows  []MonitorWindow `json:"windows,omitempty"`
	Last     []MonitorSample `json:"last,omitempty"`
	// Watchdog is the sched_ext watchdog override, if requested.
	Watchdog *MonitorWatchdog `json:"watchdog,omitempty"`
}

// MonitorSample is one reading of every CPU. Pointer fields are absent
// when the kernel lacks them (see Monitor.Absent).
type MonitorSample struct {
	// T is seconds since QEMU start (host clock).
	T    float64            `json:"t"`
	CPUs []MonitorCPUSample `json:"cpus"`
	// SCXState is sched_ext's enable state ("enabled", "disabled", ...).
	SCXState string `json:"scx,omitempty"`
	// GlobalDSQ is each NUMA node's global DSQ depth.
	GlobalDSQ []uint32 `json:"gdsq,omitempty"`
}

// MonitorCPUSample is one CPU's runqueue in a sample.
type MonitorCPUSample struct {
	// Nr is rq->nr_running (all classes, the running task included).
	Nr uint32 `json:"nr"`
	// SCXNr is rq->scx.nr_running and DSQ rq->scx.local_dsq.nr.
	SCXNr *uint32 `json:"scx_nr,omitempty"`
	DSQ   *uint32 `json:"dsq,omitempty"`
	// Clock is rq->clock (ns).
	Clock uint64 `json:"clock"`
	// PID and Comm are rq->curr's (0 / "swapper/N" when idle).
	PID  int32  `json:"pid"`
	Comm string `json:"comm,omitempty"`
	// VCPURunS is the vCPU thread's cumulative host CPU time at the sample.
	VCPURunS float64 `json:"vcpu_s"`
	// VCPUWaitS is the vCPU thread's cumulative time runnable on the host
	// but not running (schedstat run delay): what tells a vCPU the host
	// kept waiting from one the guest halted, both of which barely run.
	VCPUWaitS float64 `json:"vcpu_wait_s,omitempty"`
}

// MonitorCPU summarises one CPU over the samples.
type MonitorCPU struct {
	CPU int `json:"cpu"`
	// MeanNr and MaxNr are nr_running's mean and max; IdlePct the share of
	// samples with nothing runnable; MaxDSQ the deepest local DSQ.
	MeanNr  float64 `json:"mean_nr"`
	MaxNr   uint32  `json:"max_nr"`
	IdlePct float64 `json:"idle_pct"`
	MaxDSQ  *uint32 `json:"max_dsq,omitempty"`
}

// MonitorWindow is the full-rate samples around one violation.
type MonitorWindow struct {
	// Check names the violated limit; AtT is when it began (host time).
	Check   string          `json:"check"`
	AtT     float64         `json:"at_t"`
	Detail  string          `json:"detail,omitempty"`
	Samples []MonitorSample `json:"samples"`
}

// MonitorWatchdog is the sched_ext watchdog override (--watchdog-timeout).
type MonitorWatchdog struct {
	// RequestedS is the timeout asked for; Jiffies what was written.
	RequestedS float64 `json:"requested_s"`
	Jiffies    uint64  `json:"jiffies"`
	// Writes counts writes (the kernel resets the value whenever a
	// scheduler attaches); FirstT is the host time of the first.
	Writes int     `json:"writes"`
	FirstT float64 `json:"first_t,omitempty"`
	// Error says why it could not be written.
	Error string `json:"error,omitempty"`
}

// Probes is the tracing a repro job asks of the guest: fentry (and fexit)
// on kernel functions and on the scheduler's BPF programs, events kept in a
// per-CPU ring of the last PerCPU events, flushed when Trigger fires.
type Probes struct {
	// Functions are kernel functions to trace, in chain order.
	Functions []string `json:"functions,omitempty"`
	// BPF are the scheduler's BPF program names to trace; empty traces
	// every struct_ops program the scheduler loads.
	BPF []string `json:"bpf,omitempty"`
	// Trigger is "sched_ext_exit" (the scheduler exits) or "panic".
	Trigger string `json:"trigger"`
	// PerCPU is how many events each CPU keeps (default 64).
	PerCPU int `json:"per_cpu,omitempty"`
}

// ReproOrigin is the failure a repro job reruns.
type ReproOrigin struct {
	RunID   string  `json:"run_id"`
	Subject string  `json:"subject,omitempty"`
	Outcome Outcome `json:"outcome"`
	// Class is "scheduler_died", "kernel_panic" or "check" (a failed
	// stall/starvation check, named in Checks).
	Class  string   `json:"class"`
	Reason string   `json:"reason,omitempty"`
	Checks []string `json:"checks,omitempty"`
}

// ProbeResult is what the guest's probes attached and recorded.
type ProbeResult struct {
	// Targets are the probes, attached or not (Error says why).
	Targets []ProbeTarget `json:"targets"`
	// Trigger is how the events were flushed: "sched_ext_exit", "panic"
	// (from the console's trace dump) or "end" (the run ended without it).
	Trigger string `json:"trigger,omitempty"`
	// Fired is the trigger event itself, when it fired.
	Fired  *ProbeEvent  `json:"fired,omitempty"`
	Events []ProbeEvent `json:"events,omitempty"`
	// Lost counts events overwritten in the per-CPU rings.
	Lost   uint64   `json:"lost,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// ProbeTarget is one probe: a kernel function or a BPF program.
type ProbeTarget struct {
	Name string `json:"name"`
	// Type is "kernel", "bpf" or "trigger"; Attach "fentry", "fexit" or
	// "fentry+fexit".
	Type   string `json:"type"`
	Attach string `json:"attach,omitempty"`
	// ProgID is the traced BPF program's id in the repro guest.
	ProgID uint32 `json:"prog_id,omitempty"`
	Events int    `json:"events,omitempty"`
	Error  string `json:"error,omitempty"`
	// Fields are the decoded fields of its events, "name:kind" in order
	// (the legend of the panic path's raw trace lines).
	Fields []string `json:"fields,omitempty"`
}

// ProbeEvent is one traced call, its arguments decoded through the
// kernel's BTF (task pid and comm, cpu, dsq id, enqueue flags, exit kind).
type ProbeEvent struct {
	// TNS is the guest's monotonic clock (ktime) in nanoseconds.
	TNS  uint64 `json:"t_ns"`
	CPU  int    `json:"cpu"`
	Func string `json:"func"`
	// Exit is true for a function's return (fexit).
	Exit bool   `json:"exit,omitempty"`
	PID  int    `json:"pid"`
	Comm string `json:"comm,omitempty"`
	// Args are the decoded arguments, "name=value" in order; Ret the
	// return value of an exit.
	Args []string `json:"args,omitempty"`
	Ret  string   `json:"ret,omitempty"`
}

// Repro is ktstr-repro's report on one rerun of a failed run.
type Repro struct {
	// RunID is the original (failed) run; ReproRunID the rerun.
	RunID      string `json:"run_id"`
	ReproRunID string `json:"repro_run_id,omitempty"`
	Subject    string `json:"subject,omitempty"`
	// Original is the original failure; Observed what the rerun did.
	Original ReproOrigin `json:"original"`
	Observed string      `json:"observed"`
	// Reproduced: the rerun failed the same way (class); ReasonMatched:
	// with the same reason (numbers aside).
	Reproduced    bool   `json:"reproduced"`
	ReasonMatched bool   `json:"reason_matched"`
	Detail        string `json:"detail,omitempty"`
	// TCGThreads is the rerun's TCG mode ("single": probes patch text).
	TCGThreads string `json:"tcg_threads,omitempty"`
	// Chain is the probes in chain order; Events the timeline (oldest
	// first), Fired the trigger.
	Chain   []ProbeTarget `json:"chain"`
	Trigger string        `json:"trigger,omitempty"`
	Fired   *ProbeEvent   `json:"fired,omitempty"`
	Events  []ProbeEvent  `json:"events,omitempty"`
}

func (*Repro) Kind() Kind { return KindRepro }
