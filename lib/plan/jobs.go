package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ktstr-go/ktstr/lib/record"
)

// Options shape a written plan (ktstr-boot --plan).
type Options struct {
	// Source names the tool in error and skip records.
	Source string
	// Kernels multiply the plan: every job once per kernel, its id ending
	// in "@" and the kernel's version (or cache key). Empty: the job's own
	// kernel, else the planner's default.
	Kernels []*record.Kernel
	// Shard keeps only the jobs (and skip records) of one shard.
	Shard Shard
}

// Result is how writing a plan went.
type Result struct {
	Jobs, Skips int
	// BadInput: a line or a job was wrong as given (error records written).
	BadInput bool
}

// WriteJobs reads topology and job records from in and writes the complete
// job records ktstr-boot would run, without booting anything: each input
// expanded (scenario × profile × kernel) and completed, a job that does not
// fit its topology as a skip record (reason topology_too_small), a wrong
// one as an error record. Other records pass through, except skip records
// outside the shard. Ids are deterministic — made of the job's subject
// (topology, scenario, scheduler:profile, kernel), a repeat of an id
// getting "#2", "#3" in input order — so a plan made twice, here or on
// another host, is the same, and a shard of it too.
func (p *Planner) WriteJobs(ctx context.Context, in io.Reader, out *record.Writer, o Options) (Result, error) {
	var res Result
	seen := map[string]int{}
	rd := record.NewReader(in, o.Source)
	for ctx.Err() == nil {
		line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read stdin: %w", err)
		}
		var j record.Job
		switch line.Kind {
		case record.KindTopology:
			var t record.Topology
			if err := line.Decode(&t); err != nil {
				res.BadInput = true
				out.Write(&record.Error{Source: o.Source, Line: line.Num, Message: err.Error()})
				continue
			}
			j.Topology = &t
		case record.KindJob:
			if err := line.Decode(&j); err != nil || j.Topology == nil {
				if err == nil {
					err = fmt.Errorf("line %d: job has no topology", line.Num)
				}
				res.BadInput = true
				out.Write(&record.Error{Source: o.Source, Line: line.Num, Message: err.Error()})
				continue
			}
		case record.KindSkip:
			var s record.Skip
			if line.Decode(&s) == nil && !o.Shard.Has(s.Subject) {
				continue
			}
			out.WriteRaw(line.Raw)
			continue
		default:
			if line.Err != nil {
				res.BadInput = true
			}
			out.WriteRaw(line.Raw)
			continue
		}
		for _, e := range p.Expand(&j) {
			for _, k := range perKernel(e, o.Kernels) {
				p.fillID(k)
				seen[k.ID]++
				if n := seen[k.ID]; n > 1 {
					k.ID = fmt.Sprintf("%s#%d", k.ID, n)
				}
				if !o.Shard.Has(k.ID) {
					continue
				}
				if err := p.writeJob(ctx, k, out, o.Source, &res); err != nil {
					return res, err
				}
			}
		}
	}
	return res, ctx.Err()
}

// fillID gives a job without one the id Complete would give it.
func (p *Planner) fillID(j *record.Job) {
	if j.ID == "" {
		j.ID = topoID(j.Topology)
	}
}

// perKernel returns j once per kernel (as is without kernels).
func perKernel(j *record.Job, kernels []*record.Kernel) []*record.Job {
	if len(kernels) == 0 || j.Kernel != nil {
		return []*record.Job{j}
	}
	if len(kernels) == 1 {
		j.Kernel = kernels[0]
		return []*record.Job{j}
	}
	out := make([]*record.Job, 0, len(kernels))
	for _, k := range kernels {
		c := *j
		c.Kernel = k
		if c.ID == "" {
			c.ID = topoID(c.Topology)
		}
		c.ID += "@" + KernelLabel(k)
		out = append(out, &c)
	}
	return out
}

// KernelLabel names a kernel in job ids: its version, else its cache key,
// else its image's file name.
func KernelLabel(k *record.Kernel) string {
	switch {
	case k.Version != "":
		return k.Version
	case k.Key != "":
		return k.Key
	}
	i := strings.LastIndex(k.Image, "/")
	return k.Image[i+1:]
}

func (p *Planner) writeJob(ctx context.Context, j *record.Job, out *record.Writer, source string, res *Result) error {
	err := p.Complete(ctx, j)
	var skip *SkipError
	switch {
	case err == nil:
		res.Jobs++
		return out.Write(j)
	case errors.As(err, &skip):
		res.Skips++
		return out.Write(&record.Skip{Source: source, Subject: j.ID, Reason: "topology_too_small", Detail: skip.Reason, Topology: j.Topology})
	case ctx.Err() != nil:
		return ctx.Err()
	}
	if IsInputError(err) {
		res.BadInput = true
	}
	// A kernel that cannot be found fails every job alike: stop at the
	// first rather than writing one error per job.
	if j.Kernel == nil {
		return err
	}
	return out.Write(&record.Error{Source: source, Message: fmt.Sprintf("job %s: %v", j.ID, err)})
}
