package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// TestPayloads: real benchmark binaries from Debian's rt-tests run as
// scenario payloads in the guest, under EEVDF (1,2,2,1, the README's
// `ktstr-boot --topology 1,2,2,1 --scenario hackbench_steady`) and under
// scx_simple (1,1,2,1): hackbench's time and cyclictest's latencies land in
// the run records with their polarity and the verdicts check them and pass.
// The EEVDF runs judged again with an impossible max on hackbench's time
// fail, naming the metric, its value and the limit; and ktstr-stats
// compares the two stores' payload metrics with their polarity.
func TestPayloads(t *testing.T) {
	e2e(t)
	k := kernelSpec()
	dir := t.TempDir()
	sides := []struct{ label, topo, sched string }{
		{"eevdf", "1,2,2,1", ""},
		{"simple", "1,1,2,1", "--scheduler scx_simple"},
	}
	runsOf := map[string]string{}
	for _, s := range sides {
		store := filepath.Join(dir, "store-"+s.label)
		runsOf[s.label] = filepath.Join(dir, s.label+".ndjson")
		r := sh(t, fmt.Sprintf("ktstr-boot --kernel %s --topology %s %s --scenario hackbench_steady,cyclictest_steady --duration 3 | tee %s | ktstr-stats --store %s store --label %s | ktstr-verify",
			k, s.topo, s.sched, runsOf[s.label], store, s.label), "")
		verdicts := exactly(t, r.stdout, record.KindVerdict, 2)
		var runs []*record.Run
		for _, l := range records(t, readFile(t, runsOf[s.label]))[record.KindRun] {
			runs = append(runs, decodeRun(t, l))
		}
		wantRuns(t, runs, 2)
		for i, l := range verdicts {
			v := decodeVerdict(t, l)
			wantHealthy(t, v, runs[i], s.sched)
			want := map[string]bool{"payload[hackbench].time_s": strings.Contains(v.Subject, "hackbench"),
				"payload[cyclictest].max_latency_us": strings.Contains(v.Subject, "cyclictest")}
			for _, c := range v.Checks {
				if want[c.Name] && c.Status == record.StatusPass {
					want[c.Name] = false
				}
			}
			for name, missing := range want {
				if missing {
					t.Errorf("%s: no passing check %s", v.Subject, name)
				}
			}
		}
		for _, run := range runs {
			if run.Scenario == nil || len(run.Scenario.Payloads) != 1 {
				t.Fatalf("%s: no payload result: %+v", run.ID, run.Scenario)
			}
			p := run.Scenario.Payloads[0]
			metric, unit := "time_s", "s"
			if p.Name == "cyclictest" {
				metric, unit = "max_latency_us", "µs"
			}
			found := false
			for _, m := range p.Metrics {
				if m.Name == metric {
					found = true
					if m.Polarity != "lower" || m.Unit != unit || m.Value <= 0 {
						t.Errorf("%s %s: %+v", p.Name, metric, m)
					}
					t.Logf("%s (%s): %s %s = %g %s", run.Job.ID, s.label, p.Name, metric, m.Value, m.Unit)
				}
			}
			if !found || p.ExitCode != 0 || !strings.HasPrefix(p.Binary, "/include/") || len(p.OutputTail) == 0 {
				t.Errorf("%s: payload %s: exit %d, binary %s, metrics %+v, tail %q", run.ID, p.Name, p.ExitCode, p.Binary, p.Metrics, p.OutputTail)
			}
		}
	}

	// An impossible max on hackbench's time, as a --thresholds layer over
	// the same runs: the verdict fails and says which metric, its value and
	// the limit.
	limits := filepath.Join(dir, "tight.json")
	writeFile(t, limits, `{"payload": {"hackbench": {"metrics": {"time_s": {"max": 0.000001}}}}}`)
	tight := sh(t, "ktstr-verify --thresholds "+limits+" < "+runsOf["eevdf"], "")
	if tight.code != 1 {
		t.Errorf("impossible max: exit %d, want 1", tight.code)
	}
	failed := false
	for _, l := range exactly(t, tight.stdout, record.KindVerdict, 2) {
		v := decodeVerdict(t, l)
		for _, c := range v.Checks {
			if c.Name == "payload[hackbench].time_s" && c.Status == record.StatusFail &&
				strings.HasPrefix(c.Detail, "hackbench time_s ") && strings.HasSuffix(c.Detail, "> max 1e-06") {
				failed = true
			}
		}
	}
	if !failed || !strings.Contains(tight.stderr, "payload[hackbench].time_s: hackbench time_s ") {
		t.Errorf("impossible max: no failed payload[hackbench].time_s naming value and limit")
	}

	// The two stores compared: the payload metrics, each with its polarity.
	cmp := sh(t, fmt.Sprintf("ktstr-stats compare --all --a-from %s --b-from %s --pair-on scenario", filepath.Join(dir, "store-eevdf"), filepath.Join(dir, "store-simple")), "")
	if cmp.code != 0 && cmp.code != 1 {
		t.Fatalf("compare: exit %d", cmp.code)
	}
	deltas := map[string]*record.Delta{}
	for _, l := range records(t, cmp.stdout)[record.KindDelta] {
		var d record.Delta
		if err := record.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		deltas[d.Metric] = &d
	}
	for _, m := range []string{"payload[hackbench.time_s]", "payload[cyclictest.max_latency_us]"} {
		d := deltas[m]
		if d == nil || d.Polarity != "lower" || d.NA != 1 || d.NB != 1 {
			t.Errorf("compare: %s: %+v", m, d)
			continue
		}
		// The table's row: the metric, then which way is better.
		if !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(m) + `\s+lower\s`).MatchString(cmp.stderr) {
			t.Errorf("compare table lacks %s with its polarity", m)
		}
	}
}
