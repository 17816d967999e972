package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ktstr-go/ktstr/lib/host/snapshot"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// Snapshot modes (Config.Snapshot).
const (
	// SnapshotAuto restores a snapshot of the job's machine, booted to its
	// agent's wait for a job, creating it on the first run; a job that
	// cannot use one boots, and its record says why.
	SnapshotAuto = "auto"
	// SnapshotOff boots every job.
	SnapshotOff = "off"
	// SnapshotOnly restores every job from a snapshot (creating it if
	// missing); a job that cannot use one fails instead of booting.
	SnapshotOnly = "only"
)

// Start values of a run record.
const (
	startBooted   = "booted"
	startRestored = "restored "
)

// restoreAgentTimeoutS bounds the wait for a restored guest's first
// message on an idle host, scaled like every other timeout by loadFactor:
// a restore reaches the agent in well under a second (0.2 s measured
// under TCG); one that does not speak by then did not resume.
const restoreAgentTimeoutS = 60

// restoreAgentTimeout is restoreAgentTimeoutS on this host.
func (r *Runner) restoreAgentTimeout() time.Duration {
	return time.Duration(restoreAgentTimeoutS * loadFactor(r.hostCPUs) * float64(time.Second))
}

// snapshotStream is the migration stream's name in a snapshot; the guest
// RAM files beside it are named by snapshotRAM.
const snapshotStream = "vmstate"

// snapshotRAM are the guest-RAM files of m's snapshot in dir, one per
// NUMA node.
func snapshotRAM(dir string, m *vm.Machine) []string {
	out := make([]string, len(m.ShmFiles()))
	for i := range out {
		out[i] = filepath.Join(dir, fmt.Sprintf("node%d.ram", i))
	}
	return out
}

// snapshotMemoryStep is the granularity of a restored guest's memory.
const snapshotMemoryStep = 512

// snapshotMemoryMB is the memory of a job's machine when it runs from a
// snapshot: the job's, rounded up to a multiple of snapshotMemoryStep MiB
// (and of the NUMA node count). The planner sizes memory by the scenario's
// worker count, so without rounding every scenario of a topology would be
// a machine of its own, each with a snapshot made for one run; rounded, a
// topology's scenarios share one or two. The guest gets at least what the
// job asked; the run record's host.memory_mb says what it had.
func snapshotMemoryMB(jobMB, nodes int) int {
	mb := (jobMB + snapshotMemoryStep - 1) / snapshotMemoryStep * snapshotMemoryStep
	if nodes > 1 {
		mb += (nodes - mb%nodes) % nodes
	}
	return mb
}

// snapshotUnusable says why j cannot run from a snapshot ("" if it can).
func (r *Runner) snapshotUnusable(j *record.Job, run *record.Run) string {
	switch {
	case r.cfg.Snapshot == SnapshotOff:
		return "snapshots off (--no-snapshot)"
	case r.cfg.Terminal != nil:
		return "an interactive shell (--shell) boots"
	case j.Probes != nil:
		// They patch kernel text under single-threaded TCG; a snapshot of
		// that machine would serve only repro runs, few and one-off.
		return "probe jobs (ktstr-repro) boot"
	case run.Host.Accel != vm.AccelTCG:
		return "snapshots are used under TCG only (where boots are slow; not tested under KVM)"
	case run.Host.TCGThreads != vm.TCGMulti && run.Host.TCGThreads != vm.TCGSingle:
		return "snapshots are not used under " + run.Host.TCGThreads + " TCG"
	}
	return ""
}

// snapshotInputs are what a snapshot of m depends on.
func (r *Runner) snapshotInputs(m *vm.Machine) (snapshot.Inputs, error) {
	var in snapshot.Inputs
	args, err := m.SnapshotArgs()
	if err != nil {
		return in, err
	}
	in.QEMU, in.Args = r.qemuVersion, args
	if in.QEMUBinary, err = snapshot.IdentifyFile(r.qemu); err != nil {
		return in, err
	}
	if in.Kernel, err = snapshot.IdentifyFile(m.Kernel); err != nil {
		return in, err
	}
	if in.Initrd, err = snapshot.IdentifyFile(m.Initrd); err != nil {
		return in, err
	}
	// The base initramfs is named by its content key and touched on use
	// (see baseArchive): its name and size identify it, its time does not.
	in.Initrd.ModNS = 0
	r.agentHashOnce.Do(func() {
		r.agentHash, r.agentHashErr = snapshot.HashFileMemo(r.agent, filepath.Join(r.snapshots.Dir, ".hashes"))
	})
	in.Agent = r.agentHash
	return in, r.agentHashErr
}

// prepareRestore makes m a restore of its snapshot (created on a miss or
// when the one cached is corrupt) and opts hand j to the restored agent.
// m must be the job's machine with the base initramfs (no job in it) and
// a result channel socket; on error it may be half changed, so callers
// pass a copy. note is for the record's start_reason. The snapshot is held
// (snapshot.Cache.Acquire) until release is called, after the run: no
// prune or removal deletes its files while they are copied and read.
func (r *Runner) prepareRestore(ctx context.Context, j *record.Job, m *vm.Machine, opts *vm.RunOptions, tmp string) (key, note string, release func(), err error) {
	m.SharedRAMSnapshot = true
	in, err := r.snapshotInputs(m)
	if err != nil {
		return "", "", nil, err
	}
	key = snapshot.Key(in)
	if why, failed := r.snapshotFailed.Load(key); failed {
		return "", "", nil, fmt.Errorf("%s (this process tried before)", why)
	}
	dir, _, release, err := r.snapshots.Acquire(ctx, key)
	if err != nil && ctx.Err() != nil {
		return "", "", nil, err
	}
	if err != nil {
		var ce *snapshot.CorruptError
		if errors.As(err, &ce) {
			note = err.Error() + ": created anew" // said on stderr by Create
		}
		save := func(ctx context.Context, dir string) error {
			sm := *m
			sm.Name = m.Name + "-save"
			sm.ConsoleLog = filepath.Join(tmp, "save-console.log")
			sm.Channel = filepath.Join(tmp, "save.sock")
			sm.QMP = filepath.Join(tmp, "save-qmp.sock")
			timeout := vm.BootEstimateS(m.Accel, m.TCGThreads, m.Topology.CPUs, r.hostCPUs)*loadFactor(r.hostCPUs) + 60
			r.logf("%s: creating snapshot %s (%s, %s)", j.ID, key, m.Topology.Name, m.TCGThreads)
			return vm.Save(ctx, &sm, filepath.Join(dir, snapshotStream), vm.SaveOptions{QEMU: r.qemu, Timeout: time.Duration(timeout * float64(time.Second)), RAM: snapshotRAM(dir, m)})
		}
		corrupt := func(err error) { r.logf("%s; removing it and creating it anew", err) }
		var meta *snapshot.Meta
		var created bool
		// Create's directory is not held: Acquire (below) holds it.
		_, meta, created, err = r.snapshots.Create(ctx, key, in, save, corrupt)
		if err != nil {
			if ctx.Err() == nil {
				// Not tried again for every job of this machine: each try
				// is a boot.
				r.snapshotFailed.Store(key, err.Error())
			}
			return "", "", nil, err
		}
		if created {
			if note == "" {
				note = "snapshot created"
			}
			note += fmt.Sprintf(" (boot and save %.1f s, %.0f MB)", meta.SaveS, float64(meta.DataBytes())/(1<<20))
		}
		// Held from here; pruned by another process meanwhile, it is a
		// miss this job boots through.
		if dir, _, release, err = r.snapshots.Acquire(ctx, key); err != nil {
			return "", "", nil, fmt.Errorf("snapshot %s: %w", key, err)
		}
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	// Encoded once here for its errors, and again with the time when it
	// is sent: the guest's clock is set to that, after the RAM copy and
	// QEMU's start.
	line, err := proto.EncodeStart(j, time.Now().UnixNano(), seed)
	if err != nil {
		release()
		return "", "", nil, err
	}
	m.Incoming, m.IncomingRAM = filepath.Join(dir, snapshotStream), snapshotRAM(dir, m)
	m.QMP = filepath.Join(tmp, "qmp.sock")
	opts.Send = func() []byte {
		if now, err := proto.EncodeStart(j, time.Now().UnixNano(), seed); err == nil {
			return now
		}
		return line
	}
	opts.AgentTimeout = r.restoreAgentTimeout()
	return key, note, release, nil
}

// restoreRefused reports whether a restored run never reached its agent:
// QEMU refused the snapshot, or the guest did not resume.
func restoreRefused(res *vm.Result) bool {
	return len(res.Messages) == 0 && !res.Interrupted
}

// snapshotToBlame reports whether a restore that never reached its agent
// failed because of its snapshot: the incoming migration failed. A guest
// that resumed but stayed silent (a slow host) or a QEMU that aborted on
// its own is this run's failure; the snapshot other jobs use stays.
func snapshotToBlame(res *vm.Result) bool { return res.IncomingFailed != "" }
