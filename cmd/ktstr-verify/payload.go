package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// writePayloads prints the metrics of every payload the runs' scenarios
// ran (lib/model/payload), one row per metric with which way is better, and the
// status of its check in the run's verdict, if it has one.
func writePayloads(w io.Writer, runs []*record.Run, verdicts []*record.Verdict) {
	status := map[string]string{}
	for _, v := range verdicts {
		for _, c := range v.Checks {
			if strings.HasPrefix(c.Name, "payload[") {
				status[v.RunID+"\x00"+c.Name] = strings.ToUpper(string(c.Status))
			}
		}
	}
	var tw *tabwriter.Writer
	for _, r := range runs {
		if r.Scenario == nil {
			continue
		}
		for _, p := range r.Scenario.Payloads {
			if tw == nil {
				tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tPAYLOAD\tMETRIC\tVALUE\tBETTER\tCHECK")
			}
			check := func(metric string) string {
				for _, label := range []string{p.Name, p.Name + "@" + p.Cgroup} {
					if s, ok := status[r.ID+"\x00payload["+label+"]."+metric]; ok {
						return s
					}
				}
				return "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t-\t%s\n", r.ID, p.Name, "exit_code", p.ExitCode, check("exit_code"))
			for _, m := range p.Metrics {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.6g %s\t%s\t%s\n", r.ID, p.Name, m.Name, m.Value, m.Unit, m.Polarity, check(m.Name))
			}
		}
	}
	if tw != nil {
		tw.Flush()
	}
}
