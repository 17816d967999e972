package runner

import (
	"context"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// launch is what Boot settles for a job once, however many starts it
// takes (a restore refused, QEMU aborting): the accelerator, TCG's
// threading, and the job as it runs, with its timeout on this host.
type launch struct {
	res *plan.Resolved
	// job is res.AsRun with that timeout: the record the guest is given
	// and the run record carries.
	job                   *record.Job
	accel                 string
	tcgThreads, tcgReason string
}

// newLaunch chooses the accelerator and TCG's threading for res and
// derives its timeout for them and this host's load. An accelerator that
// cannot be had is a usage error (cli.ErrUsage).
func (r *Runner) newLaunch(ctx context.Context, res *plan.Resolved) (*launch, error) {
	accel, err := r.chooseAccel(ctx, res.Job.Accel)
	if err != nil {
		return nil, cli.Usage(err)
	}
	l := &launch{res: res, accel: accel.Accel}
	if l.accel == vm.AccelTCG {
		l.tcgThreads, l.tcgReason = r.tcgThreads(res.Job)
	}
	timeout := res.TimeoutS(plan.Machine{Accel: l.accel, TCGThreads: l.tcgThreads, HostCPUs: r.hostCPUs, Load: loadFactor(r.hostCPUs)})
	l.job = res.AsRun(timeout)
	return l, nil
}

// tcgThreads is TCG's threading mode for j and why: what the kernel allows
// (vm.TCGThreads), or what --tcg-threads forces, except for probes.
func (r *Runner) tcgThreads(j *record.Job) (mode, reason string) {
	// Probes patch kernel text: single-threaded TCG, whatever was asked
	// (multi-threaded TCG crashes such guests).
	probes := j.Probes != nil
	mode, reason = vm.TCGThreads(j.Kernel, probes)
	if force := r.cfg.TCGThreads; force != "" && force != "auto" && force != mode && !probes {
		return force, "forced by --tcg-threads (auto would choose " + mode + ": " + reason + ")"
	}
	return mode, reason
}
