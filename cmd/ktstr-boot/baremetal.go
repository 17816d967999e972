package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/baremetal"
	"github.com/ktstr-go/ktstr/lib/host/plan"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// runBareMetal runs every job of the planner (scenario × scheduler profile)
// on this host instead of in a VM (--bare-metal).
func runBareMetal(ctx context.Context, o *options, planner *plan.Planner, stdout, stderr io.Writer) int {
	if o.Topology != "" {
		return report(stderr, cli.Usagef("--bare-metal runs on this host's topology (ktstr-topo --host): drop --topology"))
	}
	if o.Scenario == "" {
		return report(stderr, cli.Usagef("--bare-metal runs a scenario: give --scenario"))
	}
	h, err := baremetal.New(baremetal.Config{CgroupParent: o.CgroupParent, CPUs: o.CPUs, AllowScheduler: o.AllowHostScheduler, Log: stderr})
	if err != nil {
		return cli.Report(stderr, name, err) // options wrong as given are usage errors
	}
	defer func() {
		if err := h.Close(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
	}()
	out := record.NewWriter(stdout)
	failed := false
	for _, j := range planner.Expand(&record.Job{Topology: h.Topology(), DurationS: o.Duration.Seconds(), Workers: o.Workers}) {
		if ctx.Err() != nil {
			break
		}
		res, err := h.Run(ctx, j, name)
		if err != nil {
			return cli.Report(stderr, name, err) // options wrong as given are usage errors
		}
		if res.Skip != nil {
			fmt.Fprintf(stderr, "%s: skip %s: %s\n", name, res.Skip.Subject, res.Skip.Detail)
			err = out.Write(res.Skip)
		} else {
			failed = failed || res.Run.Outcome != record.OutcomeCompleted
			err = out.Write(res.Run)
		}
		if err != nil {
			return cli.Report(stderr, name, err)
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted: workers killed, cgroups removed\n", name)
		return cli.ExitInterrupted
	case failed:
		return cli.ExitFail
	}
	return cli.ExitOK
}
