package plan

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Options shape a written plan (ktstr-boot --plan).
type Options struct {
	// Source names the tool in error and skip records.
	Source string
	// Shard keeps only the jobs (and skip records) of one shard.
	Shard Shard
}

// Result is how writing a plan went.
type Result struct {
	Jobs, Skips int
	// BadInput: a line or a job was wrong as given (error records written).
	BadInput bool
}

// WriteJobs reads topology, job and kernel records from in and writes the
// complete job records ktstr-boot would run, without booting anything: each
// input expanded (scenario × profile × kernel: the planner's kernels and
// those of the kernel records, wherever they are in the input) and
// completed, a job that does not fit its topology as a skip record (reason
// topology_too_small), a wrong one as an error record. Other records pass
// through at once, except skip records outside the shard; the jobs follow
// once in ends. Ids are deterministic — made of the job's subject
// (topology, scenario, scheduler:profile, kernel label), a repeat of an id
// getting "#2", "#3" in input order — so a plan made twice, here or on
// another host, is the same, and a shard of it too.
func (p *Planner) WriteJobs(ctx context.Context, in io.Reader, out *record.Writer, o Options) (Result, error) {
	var res Result
	var inputs []*record.Job
	loop := record.Loop{Source: o.Source, Out: out}
	bad, err := loop.Run(ctx, in, func(line record.Line) error {
		var j record.Job
		switch line.Kind {
		case record.KindTopology:
			var t record.Topology
			if err := line.Decode(&t); err != nil {
				return record.Reject(err)
			}
			j.Topology = &t
		case record.KindJob:
			if err := line.Decode(&j); err != nil {
				return record.Reject(err)
			}
			if j.Topology == nil {
				return record.Reject(fmt.Errorf("line %d: job has no topology", line.Num))
			}
		case record.KindKernel:
			var k record.Kernel
			if err := line.Decode(&k); err != nil {
				return record.Reject(err)
			}
			return record.Reject(p.AddKernel(&k))
		case record.KindSkip:
			var s record.Skip
			if line.Decode(&s) == nil && !o.Shard.Has(s.Subject) {
				return nil
			}
			return record.Pass
		default:
			return record.Pass
		}
		inputs = append(inputs, &j)
		return nil
	})
	if bad > 0 {
		res.BadInput = true
	}
	if err != nil {
		return res, err
	}
	return res, p.writeAll(ctx, inputs, out, o, &res)
}

// writeAll expands, names and completes the inputs, and writes their jobs.
func (p *Planner) writeAll(ctx context.Context, inputs []*record.Job, out *record.Writer, o Options, res *Result) error {
	seen := map[string]int{}
	for _, j := range inputs {
		for _, k := range p.Expand(j) {
			p.fillID(k)
			seen[k.ID]++
			if n := seen[k.ID]; n > 1 {
				k.ID = fmt.Sprintf("%s#%d", k.ID, n)
			}
			if !o.Shard.Has(k.ID) {
				continue
			}
			if err := p.writeJob(ctx, k, out, o.Source, res); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// fillID gives a job without one the id Complete would give it.
func (p *Planner) fillID(j *record.Job) {
	if j.ID == "" {
		j.ID = topoID(j.Topology)
	}
}

func (p *Planner) writeJob(ctx context.Context, j *record.Job, out *record.Writer, source string, res *Result) error {
	_, err := p.Complete(ctx, j)
	var skip *record.SkipError
	switch {
	case err == nil:
		res.Jobs++
		return out.Write(j)
	case errors.As(err, &skip):
		res.Skips++
		return out.Write(skip.Record(source, j.ID, j.Topology))
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
