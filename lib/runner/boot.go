package runner

import (
	"context"
	"errors"
	"fmt"
	"github.com/ktstr-go/ktstr/lib/scenario"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/fileutil"
	"github.com/ktstr-go/ktstr/lib/check"
	"github.com/ktstr-go/ktstr/lib/host"
	"github.com/ktstr-go/ktstr/lib/initramfs"
	"github.com/ktstr-go/ktstr/lib/kernel"
	"github.com/ktstr-go/ktstr/lib/monitor"
	"github.com/ktstr-go/ktstr/lib/plan"
	"github.com/ktstr-go/ktstr/lib/proto"
	"github.com/ktstr-go/ktstr/lib/record"
	"github.com/ktstr-go/ktstr/lib/rootfs"
	"github.com/ktstr-go/ktstr/lib/topology"
	"github.com/ktstr-go/ktstr/lib/version"
	"github.com/ktstr-go/ktstr/lib/vm"
)

// consoleTailLines is how much of the console a non-completed run carries.
const consoleTailLines = 40

// Boot runs one complete job (see plan.Planner.Complete) in a fresh VM and
// returns its run record. prepStart is when preparing the job began, for
// the record's prepare time. An error means the VM could not be started;
// everything that happened once it was is in the record.
func (r *Runner) Boot(ctx context.Context, j *record.Job, prepStart time.Time) (*record.Run, error) {
	seq := r.seq.Add(1)
	runID := fmt.Sprintf("%s-%d-%d", prepStart.UTC().Format("20060102T150405"), os.Getpid(), seq)
	run, err := r.bootAs(ctx, j, runID, fmt.Sprintf("%d-%d", os.Getpid(), seq), prepStart)
	// QEMU itself aborting on an assertion before the guest's agent ran
	// is the emulator's fault (seen under TCG: msix_table_mmio_write, about
	// 1 boot in 150), not the kernel's or the scheduler's: boot once more,
	// and say so in the record.
	if err == nil && emulatorAbort(run) && ctx.Err() == nil {
		first := run.Reason
		seq := r.seq.Add(1)
		run, err = r.bootAs(ctx, j, runID+"-retry", fmt.Sprintf("%d-%d", os.Getpid(), seq), time.Now())
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

// bootAs boots j. vmName names the VM's QEMU process and /dev/shm files
// (ktstr-PID-SEQ-nodeN: the pid lets a later run sweep files of a
// ktstr-boot that was killed).
func (r *Runner) bootAs(ctx context.Context, j *record.Job, runID, vmName string, prepStart time.Time) (*record.Run, error) {
	run, err := r.startAs(ctx, j, runID, vmName, prepStart, true)
	var refused *refusedError
	if !errors.As(err, &refused) {
		return run, err
	}
	why := refused.why + refusedConsole(r.consoleLog(runID))
	if refused.removed {
		// Started once more (after the first start let go of its vCPUs
		// in the gate), creating the snapshot anew; if that one is
		// refused too, booted.
		run, err = r.startAs(ctx, j, runID+"-again", vmName+"a", time.Now(), true)
		if errors.As(err, &refused) {
			why += "; " + refused.why + refusedConsole(r.consoleLog(runID+"-again"))
			run, err = r.startAs(ctx, j, runID+"-booted", vmName+"b", time.Now(), false)
		}
	} else {
		// Not the snapshot's fault (or not known to be): this job boots,
		// and the snapshot stays for the others.
		run, err = r.startAs(ctx, j, runID+"-booted", vmName+"b", time.Now(), false)
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

// newRun is the run record of j before it starts: what ran it (this
// ktstr's version, the host) and where.
func (r *Runner) newRun(runID string, j *record.Job, accel string) *record.Run {
	return &record.Run{ID: runID, KtstrVersion: version.String(), Job: j,
		Host: record.RunHost{Accel: accel, HostCPUs: r.hostCPUs, QEMUVersion: r.qemuVersion, MemoryMB: j.MemoryMB}}
}

// startAs boots j, or restores its machine's snapshot when it can and
// snapshots is set. A snapshot the restored guest never answered from is
// removed and a *refusedError returned.
func (r *Runner) startAs(ctx context.Context, j *record.Job, runID, vmName string, prepStart time.Time, snapshots bool) (*record.Run, error) {
	accel, err := r.chooseAccel(ctx, j.Accel)
	if err != nil {
		return nil, &plan.InputError{Err: err}
	}
	run := r.newRun(runID, j, accel.Accel)
	if accel.Accel == vm.AccelTCG {
		// Probes patch kernel text: single-threaded TCG, whatever was
		// asked (multi-threaded TCG crashes such guests).
		probes := j.Probes != nil
		run.Host.TCGThreads, run.Host.TCGThreadsReason = vm.TCGThreads(j.Kernel, probes)
		if force := r.cfg.TCGThreads; force != "" && force != "auto" && force != run.Host.TCGThreads && !probes {
			run.Host.TCGThreads, run.Host.TCGThreadsReason = force, "forced by --tcg-threads (auto would choose "+run.Host.TCGThreads+": "+run.Host.TCGThreadsReason+")"
		}
	}
	cpus := j.Topology.CPUs
	if j.TimeoutS == 0 {
		j.TimeoutS = vm.DefaultTimeoutS(vm.BootEstimateS(accel.Accel, run.Host.TCGThreads, cpus, r.hostCPUs), j.DurationS+payloadWaitsS(j), cpus, r.hostCPUs) * loadFactor(r.hostCPUs)
	}
	run.Timings.TimeoutS = j.TimeoutS
	// The agent stops a scenario in which every worker is stuck for longer
	// than the gap limit; it is resolved here, where the limits live.
	if limits := check.Merge(j.Thresholds); j.StallAfterMS == 0 && limits.MaxGapMS != nil {
		j.StallAfterMS = *limits.MaxGapMS
	}

	base, err := r.baseArchive(j.Include, initrdCompression(r.cfg.InitrdCompression, accel.Accel, j.Kernel))
	if err != nil {
		return nil, err
	}
	tmp, err := makeTempDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	run.ConsoleLog = r.consoleLog(runID)
	image, method, err := kernel.BootImage(j.Kernel, r.cfg.Boot)
	if err != nil {
		return nil, &plan.InputError{Err: err}
	}
	run.Host.Boot, run.Host.Firmware = method, r.firmware
	m := &vm.Machine{
		Name: vmName, Topology: j.Topology, MemoryMB: j.MemoryMB,
		Kernel: image, Initrd: base, Firmware: r.firmwareImage, Cmdline: vm.KernelCmdline(j.Dmesg, j.KernelArgs),
		Accel: accel.Accel, TCGThreads: run.Host.TCGThreads, CPUVendor: host.CPUVendor(),
		ConsoleLog: run.ConsoleLog, Results: filepath.Join(tmp, "results.ndjson"),
		Shell: r.cfg.Terminal != nil,
	}
	opts := vm.RunOptions{QEMU: r.qemu, Timeout: time.Duration(j.TimeoutS * float64(time.Second)), Series: true, SeriesLimit: seriesLimit(j), Terminal: r.cfg.Terminal}
	if j.Dmesg {
		opts.ConsoleStream = r.cfg.Console
	}
	if len(j.Scenario) > 0 { // timing-checked: pack by vCPUs
		err := r.gate.acquire(ctx, cpus, func(used, limit int) {
			r.logf("%s: queued: %d vCPUs wait while %d of %d (host CPUs %d × overcommit %g) run", j.ID, cpus, used, limit, r.hostCPUs, r.cfg.Overcommit)
		})
		if err != nil {
			return nil, err
		}
		defer r.gate.release(cpus)
	}
	// Restore the machine's snapshot (making it on the first run, inside
	// the gate: it is a VM of the same size), else boot with the job in the
	// initramfs.
	run.Host.Start = startBooted
	releaseSnapshot := func() {}
	why := r.snapshotUnusable(j, run)
	if !snapshots {
		why = "booted after a failed restore"
	}
	if why == "" {
		rm := *m
		rm.Channel = filepath.Join(tmp, "channel.sock")
		rm.MemoryMB = snapshotMemoryMB(j.MemoryMB, j.Topology.NUMANodes)
		key, note, release, err := r.prepareRestore(ctx, j, &rm, &opts, tmp)
		switch {
		case err == nil:
			defer func() {
				if release != nil {
					release()
				}
			}()
			releaseSnapshot = func() { release(); release = nil }
			*m = rm
			run.Host.Start, run.Host.StartReason, run.Host.MemoryMB = startRestored+key, note, m.MemoryMB
		case ctx.Err() != nil:
			// Reported like a VM interrupted while it booted.
			run.Outcome, run.Reason = record.OutcomeInterrupted, "interrupted while the snapshot of its machine was being created"
			run.Timings.PrepareMS = float64(time.Since(prepStart).Microseconds()) / 1000
			return run, nil
		default:
			why = "no snapshot: " + err.Error()
			r.logf("%s: %s", j.ID, why)
		}
	}
	if m.Incoming == "" {
		if r.cfg.Snapshot == SnapshotOnly {
			if !snapshots {
				return nil, errors.New("--snapshot-only: the restore failed, and booting is not allowed")
			}
			return nil, fmt.Errorf("--snapshot-only: %s", why)
		}
		if r.cfg.Snapshot != SnapshotOff {
			run.Host.StartReason = why
		}
		m.Initrd = filepath.Join(tmp, "initrd")
		if err := writeInitrd(m.Initrd, base, j); err != nil {
			return nil, err
		}
	}
	if args, err := m.Args(); err == nil {
		run.Host.QEMUCommand = append([]string{r.qemu}, args...)
	}
	running := r.runningVCPUs.Add(int64(cpus))
	defer r.runningVCPUs.Add(-int64(cpus))
	run.Host.VCPUOvercommit = float64(running) / float64(r.hostCPUs)
	run.Timings.PrepareMS = float64(time.Since(prepStart).Microseconds()) / 1000

	mon := r.newMonitor(j, m)
	if mon != nil {
		defer mon.Close()
		opts.Period, opts.OnTick = time.Duration(float64(time.Second)/r.monitorHZ()), mon.Sample
	}
	res, err := vm.Run(ctx, m, opts)
	key := strings.TrimPrefix(run.Host.Start, startRestored)
	if err != nil && m.Incoming != "" && ctx.Err() == nil {
		// Preparing the restore failed (a RAM file gone, /dev/shm full):
		// this job boots; the snapshot is not known to be bad.
		why := fmt.Sprintf("restoring snapshot %s failed: %v", key, err)
		r.logf("%s: %s; booting", j.ID, why)
		return nil, &refusedError{why: why}
	}
	if err != nil {
		return nil, err
	}
	if m.Incoming != "" && restoreRefused(res) && ctx.Err() == nil {
		releaseSnapshot()
		if snapshotToBlame(res) {
			// Never used again: the next start creates it anew (unless
			// another run holds it: it stays until that one is done).
			why := fmt.Sprintf("snapshot %s refused: %s", key, res.IncomingFailed)
			removed := r.snapshots.Remove(key)
			if removed {
				r.logf("%s: %s; removed", j.ID, why)
			} else {
				r.logf("%s: %s; in use by another run, kept", j.ID, why)
			}
			return nil, &refusedError{why: why, removed: removed}
		}
		why := fmt.Sprintf("the guest restored from snapshot %s never answered, its migration did not fail", key)
		if out := res.QEMUOutput; out != "" {
			why += " (QEMU said: " + lastLine(out) + ")"
		}
		r.logf("%s: %s; booting, the snapshot is kept", j.ID, why)
		return nil, &refusedError{why: why}
	}
	fillRun(run, res)
	if mon != nil {
		run.Monitor = mon.Record(run.Outcome == record.OutcomeCompleted)
		run.Monitor.Windows = check.MonitorWindows(run, mon.Samples(), check.Merge(j.Thresholds))
	}
	return run, nil
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
	run, err := r.bootAs(ctx, j, fmt.Sprintf("kvm-probe-%d", os.Getpid()), fmt.Sprintf("%d-probe", os.Getpid()), time.Now())
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

// payloadWaitsS is how long the job's scenario may wait for its payloads
// beyond its duration (0 without a scenario): a hung payload must be
// killed and reported by the agent before the VM's timeout.
func payloadWaitsS(j *record.Job) float64 {
	if len(j.Scenario) == 0 {
		return 0
	}
	sc, err := scenario.Parse(j.Scenario)
	if err != nil {
		return 0
	}
	return sc.PayloadWaits().Seconds()
}
