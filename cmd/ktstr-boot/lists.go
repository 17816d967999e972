package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// writeWorkTypes prints lib/model/workload's table of work types: name, the
// parameters with their defaults (a scenario's work group sets them in
// "params"), and what it stresses.
func writeWorkTypes(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORK TYPE\tPARAMETERS (defaults)\tWHAT IT DOES")
	for _, n := range workload.TypeNames() {
		t, _ := workload.LookupType(n)
		var params []string
		for _, p := range slices.Sorted(maps.Keys(t.Params)) {
			params = append(params, fmt.Sprintf("%s=%g", p, t.Params[p]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, dashIfEmpty(strings.Join(params, " ")), t.Summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nA scenario's work group: {\"type\": \"Bursty\", \"params\": {\"burst_ms\": 20}} (see docs/scenario.md).")
	return err
}

// writeSchedulers prints the built-in scheduler definitions: name, the
// binary, the ops name sched_ext reports, the flags (faults marked) and the
// profiles --all-profiles runs.
func writeSchedulers(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULER\tBINARY\tOPS\tPROFILES\tFLAGS (fault: --flags only, not in --all-profiles)")
	for _, n := range sched.BuiltinNames() {
		d, err := sched.Lookup(n)
		if err != nil {
			return err
		}
		var flags []string
		for _, f := range d.Flags {
			s := f.Name
			if f.Fault {
				s += "(fault)"
			}
			flags = append(flags, s)
		}
		binary := d.Binary
		if binary == sched.FixtureBinary {
			binary = "(built into ktstr-boot)"
		} else if !strings.Contains(binary, "/") {
			binary += " (kernel cache entry)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", d.Name, binary, dashIfEmpty(d.Ops), len(d.Profiles()), dashIfEmpty(strings.Join(flags, " ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nYour own: --scheduler ./my_sched.json, a definition file (see docs/scheduler.md), or --scheduler ./binary.")
	return err
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listAndExit prints --list-work-types and --list-schedulers.
func listAndExit(o *options, stdout, stderr io.Writer) int {
	if o.ListWorkTypes {
		if err := writeWorkTypes(stdout); err != nil {
			return cli.Report(stderr, name, err)
		}
	}
	if o.ListSchedulers {
		if o.ListWorkTypes {
			fmt.Fprintln(stdout)
		}
		if err := writeSchedulers(stdout); err != nil {
			return cli.Report(stderr, name, err)
		}
	}
	return cli.ExitOK
}
