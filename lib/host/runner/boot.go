package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/fileutil"
	"github.com/ktstr-go/ktstr/lib/base/version"
	"github.com/ktstr-go/ktstr/lib/host/initramfs"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/host/monitor"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/rootfs"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// consoleTailLines is how much of the console a non-completed run carries.
const consoleTailLines = 40

// Boot runs one resolved job (see plan.Planner.Complete) in a fresh VM and
// returns its run record. prepStart is when preparing the job began, for
// the record's prepare time. An error means the VM could not be started;
// everything that happened once it was is in the record.
func (r *Runner) Boot(ctx context.Context, res *plan.Resolved, prepStart time.Time) (*record.Run, error) {
	seq := r.seq.Add(1)
	runID := fmt.Sprintf("%s-%d-%d", prepStart.UTC().Format("20060102T150405"), os.Getpid(), seq)
	l, err := r.newLaunch(ctx, res)
	if err != nil {
		return nil, err
	}
	run, err := r.bootAs(ctx, l, runID, fmt.Sprintf("%d-%d", os.Getpid(), seq), prepStart)
	// QEMU itself aborting on an assertion before the guest's agent ran
	// is the emulator's fault (seen under TCG: msix_table_mmio_write, about
	// 1 boot in 150), not the kernel's or the scheduler's: boot once more,
	// and say so in the record.
	if err == nil && emulatorAbort(run) && ctx.Err() == nil {
		first := run.Reason
		seq := r.seq.Add(1)
		run, err = r.bootAs(ctx, l, runID+"-retry", fmt.Sprintf("%d-%d", os.Getpid(), seq), time.Now())
		if run != nil {
			run.Host.Retried = "QEMU aborted before the agent ran, booted again: " + first
		}
	}
	return run, err
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// emulatorAbort reports whether a run ended with QEMU failing an assertion
// before the guest's agent said anything.
func emulatorAbort(run *record.Run) bool {
	return run != nil && run.Outcome == record.OutcomeBootFailed && strings.Contains(run.Reason, "QEMU said:") && strings.Contains(run.Reason, "Assertion")
}

// bootAs starts l's job. vmName names the VM's QEMU process and /dev/shm
// files (ktstr-PID-SEQ-nodeN: the pid lets a later run sweep files of a
// ktstr-boot that was killed).
func (r *Runner) bootAs(ctx context.Context, l *launch, runID, vmName string, prepStart time.Time) (*record.Run, error) {
	run, err := r.startAs(ctx, l, runID, vmName, prepStart, true)
	var refused *refusedError
	if !errors.As(err, &refused) {
		return run, err
	}
	why := refused.why + refusedConsole(r.consoleLog(runID))
	if refused.removed {
		// Started once more (after the first start let go of its vCPUs
		// in the gate), creating the snapshot anew; if that one is
		// refused too, booted.
		run, err = r.startAs(ctx, l, runID+"-again", vmName+"a", time.Now(), true)
		if errors.As(err, &refused) {
			why += "; " + refused.why + refusedConsole(r.consoleLog(runID+"-again"))
			run, err = r.startAs(ctx, l, runID+"-booted", vmName+"b", time.Now(), false)
		}
	} else {
		// Not the snapshot's fault (or not known to be): this job boots,
		// and the snapshot stays for the others.
		run, err = r.startAs(ctx, l, runID+"-booted", vmName+"b", time.Now(), false)
	}
	if run != nil {
		run.Host.StartReason = strings.TrimSuffix(why+"; "+run.Host.StartReason, "; ")
	}
	if err != nil && run == nil {
		// --snapshot-only, or a boot that could not start: the reason the
		// restore was refused is part of the error.
		err = fmt.Errorf("%w (the restore: %s)", err, why)
	}
	return run, err
}

// consoleLog is where the run runID's console goes.
func (r *Runner) consoleLog(runID string) string {
	return filepath.Join(r.cfg.LogDir, runID+".console.log")
}

// refusedConsole disposes of the console log of a restore that was
// refused: an empty one is removed, one with output is named in the
// reason (the record that follows points to another run's log).
func refusedConsole(path string) string {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return ""
	case st.Size() == 0:
		os.Remove(path)
		return ""
	}
	return " (its console: " + path + ")"
}

// refusedError is a restore whose guest never answered, or that could not
// be started: the job should start again. removed says its snapshot was
// found to blame and removed (start again from a new one); else the job
// boots and the snapshot stays.
type refusedError struct {
	why     string
	removed bool
}

func (e *refusedError) Error() string { return e.why }

// newRun is the run record of l's job before it starts: the job as it
// runs, what ran it (this ktstr's version, the host, the accelerator) and
// its timeout.
func (r *Runner) newRun(runID string, l *launch) *record.Run {
	return &record.Run{ID: runID, KtstrVersion: version.String(), Job: l.job,
		Host: record.RunHost{Accel: l.accel, TCGThreads: l.tcgThreads, TCGThreadsReason: l.tcgReason,
			HostCPUs: r.hostCPUs, QEMUVersion: r.qemuVersion, MemoryMB: l.job.MemoryMB},
		Timings: record.Timings{TimeoutS: l.job.TimeoutS}}
}

func (r *Runner) monitorHZ() float64 {
	if r.cfg.MonitorHZ > 0 {
		return r.cfg.MonitorHZ
	}
	return monitor.DefaultHZ
}

// newMonitor prepares the host-side monitor of a VM, nil when it is off.
func (r *Runner) newMonitor(j *record.Job, m *vm.Machine) *monitor.Monitor {
	if r.cfg.NoMonitor {
		return nil
	}
	cfg := monitor.Config{ShmFiles: m.ShmFiles(), CPUs: j.Topology.CPUs, Nodes: j.Topology.NUMANodes,
		HZ: r.monitorHZ(), Watchdog: r.cfg.WatchdogTimeout}
	if j.Kernel != nil {
		cfg.Vmlinux = j.Kernel.Vmlinux
		if f, err := os.Open(j.Kernel.Config); err == nil {
			c, err := kernel.ParseConfig(f)
			f.Close()
			if err == nil {
				cfg.KernelHZ, _ = strconv.Atoi(c["CONFIG_HZ"])
			}
		}
	}
	return monitor.New(cfg)
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
		case proto.MsgProbe:
			r.Probe = m.Probe
		case proto.MsgBPFObject:
			r.BPFObjects = append(r.BPFObjects, *m.BPFObject)
		case proto.MsgError:
			r.GuestErrors = append(r.GuestErrors, m.Text)
		case proto.MsgIntake:
			// What a restored guest could not make its own (pids, clock,
			// random generator): part of how it started.
			r.Host.StartReason = strings.TrimPrefix(r.Host.StartReason+"; guest: "+m.Text, "; ")
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

func (r *Runner) chooseAccel(ctx context.Context, want string) (vm.AccelChoice, error) {
	if want != "" && want != "auto" {
		return vm.ChooseAccel(ctx, want, "", r.qemuVersion, nil)
	}
	r.accelOnce.Do(func() {
		// The KVM probe needs a booted guest; with no hardware
		// virtualisation (this machine) it is never reached.
		r.accel, r.accelErr = vm.ChooseAccel(ctx, "auto", filepath.Join(r.cacheRoot, "accel-probe.json"), r.qemuVersion, r.kvmProbe)
		if r.accelErr == nil {
			r.logf("accelerator: %s (%s)", r.accel.Accel, r.accel.Reason)
		}
	})
	return r.accel, r.accelErr
}

// kvmProbe boots the default kernel once under KVM and checks the agent
// finishes.
func (r *Runner) kvmProbe(ctx context.Context) error {
	k, err := r.plan.DefaultKernel(ctx)
	if err != nil {
		return err
	}
	spec := topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 1, ThreadsPerCore: 1}
	j := &record.Job{ID: "kvm-probe", Topology: spec.Record(20), Kernel: k, Accel: vm.AccelKVM, TimeoutS: 30, MemoryMB: topology.GuestMemoryMB(spec)}
	res, err := plan.Resolve(j)
	if err != nil {
		return err
	}
	l, err := r.newLaunch(ctx, res)
	if err != nil {
		return err
	}
	run, err := r.bootAs(ctx, l, fmt.Sprintf("kvm-probe-%d", os.Getpid()), fmt.Sprintf("%d-probe", os.Getpid()), time.Now())
	if err != nil {
		return err
	}
	os.Remove(run.ConsoleLog)
	if run.Outcome != record.OutcomeCompleted {
		return fmt.Errorf("probe guest: %s: %s", run.Outcome, run.Reason)
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
func (r *Runner) baseArchive(includes []string, c initramfs.Compression) (string, error) {
	key := string(c) + "\x00" + strings.Join(includes, "\x00")
	r.baseMu.Lock()
	defer r.baseMu.Unlock()
	if p, ok := r.bases[key]; ok {
		// Touched on use: the cache prunes by modification time, and
		// other ktstr processes (other agents) add archives to it while a
		// long batch runs; one pruned anyway is built again.
		now := time.Now()
		if os.Chtimes(p, now, now) == nil {
			return p, nil
		}
	}
	r.agentCheck.Do(func() { r.agentErr = staticAgent(r.agent) })
	if r.agentErr != nil {
		return "", r.agentErr
	}
	a, err := rootfs.BaseArchive(r.agent, includes)
	if err != nil {
		return "", err
	}
	p, _, err := a.Cached(filepath.Join(r.cacheRoot, "initramfs"), c)
	if err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	r.bases[key] = p
	return p, nil
}

// writeInitrd concatenates the base archive and the job suffix, the
// suffix 4-byte aligned as the kernel expects of each archive.
func writeInitrd(path, base string, j *record.Job) error {
	suffix, err := rootfs.JobSuffix(j)
	if err != nil {
		return err
	}
	if err := fileutil.Copy(base, path); err != nil {
		return err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	st, err := out.Stat()
	if err == nil {
		_, err = out.Write(append(make([]byte, (4-st.Size()%4)%4), suffix...))
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// seriesLimit bounds the vCPU samples a run record keeps. A scenario keeps
// them all: its checks judge host noise in any window of it. Any other run
// keeps the last minute (600 samples): enough to show what the host gave
// the vCPUs before a hang or a timeout, however long the run.
func seriesLimit(j *record.Job) int {
	if len(j.Scenario) > 0 {
		return 0
	}
	return 600
}

// loadFactor stretches a derived timeout on a host already busy with other
// work: the 1-minute load average per host CPU, between 1 and 4. A guest on
// a host running 13 times its CPUs' worth of threads boots several times
// slower, and a run killed for that says nothing about the scheduler.
func loadFactor(hostCPUs int) float64 {
	b, err := os.ReadFile(loadavgPath)
	if err != nil {
		return 1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 1
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 1
	}
	return min(4, max(1, load/float64(max(1, hostCPUs))))
}

// loadavgPath is where loadFactor reads the load (a test points it at a
// file of its own).
var loadavgPath = "/proc/loadavg"
