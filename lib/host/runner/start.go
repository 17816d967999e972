package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// startAs starts l's job once, in phases: the machine (base initramfs,
// kernel image, QEMU options), the vCPU gate for timing-checked VMs, a
// restore of the machine's snapshot or a boot (restoreOrBoot), and the VM
// itself (runVM). A restore is tried only when snapshots is set; one the
// guest never answered from is a *refusedError.
func (r *Runner) startAs(ctx context.Context, l *launch, runID, vmName string, prepStart time.Time, snapshots bool) (*record.Run, error) {
	run := r.newRun(runID, l)
	base, err := r.baseArchive(l.job.Include, initrdCompression(r.cfg.InitrdCompression, l.accel, l.job.Kernel))
	if err != nil {
		return nil, err
	}
	tmp, err := makeTempDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m, opts, err := r.machine(l, run, vmName, base, tmp)
	if err != nil {
		return nil, err
	}
	if len(l.job.Scenario) > 0 { // timing-checked: pack by vCPUs
		release, err := r.enterGate(ctx, l.job)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	hold, interrupted, err := r.restoreOrBoot(ctx, l.job, run, m, &opts, base, tmp, snapshots)
	defer hold.release()
	switch {
	case err != nil:
		return nil, err
	case interrupted:
		// Reported like a VM interrupted while it booted.
		run.Outcome, run.Reason = record.OutcomeInterrupted, "interrupted while the snapshot of its machine was being created"
		run.Timings.PrepareMS = msSince(prepStart)
		return run, nil
	}
	return r.runVM(ctx, l, run, m, opts, hold, prepStart)
}

// msSince is the milliseconds since t, to the microsecond.
func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// machine is the VM of l's job as it boots (its initramfs the base
// archive, for now) and how to run it; run gets the console log, the boot
// method and the firmware.
func (r *Runner) machine(l *launch, run *record.Run, vmName, base, tmp string) (*vm.Machine, vm.RunOptions, error) {
	j := l.job
	run.ConsoleLog = r.consoleLog(run.ID)
	image, method, err := kernel.BootImage(j.Kernel, r.cfg.Boot)
	if err != nil {
		return nil, vm.RunOptions{}, cli.Usage(err)
	}
	run.Host.Boot, run.Host.Firmware = method, r.firmware
	m := &vm.Machine{
		Name: vmName, Topology: j.Topology, MemoryMB: j.MemoryMB,
		Kernel: image, Initrd: base, Firmware: r.firmwareImage, Cmdline: vm.KernelCmdline(j.Dmesg, j.KernelArgs),
		Accel: l.accel, TCGThreads: l.tcgThreads, CPUVendor: machine.CPUVendor(),
		ConsoleLog: run.ConsoleLog, Results: filepath.Join(tmp, "results.ndjson"),
		Shell: r.cfg.Terminal != nil,
	}
	opts := vm.RunOptions{QEMU: r.qemu, Timeout: time.Duration(j.TimeoutS * float64(time.Second)), Series: true, SeriesLimit: seriesLimit(j), Terminal: r.cfg.Terminal}
	if j.Dmesg {
		opts.ConsoleStream = r.cfg.Console
	}
	return m, opts, nil
}

// enterGate waits until j's vCPUs fit beside the timing-checked VMs
// running (see vcpuGate), saying so when it queues, and returns what lets
// them go.
func (r *Runner) enterGate(ctx context.Context, j *record.Job) (release func(), err error) {
	cpus := j.Topology.CPUs
	err = r.gate.acquire(ctx, cpus, func(used, limit int) {
		r.logf("%s: queued: %d vCPUs wait while %d of %d (host CPUs %d × overcommit %g) run", j.ID, cpus, used, limit, r.hostCPUs, r.cfg.Overcommit)
	})
	if err != nil {
		return nil, err
	}
	return func() { r.gate.release(cpus) }, nil
}

// snapshotHold is a restored run's hold on its snapshot
// (snapshot.Cache.Acquire), let go of once: early when the restore was
// refused (so that the snapshot can be removed), else after the run. A
// booted run's is nil and holds nothing.
type snapshotHold struct{ free func() }

func (h *snapshotHold) release() {
	if h != nil && h.free != nil {
		h.free()
		h.free = nil
	}
}

// restoreOrBoot makes m start j: restored from its machine's snapshot when
// it can (the snapshot made on the first run, inside the gate: it is a VM
// of the same size), else booted with j in its initramfs; run says which
// and why. interrupted: ctx ended while the snapshot was being made.
func (r *Runner) restoreOrBoot(ctx context.Context, j *record.Job, run *record.Run, m *vm.Machine, opts *vm.RunOptions, base, tmp string, snapshots bool) (hold *snapshotHold, interrupted bool, err error) {
	run.Host.Start = startBooted
	why := r.snapshotUnusable(j, run)
	if !snapshots {
		why = "booted after a failed restore"
	}
	if why == "" {
		rm := *m
		rm.Channel = filepath.Join(tmp, "channel.sock")
		rm.MemoryMB = snapshotMemoryMB(j.MemoryMB, j.Topology.NUMANodes)
		key, note, release, err := r.prepareRestore(ctx, j, &rm, opts, tmp)
		switch {
		case err == nil:
			*m = rm
			run.Host.Start, run.Host.StartReason, run.Host.MemoryMB = startRestored+key, note, m.MemoryMB
			return &snapshotHold{free: release}, false, nil
		case ctx.Err() != nil:
			return nil, true, nil
		}
		why = "no snapshot: " + err.Error()
		r.logf("%s: %s", j.ID, why)
	}
	if r.cfg.Snapshot == SnapshotOnly {
		if !snapshots {
			return nil, false, errors.New("--snapshot-only: the restore failed, and booting is not allowed")
		}
		return nil, false, fmt.Errorf("--snapshot-only: %s", why)
	}
	if r.cfg.Snapshot != SnapshotOff {
		run.Host.StartReason = why
	}
	m.Initrd = filepath.Join(tmp, "initrd")
	return nil, false, writeInitrd(m.Initrd, base, j)
}

// runVM runs the machine m with the host-side monitor and fills run with
// what the VM reported. A restored guest that never answered is a
// *refusedError (restoreRefusal).
func (r *Runner) runVM(ctx context.Context, l *launch, run *record.Run, m *vm.Machine, opts vm.RunOptions, hold *snapshotHold, prepStart time.Time) (*record.Run, error) {
	if args, err := m.Args(); err == nil {
		run.Host.QEMUCommand = append([]string{r.qemu}, args...)
	}
	cpus := l.job.Topology.CPUs
	running := r.runningVCPUs.Add(int64(cpus))
	defer r.runningVCPUs.Add(-int64(cpus))
	run.Host.VCPUOvercommit = float64(running) / float64(r.hostCPUs)
	run.Timings.PrepareMS = msSince(prepStart)

	mon := r.newMonitor(l.job, m)
	if mon != nil {
		defer mon.Close()
		opts.Period, opts.OnTick = time.Duration(float64(time.Second)/r.monitorHZ()), mon.Sample
	}
	res, err := vm.Run(ctx, m, opts)
	if m.Incoming != "" && ctx.Err() == nil {
		if refused := r.restoreRefusal(l.job.ID, strings.TrimPrefix(run.Host.Start, startRestored), res, err, hold); refused != nil {
			return nil, refused
		}
	}
	if err != nil {
		return nil, err
	}
	fillRun(run, res)
	if mon != nil {
		run.Monitor = mon.Record(run.Outcome == record.OutcomeCompleted)
		run.Monitor.Windows = verdict.MonitorWindows(run, mon.Samples(), l.res.Limits)
	}
	return run, nil
}

// restoreRefusal says why the restore of snapshot key never reached the
// guest's agent, nil when it did. Preparing it failed (runErr: a RAM file
// gone, /dev/shm full): the job boots, the snapshot is not known to be
// bad. QEMU refused the snapshot: it is removed (kept while another run
// holds it) and the job starts again from a new one. The guest never
// answered though the migration did not fail: the job boots and the
// snapshot stays.
func (r *Runner) restoreRefusal(jobID, key string, res *vm.Result, runErr error, hold *snapshotHold) *refusedError {
	if runErr != nil {
		why := fmt.Sprintf("restoring snapshot %s failed: %v", key, runErr)
		r.logf("%s: %s; booting", jobID, why)
		return &refusedError{why: why}
	}
	if !restoreRefused(res) {
		return nil
	}
	hold.release()
	if snapshotToBlame(res) {
		// Never used again: the next start creates it anew (unless
		// another run holds it: it stays until that one is done).
		why := fmt.Sprintf("snapshot %s refused: %s", key, res.IncomingFailed)
		removed := r.snapshots.Remove(key)
		if removed {
			r.logf("%s: %s; removed", jobID, why)
		} else {
			r.logf("%s: %s; in use by another run, kept", jobID, why)
		}
		return &refusedError{why: why, removed: removed}
	}
	why := fmt.Sprintf("the guest restored from snapshot %s never answered, its migration did not fail", key)
	if out := res.QEMUOutput; out != "" {
		why += " (QEMU said: " + lastLine(out) + ")"
	}
	r.logf("%s: %s; booting, the snapshot is kept", jobID, why)
	return &refusedError{why: why}
}
