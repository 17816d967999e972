// Package runner boots planned jobs: one fresh QEMU VM per job on a pool of
// workers, with the caches a run needs (the base initramfs per include set,
// the accelerator choice, the default kernel via the planner, snapshots of
// machines booted to the agent's wait for a job, which a VM restores
// instead of booting), and turns what each VM reported into a run record.
// Jobs come from lib/host/plan, resolved (plan.Resolved): the runner adds only
// what the host decides when a VM starts — the accelerator, TCG's
// threading and the timeout for them — to the copy of the job the guest
// gets and the run record carries. The records go to a record.Writer as
// runs finish.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/lib/host/initramfs"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/snapshot"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Config is how a Runner boots its jobs. Zero fields take the defaults
// named on each.
type Config struct {
	// Source names the tool in error and skip records and log lines.
	Source string
	// Jobs is how many VMs run at once at most (default: host CPUs / 2, at
	// least 1).
	Jobs int
	// Overcommit bounds the vCPUs of timing-checked VMs (those that run a
	// scenario) running at once to host CPUs × Overcommit (default
	// DefaultOvercommit); the rest wait. A VM larger than that runs alone.
	Overcommit float64
	// TCGThreads forces the TCG threading mode: "", "auto", "multi" or
	// "single".
	TCGThreads string
	// Boot is the boot method: "auto" (PVH when the kernel has it, else
	// bzImage), "pvh" or "bzimage".
	Boot string
	// Firmware is the guest firmware: "auto" (default: qboot when QEMU
	// ships it, else SeaBIOS), "qboot" (an error without it) or
	// "seabios" (QEMU's default).
	Firmware string
	// Snapshot is SnapshotAuto (default), SnapshotOff or SnapshotOnly:
	// whether jobs restore a snapshot of their machine booted to the
	// agent's wait for a job, instead of booting.
	Snapshot string
	// InitrdCompression is "auto" (default), "zstd", "gzip" or "none".
	InitrdCompression string
	// LogDir keeps the console logs (default: <ktstr cache>/logs).
	LogDir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
	// Console receives the console of jobs with Dmesg set (default: Log).
	Console io.Writer
	// Terminal, if set, gets an interactive shell in each guest
	// (ktstr-boot --shell): the guest's second serial port on this
	// terminal (vm.Machine.Shell).
	Terminal *os.File
	// NoMonitor turns the host-side monitor (lib/host/monitor) off; MonitorHZ
	// is its sampling rate (default monitor.DefaultHZ).
	NoMonitor bool
	MonitorHZ float64
	// WatchdogTimeout, if positive, overrides sched_ext's watchdog timeout
	// through guest memory (needs the monitor).
	WatchdogTimeout time.Duration
	// Keep, when set, filters expanded jobs and skip records by id (a
	// shard, plan.Shard.Has); the rest are dropped silently.
	Keep func(id string) bool
	// Progress draws one status line on Log (a terminal): done/total,
	// verdicts so far, ETA. Estimate gives a job's expected seconds for the
	// ETA (default plan.EstimateS).
	Progress bool
	Estimate func(*record.Job) float64
}

// Summary is how a batch of jobs went.
type Summary struct {
	// Failed: a run did not complete, or a job could not start.
	Failed bool
	// BadInput: an input line, a job or a flag was wrong.
	BadInput bool
}

// Runner boots jobs. Its methods are safe for concurrent use.
type Runner struct {
	cfg         Config
	plan        *plan.Planner
	out         *record.Writer
	qemu        string
	qemuVersion string
	// firmware names the guest firmware (record host.firmware);
	// firmwareImage is its -bios image, "" for QEMU's default.
	firmware, firmwareImage string
	agent                   string
	cacheRoot               string
	hostCPUs                int

	accelOnce sync.Once
	accel     vm.AccelChoice
	accelErr  error

	baseMu sync.Mutex
	bases  map[string]string

	snapshots      *snapshot.Cache
	snapshotFailed sync.Map // key → why its creation failed
	agentHashOnce  sync.Once
	agentHash      string
	agentHashErr   error
	// agentCheck runs staticAgent once, before the first initramfs.
	agentCheck sync.Once
	agentErr   error

	gate         *vcpuGate
	progress     *progress
	seq          atomic.Int64
	runningVCPUs atomic.Int64
	failed       atomic.Bool
	badInput     atomic.Bool
}

// New prepares a Runner: it finds QEMU and the agent (this executable),
// creates the log directory, removes what killed ktstr processes left
// behind and prunes old console logs.
func New(cfg Config, p *plan.Planner, out *record.Writer) (*Runner, error) {
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
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Console == nil {
		cfg.Console = cfg.Log
	}
	if cfg.InitrdCompression == "" {
		cfg.InitrdCompression = "auto"
	}
	switch cfg.Snapshot {
	case "":
		cfg.Snapshot = SnapshotAuto
	case SnapshotAuto, SnapshotOff, SnapshotOnly:
	default:
		return nil, fmt.Errorf("unknown snapshot mode %q", cfg.Snapshot)
	}
	firmware, firmwareImage, err := chooseFirmware(cfg.Firmware, qemu, vm.QBootImage)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, plan: p, out: out, qemu: qemu, qemuVersion: vm.QEMUVersion(qemu),
		firmware: firmware, firmwareImage: firmwareImage,
		agent: agent, cacheRoot: root, hostCPUs: machine.CPUs(), bases: map[string]string{},
		snapshots: &snapshot.Cache{Dir: filepath.Join(root, "snapshots")}}
	if r.cfg.LogDir == "" {
		r.cfg.LogDir = filepath.Join(root, "logs")
	}
	if err := os.MkdirAll(r.cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if r.cfg.Jobs <= 0 {
		r.cfg.Jobs = max(1, r.hostCPUs/2)
	}
	if r.cfg.Overcommit <= 0 {
		r.cfg.Overcommit = DefaultOvercommit
	}
	r.gate = newVCPUGate(r.hostCPUs, r.cfg.Overcommit)
	if r.cfg.Estimate == nil {
		r.cfg.Estimate = func(j *record.Job) float64 { return plan.EstimateS(j, r.hostCPUs) }
	}
	if r.cfg.Progress {
		r.progress = newProgress(r.cfg.Log, r.cfg.Estimate)
	}
	sweepStale()
	r.snapshots.Sweep()
	pruneLogs(r.cfg.LogDir, logRetention)
	return r, nil
}

// chooseFirmware resolves the firmware setting to its name and image
// ("" for QEMU's default); qboot finds QEMU's qboot image.
func chooseFirmware(want, qemu string, qboot func(qemu string) string) (name, image string, err error) {
	switch want {
	case vm.FirmwareSeaBIOS:
		return vm.FirmwareSeaBIOS, "", nil
	case "", vm.FirmwareAuto, vm.FirmwareQBoot:
		if image := qboot(qemu); image != "" {
			return vm.FirmwareQBoot, image, nil
		}
		if want == vm.FirmwareQBoot {
			return "", "", fmt.Errorf("--firmware qboot: QEMU's qboot.rom is not installed beside %s (Debian's qemu-system-data has it)", qemu)
		}
		return vm.FirmwareSeaBIOS, "", nil
	}
	return "", "", fmt.Errorf("unknown firmware %q (auto, qboot or seabios)", want)
}

// HostCPUs is the number of host CPUs the runner sizes against.
func (r *Runner) HostCPUs() int { return r.hostCPUs }

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

func (r *Runner) logf(format string, args ...any) {
	if r.progress != nil {
		r.progress.logf(r.cfg.Source+": "+format, args...)
		return
	}
	fmt.Fprintf(r.cfg.Log, r.cfg.Source+": "+format+"\n", args...)
}

// Run boots every expansion of jobs.
func (r *Runner) Run(ctx context.Context, jobs []*record.Job) Summary {
	return r.pool(ctx, func(send func(*record.Job) error) error {
		var all []*record.Job
		for _, j := range jobs {
			all = r.expand(all, j)
		}
		return r.dispatch(send, all)
	})
}

// Stream reads records from in: topology and job records become jobs (each
// expanded by the planner), records of other kinds pass through to the
// output, and a malformed line becomes an error record. The jobs start once
// in is read to its end, biggest first (see dispatch). It returns when
// every job has finished; the error is a failure to read in.
func (r *Runner) Stream(ctx context.Context, in io.Reader) (Summary, error) {
	var readErr error
	s := r.pool(ctx, func(send func(*record.Job) error) error {
		var jobs []*record.Job
		jobs, readErr = r.feed(ctx, in)
		if readErr != nil || ctx.Err() != nil {
			return nil
		}
		return r.dispatch(send, jobs)
	})
	return s, readErr
}

// dispatch sends jobs biggest first (most vCPUs; input order among equals):
// while a large VM runs alone the small ones queue behind it, and at the
// end the small ones fill the gaps the large ones leave, rather than a
// large VM waiting for the host to drain at the end of the batch.
func (r *Runner) dispatch(send func(*record.Job) error, jobs []*record.Job) error {
	slices.SortStableFunc(jobs, func(a, b *record.Job) int { return cmp.Compare(b.Topology.CPUs, a.Topology.CPUs) })
	if r.progress != nil {
		r.progress.start(jobs)
		defer r.progress.finish()
	}
	for _, j := range jobs {
		if err := send(j); err != nil {
			return err
		}
	}
	return nil
}

// pool runs feed, booting what it sends on cfg.Jobs workers.
func (r *Runner) pool(ctx context.Context, feed func(send func(*record.Job) error) error) Summary {
	jobs := make(chan *record.Job)
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r.boot(ctx, j)
			}
		}()
	}
	send := func(j *record.Job) error {
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	feed(send)
	close(jobs)
	wg.Wait()
	return Summary{Failed: r.failed.Load(), BadInput: r.badInput.Load()}
}

// expand appends j's expansions that Keep keeps to jobs.
func (r *Runner) expand(jobs []*record.Job, j *record.Job) []*record.Job {
	for _, e := range r.plan.Expand(j) {
		if r.cfg.Keep != nil {
			id := e.ID
			if id == "" {
				id = topoName(e.Topology)
			}
			if !r.cfg.Keep(id) {
				continue
			}
		}
		jobs = append(jobs, e)
	}
	return jobs
}

func topoName(t *record.Topology) string {
	if t.Preset != "" {
		return t.Preset
	}
	return t.Name
}

// feed turns stdin records into jobs. Kernel records add kernels to the
// planner's matrix wherever they are in the input: the inputs are expanded
// once it ends.
func (r *Runner) feed(ctx context.Context, in io.Reader) ([]*record.Job, error) {
	var inputs, jobs []*record.Job
	loop := record.Loop{Source: r.cfg.Source, Out: r.out}
	bad, err := loop.Run(ctx, in, func(line record.Line) error {
		switch line.Kind {
		case record.KindTopology:
			var t record.Topology
			if err := line.Decode(&t); err != nil {
				return record.Reject(err)
			}
			inputs = append(inputs, &record.Job{Topology: &t})
		case record.KindKernel:
			var k record.Kernel
			if err := line.Decode(&k); err != nil {
				return record.Reject(err)
			}
			return record.Reject(r.plan.AddKernel(&k))
		case record.KindJob:
			var j record.Job
			if err := line.Decode(&j); err != nil {
				return record.Reject(err)
			}
			if j.Topology == nil {
				return record.Reject(errors.New("job has no topology"))
			}
			inputs = append(inputs, &j)
		case record.KindSkip:
			var s record.Skip
			if r.cfg.Keep != nil && line.Decode(&s) == nil && !r.cfg.Keep(s.Subject) {
				return nil // another shard's
			}
			return record.Pass
		default:
			return record.Pass
		}
		return nil
	})
	if bad > 0 {
		r.badInput.Store(true)
	}
	switch {
	case ctx.Err() != nil:
		return nil, nil // interrupted: nothing to run
	case err != nil:
		return nil, err
	}
	for _, j := range inputs {
		jobs = r.expand(jobs, j)
	}
	return jobs, nil
}

// boot completes one job, runs it and writes its run record (or a skip or
// error record).
func (r *Runner) boot(ctx context.Context, j *record.Job) {
	prepStart := time.Now()
	res, err := r.plan.Complete(ctx, j)
	var run *record.Run
	if err == nil {
		run, err = r.Boot(ctx, res, prepStart)
	}
	var skip *record.SkipError
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		r.logf("%s: not started: interrupted", j.ID)
		return
	}
	if errors.As(err, &skip) {
		r.progress.done(j, record.StatusSkip)
		r.logf("%s: skipped: %s", j.ID, skip.Detail)
		r.out.Write(skip.Record(r.cfg.Source, j.ID, j.Topology))
		return
	}
	if err != nil {
		// Could not even start the VM: an error record, the stream goes on.
		r.failed.Store(true)
		if plan.IsInputError(err) {
			r.badInput.Store(true)
		}
		r.progress.done(j, record.StatusError)
		r.logf("%s: %v", j.ID, err)
		r.out.Write(&record.Error{Source: r.cfg.Source, Message: fmt.Sprintf("job %s: %v", j.ID, err)})
		return
	}
	if run.Outcome != record.OutcomeCompleted {
		r.failed.Store(true)
	}
	r.out.Write(run)
	if r.progress != nil {
		// ktstr-boot judges nothing; this in-process verdict (default and
		// job limits) only counts for the progress line.
		r.progress.done(j, verdict.Judge(run, nil).Status)
	}
	summary := fmt.Sprintf("%s %s: %s in %.1fs (%s", run.ID, j.ID, run.Outcome, run.Timings.WallS, run.Host.Accel)
	if run.Host.TCGThreads != "" {
		summary += "/" + run.Host.TCGThreads
	}
	summary += ")"
	if run.Reason != "" {
		summary += ": " + run.Reason
	}
	r.logf("%s", summary)
}

// staticAgent refuses an agent binary that needs a dynamic loader: it
// becomes the guest's /init and re-executes itself as workers and the
// probe loader, and ktstr promises a static agent (CGO_ENABLED=0), not one
// that leans on the host's C library copied into every guest. It is asked
// when the agent goes into an initramfs, not in New: go test's binaries,
// dynamic where cgo is on, make Runners that boot nothing.
func staticAgent(path string) error {
	interp, err := initramfs.Interpreter(path)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	if interp != "" {
		return fmt.Errorf("%s is dynamically linked (interpreter %s), and the guest agent, which it is too, must be static: rebuild with CGO_ENABLED=0 (make build, or CGO_ENABLED=0 go install github.com/ktstr-go/ktstr/cmd/...@latest)", path, interp)
	}
	return nil
}
