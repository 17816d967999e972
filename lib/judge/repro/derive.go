package repro

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/sched"
)

// Failure classes a repro reruns.
const (
	ClassSchedulerDied = "scheduler_died"
	ClassKernelPanic   = "kernel_panic"
	ClassCheck         = "check"
)

// Triggers: what flushes the guest's event rings.
const (
	TriggerExit  = "sched_ext_exit"
	TriggerPanic = "panic"
)

// DefaultPerCPU is how many events each CPU keeps.
const DefaultPerCPU = 64

// SuffixID ends a repro job's id: the original job's id plus this.
const SuffixID = "/repro"

// reproChecks are the check names (before any "[cgroup]") whose failure is
// a repro's business: the scheduler kept tasks from running.
var reproChecks = []string{"stall", "starvation", "gap"}

// Classify says how a run failed, if in a way a repro reruns: the class, the
// reason to match and the failed checks. A nil verdict is computed with
// lib/judge/verdict's default limits. ok is false for a run that needs no
// repro.
func Classify(r *record.Run, v *record.Verdict) (o record.ReproOrigin, ok bool) {
	o = record.ReproOrigin{RunID: r.ID, Outcome: r.Outcome}
	if r.Job != nil {
		o.Subject = r.Job.ID
	}
	switch r.Outcome {
	case record.OutcomeSchedulerDied:
		o.Class = ClassSchedulerDied
		o.Reason = r.Reason
		if r.Scheduler != nil && r.Scheduler.ExitKind != "" {
			o.Reason = r.Scheduler.ExitKind
		}
		return o, true
	case record.OutcomeKernelPanic:
		o.Class, o.Reason = ClassKernelPanic, r.Reason
		return o, true
	case record.OutcomeCompleted:
	default:
		return o, false
	}
	if v == nil {
		v = verdict.Judge(r, nil)
	}
	for _, c := range verdict.Failed(v.Checks) {
		base, _, _ := strings.Cut(c.Name, "[")
		if c.Status == record.StatusFail && slices.Contains(reproChecks, base) {
			o.Checks = append(o.Checks, c.Name)
		}
	}
	if len(o.Checks) == 0 {
		return o, false
	}
	o.Class = ClassCheck
	o.Reason = strings.Join(o.Checks, ", ")
	return o, true
}

// Derive returns the repro job of a failed run: a copy of the run's job,
// unchanged but for its id, its timeout, Probes and ReproOf. It returns nil
// and no error for a run that needs no repro (it passed, or it is itself a
// repro), and a *record.SkipError for a failure that cannot be rerun (its
// Reason a short class: "eevdf", "missing_binary", "no_job", ...).
func Derive(r *record.Run, v *record.Verdict) (*record.Job, error) {
	if r.Job != nil && r.Job.ReproOf != nil {
		return nil, nil
	}
	origin, failed := Classify(r, v)
	if !failed {
		return nil, nil
	}
	j := r.Job
	if j == nil {
		return nil, &record.SkipError{Reason: "no_job", Detail: "the run record carries no job to rerun"}
	}
	if j.Scheduler == nil && origin.Class != ClassKernelPanic {
		return nil, &record.SkipError{Reason: "eevdf", Detail: "the run used EEVDF: no BPF scheduler to probe"}
	}
	if j.Kernel == nil || j.Kernel.Image == "" {
		return nil, &record.SkipError{Reason: "no_kernel", Detail: "the job names no kernel image"}
	}
	if _, err := os.Stat(j.Kernel.Image); err != nil {
		return nil, &record.SkipError{Reason: "missing_kernel", Detail: fmt.Sprintf("kernel image: %v", err)}
	}
	if s := j.Scheduler; s != nil && s.Binary != sched.FixtureBinary {
		if _, err := os.Stat(s.Binary); err != nil {
			return nil, &record.SkipError{Reason: "missing_binary", Detail: fmt.Sprintf("scheduler %s: %v", s.Name, err)}
		}
	}
	if j.Kernel.Vmlinux != "" {
		// Not needed to boot, but a kernel without BTF has nothing to
		// attach fentry probes to; say so up front.
		if _, err := os.Stat(j.Kernel.Vmlinux); err != nil {
			return nil, &record.SkipError{Reason: "missing_vmlinux", Detail: fmt.Sprintf("vmlinux: %v", err)}
		}
	}
	c, err := clone(j)
	if err != nil {
		return nil, &record.SkipError{Reason: "bad_job", Detail: err.Error()}
	}
	chain := Targets(r)
	c.ID = j.ID + SuffixID
	c.ReproOf = &origin
	c.Probes = &record.Probes{Functions: chain.Functions, BPF: chain.BPF, Trigger: TriggerExit, PerCPU: DefaultPerCPU}
	if origin.Class == ClassKernelPanic {
		c.Probes.Trigger = TriggerPanic
	}
	if c.Scheduler == nil {
		c.Probes.BPF = nil
	}
	// The job's timeout was derived for the original run's TCG mode;
	// single-threaded TCG serialises the vCPUs, and probes load and
	// verify programs before the scheduler starts.
	if c.TimeoutS > 0 {
		c.TimeoutS *= 2
	}
	return c, nil
}

// clone deep-copies a job through its JSON form, which is what the run
// record carried.
func clone(j *record.Job) (*record.Job, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	var c record.Job
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	return &c, nil
}

// number is what NormalizeReason blanks: decimal and hex numbers, with a
// unit or fraction.
var number = regexp.MustCompile(`0x[0-9a-fA-F]+|[0-9]+(\.[0-9]+)?`)

// NormalizeReason blanks the numbers of a reason (counts, pids, times,
// addresses) and its white space, so reasons of two runs compare.
func NormalizeReason(s string) string {
	return strings.Join(strings.Fields(number.ReplaceAllString(s, "#")), " ")
}
