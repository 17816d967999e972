//go:generate go run ../../internal/cli/gendoc

package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/runner"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/sched"
)

const name = "ktstr-boot"

// help is the tool's text: --help's description and, via go generate, the
// package documentation (doc.go).
//
//go:embed help.txt
var help string

type options struct {
	Kernel     []string       `help:"Kernel: a version (6.12), a tree, a tarball, a bzImage, or a cache entry's key or label (default: newest cached sched_ext kernel). Repeatable (or comma-separated): every job runs on each kernel, its id ending in @ and the kernel's label. Kernel records on stdin (ktstr-kernel's) add kernels the same way."`
	Topology   string         `help:"Boot one VM with this topology (N,L,C,T) instead of reading stdin."`
	Exec       string         `help:"Shell command to run in the guest; its output and exit code land in the run record."`
	Include    []string       `short:"i" help:"File, directory or binary (with its libraries) to copy to /include in the guest. Repeatable."`
	Dmesg      bool           `help:"Verbose kernel console, streamed to stderr."`
	Timeout    units.Duration `help:"Time before a VM is killed: 30s, 5m, 1h (a bare number is seconds; default: boot estimate + duration + 30 s margin)."`
	Accel      string         `default:"auto" enum:"auto,kvm,tcg" help:"auto = KVM if the CPU has vmx/svm and a boot probe works, else TCG."`
	TCGThreads string         `name:"tcg-threads" default:"auto" enum:"auto,multi,single,icount" help:"TCG threading: auto = multi for kernels that do not patch their own code at run time, single otherwise. Forcing multi on a patching kernel is for demonstrating why. icount = single-threaded with the guest clock counting instructions, not host time (an experiment)."`
	Boot       string         `name:"boot" default:"auto" enum:"auto,pvh,bzimage" help:"How to enter the kernel: auto = the vmlinux through PVH when the kernel has a PVH entry (faster under TCG), else the bzImage."`
	Firmware   string         `name:"firmware" default:"auto" enum:"auto,qboot,seabios" help:"Guest firmware: auto = QEMU's qboot when installed (reaches the kernel ~0.1 s sooner under TCG), else seabios (QEMU's default). The run record says which (host.firmware)."`
	Jobs       int            `short:"j" help:"VMs to run at once at most (default: host CPUs / 2, at least 1)."`
	Overcommit float64        `default:"1.0" help:"vCPUs per host CPU that VMs running a scenario may use together; the rest queue, a VM larger than the host runs alone. The run record's host.vcpu_overcommit says what each VM got."`
	MemoryMB   units.MiB      `name:"memory" help:"Guest memory: 1G, 1536M, 2GiB (binary multiples; a bare number is MiB; default: max(512, 64/CPU) + 256 MiB)."`
	KernelArgs []string       `name:"kernel-arg" help:"Extra kernel command-line argument. Repeatable."`
	LogDir     string         `name:"log-dir" help:"Where console logs are kept (default: <ktstr cache>/logs)." type:"path"`

	InitrdCompression string `name:"initramfs-compression" default:"auto" enum:"auto,zstd,gzip,none" help:"Base initramfs compression. auto: none under TCG (emulated zstd decompression is slow), zstd under KVM (gzip if the kernel lacks RD_ZSTD)."`

	NoSnapshot   bool `name:"no-snapshot" help:"Boot every VM. By default a job restores a snapshot of its machine taken when the agent was ready and waiting for a job (created by the first run of that machine, under TCG; about 0.2 s instead of a boot) and the run record says start: restored KEY; jobs that cannot (probes, --shell, KVM, icount) boot and say why."`
	SnapshotOnly bool `name:"snapshot-only" help:"Every VM must start from a snapshot (created if missing): a job that cannot is an error record, never booted."`

	Scenario      string         `help:"Scenario(s) to run in the guest: catalog names or JSON files, comma-separated, or all; each topology becomes one VM per scenario."`
	Duration      units.Duration `default:"3" help:"Scenario duration: 5s, 1m30s (a bare number is seconds)."`
	Workers       int            `default:"2" help:"Workers per cgroup when the scenario does not say."`
	ListScenarios bool           `name:"list-scenarios" help:"Print the scenario catalog and exit."`

	ListWorkTypes  bool `name:"list-work-types" help:"Print the work types a scenario's work groups use, with their parameters and defaults, and exit."`
	ListSchedulers bool `name:"list-schedulers" help:"Print the built-in schedulers with their flags and profiles, and exit."`
	JSON           bool `name:"json" help:"Records on stdout even when it is a terminal (there, by default, one line per run goes to stdout and the records to a file under <ktstr cache>/runs)."`
	Force          bool `help:"Boot topologies of more than 8 vCPUs per host CPU (refused otherwise: under TCG they take many minutes and judge little)."`

	Scheduler     string   `help:"sched_ext scheduler: a built-in (scx_simple, scx_qmap, scx_central, scx_flatcg: from the kernel's cache entry), a definition file (JSON) or a binary. Default: EEVDF."`
	SchedulerArgs string   `name:"scheduler-args" dashvalue:"" help:"Extra scheduler arguments, split as a shell would (quotes kept together): --scheduler-args \"-e 100\" (scx_qmap's fault knobs)."`
	Flags         string   `help:"Scheduler flags to enable, comma-separated (a flag profile)."`
	AllProfiles   bool     `name:"all-profiles" help:"One VM per valid flag profile of the scheduler."`
	BPFObject     []string `name:"bpf-object" help:"BPF object file to load in the guest for verification only (per-program verifier statistics, or the log of the rejection). Repeatable." type:"existingfile"`
	Job           string   `default:"default" enum:"default,verifier" help:"verifier: only load the scheduler, list its BPF programs and their verifier cost, and unload it (no scenario or command)."`

	MonitorHZ       float64        `name:"monitor-hz" default:"10" help:"Host-side monitor sampling rate: each CPU's runqueue read from guest memory, paired with the vCPU threads' host CPU time."`
	NoMonitor       bool           `name:"no-monitor" help:"Do not read the guest's runqueues from its memory."`
	WatchdogTimeout units.Duration `name:"watchdog-timeout" help:"Write this sched_ext watchdog timeout (e.g. 3s; a bare number is seconds) into the guest's memory whenever a scheduler runs with another, so a stall ends the run in seconds (recorded in the run's monitor section)."`

	stageOptions `embed:""`

	Shell              bool   `help:"Boot --topology and give this terminal an interactive shell in the guest (busybox and the --include files; the scheduler attached if given). exit powers the guest off; Ctrl-A X kills a hung guest. The run record still goes to stdout."`
	BareMetal          bool   `name:"bare-metal" help:"Run the scenario on this host instead of a VM, on its topology (ktstr-topo --host), in a cgroup under --cgroup-parent; accel none in the run record. Needs root and cgroup v2."`
	CgroupParent       string `name:"cgroup-parent" help:"Bare metal: the cgroup (path under the cgroup2 mount, or absolute) to run under (default: <mount>/ktstr-baremetal-PID, created and removed)."`
	CPUs               string `name:"cpus" help:"Bare metal: host CPUs the scenario may use (a cpu list, e.g. 0-3); its topology is the host's restricted to them."`
	AllowHostScheduler bool   `name:"allow-host-scheduler" help:"Bare metal: allow --scheduler to attach to this host's kernel (it then schedules every task here)."`
}

// CompletionWords gives shell completion the scenario catalog and the
// built-in schedulers (cli.Completer).
func (*options) CompletionWords() map[string][]string {
	scenarios := []string{"all"}
	for _, sc := range scenario.Catalog() {
		scenarios = append(scenarios, sc.Name)
	}
	return map[string][]string{
		"scenario":  append(scenarios, cli.FileWords),
		"scheduler": append(sched.BuiltinNames(), cli.FileWords),
		"kernel":    {"6.12", cli.Values("kernel"), cli.FileWords},
	}
}

// CompletionValues gives shell completion, at Tab time, the labels of the
// kernel cache's usable entries (cli.ValueLister).
func (*options) CompletionValues(kind string) ([]string, error) {
	if kind == "kernel" {
		return kernel.CachedLabels()
	}
	return nil, fmt.Errorf("no values of %q", kind)
}

func main() {
	roles.Dispatch() // returns only in the tool's own process
	cli.Main(run)
}

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o options
	if _, code, done := cli.Parse(name, help, &o, args, stdout, stderr); done {
		return code
	}
	if o.ListScenarios {
		if err := scenario.WriteList(stdout, ""); err != nil {
			return cli.Report(stderr, name, err)
		}
		return cli.ExitOK
	}
	if o.ListWorkTypes || o.ListSchedulers {
		return listAndExit(&o, stdout, stderr)
	}
	if o.Select {
		return runSelect(&o, stdin, stdout, stderr)
	}
	var terminal *os.File
	if o.Shell {
		var err error
		if terminal, err = shellTerminal(&o); err != nil {
			return report(stderr, err)
		}
		defer terminal.Close()
	}
	if len(o.Kernel) > 1 && (o.Shell || o.BareMetal) {
		return report(stderr, cli.Usagef("--shell and --bare-metal take one kernel"))
	}
	planner, err := plan.New(plan.Flags{
		Exec: o.Exec, Include: o.Include, BPFObjects: o.BPFObject, Accel: o.Accel, MemoryMB: int(o.MemoryMB),
		TimeoutS: o.Timeout.Seconds(), KernelArgs: o.KernelArgs, Dmesg: o.Dmesg,
		Scenario: o.Scenario, DurationS: o.Duration.Seconds(), Workers: o.Workers,
		Scheduler: o.Scheduler, SchedulerArgs: o.SchedulerArgs, SchedulerFlags: o.Flags, AllProfiles: o.AllProfiles,
		Job: o.Job, Force: o.Force, Warn: warner(stderr), KernelSpecs: o.Kernel,
	}, plan.CachedKernel(""))
	if err != nil {
		return report(stderr, err)
	}
	if o.Plan {
		return runPlan(ctx, &o, planner, stdin, stdout, stderr)
	}
	if o.BareMetal {
		return runBareMetal(ctx, &o, planner, stdout, stderr)
	}
	var single *record.Job
	if o.Topology != "" {
		if single, err = plan.FromSpec(o.Topology); err != nil {
			return report(stderr, err)
		}
	}
	if o.NoSnapshot && o.SnapshotOnly {
		return report(stderr, cli.Usagef("--no-snapshot and --snapshot-only exclude each other"))
	}
	if o.Overcommit <= 0 {
		return report(stderr, cli.Usagef("--overcommit must be > 0"))
	}
	if o.MonitorHZ <= 0 || o.MonitorHZ > 100 || o.WatchdogTimeout < 0 || (o.NoMonitor && o.WatchdogTimeout > 0) {
		return report(stderr, cli.Usagef("--monitor-hz must be in (0, 100], --watchdog-timeout ≥ 0 and needs the monitor"))
	}
	stages, err := runnerStages(&o, stderr)
	if err != nil {
		return report(stderr, err)
	}
	sk, err := newSink(stdout, stderr, o.JSON)
	if err != nil {
		return report(stderr, err)
	}
	defer sk.Close()
	out := record.NewWriter(sk)
	r, err := runner.New(runner.Config{Source: name, Jobs: o.Jobs, Overcommit: o.Overcommit, TCGThreads: o.TCGThreads, Boot: o.Boot, Firmware: o.Firmware, Snapshot: snapshotMode(o.NoSnapshot, o.SnapshotOnly),
		InitrdCompression: o.InitrdCompression, LogDir: o.LogDir, Log: &logFilter{stderr, sk},
		Keep: stages.Keep, Progress: stages.Progress && terminal == nil, Estimate: stages.Estimate,
		NoMonitor: o.NoMonitor, MonitorHZ: o.MonitorHZ, WatchdogTimeout: o.WatchdogTimeout.Std(), Terminal: terminal}, planner, out)
	if err != nil {
		return report(stderr, err)
	}
	var sum runner.Summary
	if single != nil {
		sum = r.Run(ctx, []*record.Job{single})
	} else {
		if cli.StdinIsTerminal(stdin) {
			io.WriteString(stderr, stdinHint)
		}
		sum, err = r.Stream(ctx, stdin)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted: QEMU processes killed, temporary files removed\n", name)
		return cli.ExitInterrupted
	case err != nil:
		return cli.Report(stderr, name, err)
	case sum.BadInput:
		return cli.ExitUsage
	case sum.Failed:
		return cli.ExitFail
	}
	return cli.ExitOK
}

// report prints err in one line with its exit status: a usage error's
// (cli.ErrUsage), which to ktstr-boot a kernel not built yet is too
// (plan.IsInputError).
func report(stderr io.Writer, err error) int {
	if plan.IsInputError(err) {
		err = cli.Usage(err)
	}
	return cli.Report(stderr, name, err)
}

// snapshotMode is the runner's snapshot mode for the flags.
func snapshotMode(off, only bool) string {
	switch {
	case off:
		return runner.SnapshotOff
	case only:
		return runner.SnapshotOnly
	}
	return runner.SnapshotAuto
}
