package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/host/runner"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/results/timings"
)

// The pipeline stages of a gauntlet, each a mode of ktstr-boot that boots
// nothing: --plan writes the jobs, --select keeps those a budget buys,
// --shard (also when running) keeps one part of them.

// stageOptions are the flags of the stages; embedded in options.
type stageOptions struct {
	Plan   bool           `help:"Write the job records this would run (topology × scenario × profile × kernel; --kernel may name several) without booting anything, a job that does not fit its topology as a skip record. Their ids are deterministic. Pipe them back into ktstr-boot to run them."`
	Select bool           `help:"Budget stage: read job records, keep those that cover the most features (scheduler, flags, topology size, scenario, ...) per second within --budget, and write a skip record with reason budget for each of the rest. Boots nothing."`
	Budget units.Duration `help:"The time --select may spend: 30m, 1h30m, 90s (a bare number is seconds)."`
	Shard  string         `help:"K/N: only the jobs (and skip records) of shard K of N, by a hash of the job id: N shards partition the plan the same way on every host."`
	Store  string         `help:"Run store (ktstr-stats) whose past wall times cost --select's jobs and the progress line's ETA; only read (default: ktstr-stats' default store)." type:"path"`
}

// shard parses --shard (the zero Shard keeps everything). It is called in
// every mode but --select, which takes --budget: so --budget is refused
// here.
func (o *stageOptions) shard() (plan.Shard, error) {
	if o.Budget != 0 {
		return plan.Shard{}, cli.Usagef("--budget is --select's: ktstr-boot --select --budget %s < jobs", o.Budget)
	}
	if o.Shard == "" {
		return plan.Shard{}, nil
	}
	return plan.ParseShard(o.Shard)
}

// runPlan is --plan.
func runPlan(ctx context.Context, o *options, p *plan.Planner, stdin io.Reader, stdout, stderr io.Writer) int {
	shard, err := o.shard()
	if err != nil {
		return report(stderr, err)
	}
	popts := plan.Options{Source: name, Shard: shard}
	in := stdin
	if o.Topology != "" {
		j, err := plan.FromSpec(o.Topology)
		if err != nil {
			return report(stderr, err)
		}
		line, _ := record.Marshal(j.Topology)
		in = strings.NewReader(string(line) + "\n")
	}
	res, err := p.WriteJobs(ctx, in, record.NewWriter(stdout), popts)
	if err != nil {
		return report(stderr, err)
	}
	fmt.Fprintf(stderr, "%s: plan: %d jobs, %d skipped%s\n", name, res.Jobs, res.Skips, shardNote(shard))
	if res.BadInput {
		return cli.ExitUsage
	}
	return cli.ExitOK
}

func shardNote(s plan.Shard) string {
	if s.N <= 1 {
		return ""
	}
	return " (shard " + s.String() + ")"
}

// runSelect is --select.
func runSelect(o *options, stdin io.Reader, stdout, stderr io.Writer) int {
	if o.Plan || o.Shard != "" {
		return report(stderr, cli.Usagef("--select is a stage of its own: pipe --plan into it and it into --shard"))
	}
	if o.Budget <= 0 {
		return report(stderr, cli.Usagef("--select needs --budget, more than 0 (e.g. 30m)"))
	}
	budget := o.Budget.Seconds()
	t, err := timings.Past(o.Store)
	if err != nil {
		return report(stderr, err)
	}
	cpus := machine.CPUs()
	b, err := plan.SelectStream(stdin, record.NewWriter(stdout), name, budget, func(j *record.Job) float64 { return t.Cost(j, cpus) })
	if err != nil {
		return report(stderr, err)
	}
	fmt.Fprintf(stderr, "%s: %s (%d job costs from past runs)\n", name, b, len(t))
	if b.BadInput {
		return cli.ExitUsage
	}
	return cli.ExitOK
}

// runnerStages is the runner's shard filter and, on a terminal, its
// progress line with an ETA from past timings (the other fields zero).
func runnerStages(o *options, stderr io.Writer) (cfg runner.Config, err error) {
	shard, err := o.shard()
	if err != nil {
		return cfg, err
	}
	if shard.N > 1 {
		cfg.Keep = shard.Has
	}
	if cli.IsTerminal(stderr) {
		cfg.Progress = true
		if t, err := timings.Past(o.Store); err == nil && len(t) > 0 {
			cpus := machine.CPUs()
			cfg.Estimate = func(j *record.Job) float64 { return t.Cost(j, cpus) }
		}
	}
	return cfg, nil
}
