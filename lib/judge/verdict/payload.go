package verdict

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/payload"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

// Payloads judges the scenario's payload runs (record.PayloadResult): that
// each started, its exit code, and each metric limit. The limits of a run
// are layered like every threshold: its definition's checks
// (lib/model/payload), then the checks of the run_payload op that started
// it, then t.Payload of its name (the scheduler's, the job's and the
// command line's, already merged). A failure names the payload, the
// metric, its value and the limit it broke.
func Payloads(r *record.Run, t record.Thresholds) []record.Check {
	if r.Scenario == nil || len(r.Scenario.Payloads) == 0 {
		return nil
	}
	var sc *scenario.Scenario
	var out []record.Check
	if r.Job != nil && len(r.Job.Scenario) > 0 {
		var err error
		if sc, err = scenario.Parse(r.Job.Scenario); err != nil {
			// The scenario's own payload limits are unknown: say so, and
			// judge by the definitions' and the thresholds' alone.
			out = append(out, record.Check{Name: "payload.limits", Status: record.StatusError,
				Detail: fmt.Sprintf("the run's scenario does not parse, so its payload limits are not applied: %v", err)})
			sc = nil
		}
	}
	count := map[string]int{}
	for _, p := range r.Scenario.Payloads {
		count[p.Name]++
	}
	for _, p := range r.Scenario.Payloads {
		label := p.Name
		if count[p.Name] > 1 {
			label = p.Name + "@" + p.Cgroup
		}
		out = append(out, judgePayload(p, label, Limits(sc, p, t))...)
	}
	return out
}

// Limits are the merged limits of payload run p: definition → scenario
// op → thresholds (t.Payload of its name). sc may be nil (a run record
// whose scenario does not parse): the built-in definition's then.
func Limits(sc *scenario.Scenario, p record.PayloadResult, t record.Thresholds) record.PayloadLimits {
	var l record.PayloadLimits
	var op scenario.Op
	found := false
	if sc != nil {
		op, found = sc.PayloadRun(p.Name, p.Cgroup)
	}
	if found {
		if d, err := op.Definition(); err == nil {
			l = d.Checks
		}
		if op.Checks != nil {
			l = payload.MergeLimits(l, *op.Checks)
		}
	} else if d, ok := payload.Lookup(p.Name); ok {
		l = d.Checks
	}
	if tl, ok := t.Payload[p.Name]; ok {
		l = payload.MergeLimits(l, tl)
	}
	return l
}

func judgePayload(p record.PayloadResult, label string, l record.PayloadLimits) []record.Check {
	name := "payload[" + label + "]"
	if p.ExitCode < 0 && p.Signal == "" && p.Killed == "" {
		// It never ran: nothing else can be judged.
		return []record.Check{{Name: name, Status: record.StatusFail, Value: "not started", Detail: p.Error}}
	}
	var out []record.Check
	// Every payload's exit code is judged: a benchmark that crashed or was
	// killed has no result worth keeping, whatever it printed. A layer can
	// ask for another code; without one, 0.
	want := 0
	if l.ExitCode != nil {
		want = *l.ExitCode
	}
	c := record.Check{Name: name + ".exit_code", Status: record.StatusPass, Value: p.ExitCode, Limit: want}
	if p.ExitCode != want {
		c.Status = record.StatusFail
		c.Detail = fmt.Sprintf("%s exit code %d, want %d", label, p.ExitCode, want)
		if p.Signal != "" {
			c.Detail += " (ended by " + p.Signal + ")"
		}
		if p.Killed != "" {
			c.Detail += " (killed: " + p.Killed + ")"
		}
		if len(p.OutputTail) > 0 {
			c.Detail += "; output ends: " + p.OutputTail[len(p.OutputTail)-1]
		}
	}
	out = append(out, c)
	if p.Error != "" {
		// It ran, but its output could not be read (or it could not be
		// reaped): no metric of it can be trusted.
		out = append(out, record.Check{Name: name + ".output", Status: record.StatusFail, Value: "unreadable",
			Detail: fmt.Sprintf("%s: %s", label, p.Error)})
	}
	values := map[string]record.PayloadMetric{}
	for _, m := range p.Metrics {
		values[m.Name] = m
	}
	for _, metric := range slices.Sorted(maps.Keys(l.Metrics)) {
		lim := l.Metrics[metric]
		desc := payload.Describe(lim)
		if desc == "" {
			continue // switched off, or nothing set
		}
		c := record.Check{Name: name + "." + metric, Status: record.StatusPass, Limit: desc}
		m, ok := values[metric]
		if !ok {
			if lim.Exists != nil && *lim.Exists {
				c.Status = record.StatusFail
				c.Detail = fmt.Sprintf("%s %s: missing from its output", label, metric)
				if p.Error != "" {
					c.Detail += " (" + p.Error + ")"
				}
			} else {
				c.Status = record.StatusSkip
				c.Detail = fmt.Sprintf("%s %s: not in its output", label, metric)
			}
			out = append(out, c)
			continue
		}
		c.Value = m.Value
		if v := payload.Violation(lim, m.Value); v != "" {
			c.Status = record.StatusFail
			c.Detail = fmt.Sprintf("%s %s %v%s %s", label, metric, m.Value, unitSuffix(m.Unit), v)
		} else {
			c.Detail = fmt.Sprintf("%s %s %v%s (%s is better)", label, metric, m.Value, unitSuffix(m.Unit), m.Polarity)
		}
		out = append(out, c)
	}
	return out
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// applyPayload puts layer l's payload limits over dst's: "payload": null
// (Off) drops dst's first, then each payload's limits merge metric by
// metric (payload.MergeLimits).
func applyPayload(dst, l *record.Thresholds) {
	if slices.Contains(l.Off, record.PayloadThresholds) {
		dst.Payload = nil
		if !slices.Contains(dst.Off, record.PayloadThresholds) {
			dst.Off = append(dst.Off, record.PayloadThresholds)
		}
	}
	if len(l.Payload) == 0 {
		return
	}
	merged := maps.Clone(dst.Payload)
	if merged == nil {
		merged = map[string]record.PayloadLimits{}
	}
	for name, pl := range l.Payload {
		merged[name] = payload.MergeLimits(merged[name], pl)
	}
	dst.Payload = merged
}

// ValidatePayload checks a layer's payload limits (payload.ValidateLimits).
func ValidatePayload(ls map[string]record.PayloadLimits) error {
	if err := payload.ValidateLimits(ls); err != nil {
		return fmt.Errorf("thresholds: %w", err)
	}
	return nil
}

// payloadRows are the payload limits as name/value rows for
// WriteThresholds: payload.NAME.exit_code and payload.NAME.METRIC.
func payloadRows(ls map[string]record.PayloadLimits) [][2]string {
	var rows [][2]string
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		l := ls[name]
		if l.ExitCode != nil {
			rows = append(rows, [2]string{"payload." + name + ".exit_code", fmt.Sprint(*l.ExitCode)})
		}
		for _, metric := range slices.Sorted(maps.Keys(l.Metrics)) {
			desc := payload.Describe(l.Metrics[metric])
			if desc == "" {
				desc = "off"
			}
			rows = append(rows, [2]string{"payload." + name + "." + metric, strings.ReplaceAll(desc, "\t", " ")})
		}
	}
	return rows
}
