package verdict

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// payloadRun is a run of a scenario whose op started hackbench in bench
// with opChecks (JSON, "" for none), and hackbench reported time_s (and
// exited with code).
func payloadRun(t *testing.T, opChecks string, code int, metrics ...record.PayloadMetric) *record.Run {
	t.Helper()
	checks := ""
	if opChecks != "" {
		checks = `, "checks": ` + opChecks
	}
	sc := `{"name": "hb", "backdrop": [{"name": "bench", "works": []}], "steps": [{"ops": [
		{"op": "run_payload", "cgroup": "bench", "payload": "hackbench"` + checks + `}]}]}`
	return &record.Run{ID: "r", Outcome: record.OutcomeCompleted, Job: &record.Job{Scenario: []byte(sc)},
		Scenario: &record.ScenarioResult{Name: "hb", Payloads: []record.PayloadResult{{
			Name: "hackbench", Cgroup: "bench", Binary: "/include/hackbench", ExitCode: code, Metrics: metrics,
			OutputTail: []string{"Time: 1.500"},
		}}}}
}

var hbTime = record.PayloadMetric{Name: "time_s", Value: 1.5, Polarity: "lower", Unit: "s"}

func byName(cs []record.Check) map[string]record.Check {
	out := map[string]record.Check{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

func TestPayloadDefaultsPass(t *testing.T) {
	cs := byName(Payloads(payloadRun(t, "", 0, hbTime), Merge()))
	if len(cs) != 2 || cs["payload[hackbench].exit_code"].Status != record.StatusPass || cs["payload[hackbench].time_s"].Status != record.StatusPass {
		t.Fatalf("%+v", cs)
	}
	if c := cs["payload[hackbench].time_s"]; c.Value != 1.5 || !strings.Contains(c.Detail, "lower is better") {
		t.Errorf("%+v", c)
	}
}

func TestPayloadFailures(t *testing.T) {
	// An impossible max from the command line's layer: the failure names
	// the payload, the metric, its value and the limit.
	tight, err := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"max": 0.001}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := byName(Payloads(payloadRun(t, "", 0, hbTime), Merge(tight)))["payload[hackbench].time_s"]
	if c.Status != record.StatusFail || c.Detail != "hackbench time_s 1.5 s > max 0.001" || c.Value != 1.5 {
		t.Errorf("max: %+v", c)
	}
	// The healthy value under a loose limit passes.
	loose, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"max": 10}}}}}`))
	if c := byName(Payloads(payloadRun(t, "", 0, hbTime), Merge(loose)))["payload[hackbench].time_s"]; c.Status != record.StatusPass {
		t.Errorf("loose max: %+v", c)
	}
	// min and range, each failing and passing (a limit equal to the value
	// passes).
	for lim, want := range map[string]record.Status{
		`{"min": 2}`: record.StatusFail, `{"range": [0, 1]}`: record.StatusFail, `{"range": [2, 3]}`: record.StatusFail,
		`{"min": 1}`: record.StatusPass, `{"min": 1.5}`: record.StatusPass, `{"range": [1, 2]}`: record.StatusPass,
		`{"range": [1.5, 1.5]}`: record.StatusPass, `{"max": 1.5}`: record.StatusPass,
	} {
		th, err := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": ` + lim + `}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if c := byName(Payloads(payloadRun(t, "", 0, hbTime), Merge(th)))["payload[hackbench].time_s"]; c.Status != want {
			t.Errorf("%s: %+v, want %s", lim, c, want)
		}
	}
	// The metric missing from the output fails its exists check.
	cs := byName(Payloads(payloadRun(t, "", 0), Merge()))
	if c := cs["payload[hackbench].time_s"]; c.Status != record.StatusFail || !strings.Contains(c.Detail, "missing") {
		t.Errorf("exists: %+v", c)
	}
	// A non-zero exit fails exit_code, with the output's last line.
	cs = byName(Payloads(payloadRun(t, "", 3, hbTime), Merge()))
	if c := cs["payload[hackbench].exit_code"]; c.Status != record.StatusFail || c.Detail != "hackbench exit code 3, want 0; output ends: Time: 1.500" {
		t.Errorf("exit: %+v", c)
	}
	// A payload that never started.
	r := payloadRun(t, "", -1)
	r.Scenario.Payloads[0].Error = "start /include/hackbench: no such file"
	cs = byName(Payloads(r, Merge()))
	if c := cs["payload[hackbench]"]; c.Status != record.StatusFail || !strings.Contains(c.Detail, "no such file") || len(cs) != 1 {
		t.Errorf("not started: %+v", cs)
	}
}

// The layers: definition (exists) → scenario op (max 1) → thresholds
// (max 2 over it, then off).
func TestPayloadLayers(t *testing.T) {
	r := payloadRun(t, `{"metrics": {"time_s": {"max": 1}}}`, 0, hbTime)
	c := byName(Payloads(r, Merge()))["payload[hackbench].time_s"]
	if c.Status != record.StatusFail || c.Limit != "exists, ≤ 1" {
		t.Errorf("scenario layer: %+v", c)
	}
	job, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"max": 2}}}}}`))
	if c := byName(Payloads(r, Merge(job)))["payload[hackbench].time_s"]; c.Status != record.StatusPass || c.Limit != "exists, ≤ 2" {
		t.Errorf("threshold layer: %+v", c)
	}
	off, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"off": true}}}}}`))
	if cs := byName(Payloads(payloadRun(t, "", 0), Merge(off))); len(cs) != 1 {
		t.Errorf("off: %+v", cs)
	}
	// Composed layers (scheduler, then job): the later wins, and null
	// drops every payload limit before it.
	sched, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"exit_code": 1, "metrics": {"time_s": {"min": 1}}}}}`))
	jobMax, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"max": 9}}}}}`))
	got := Merge(Compose(sched, jobMax)).Payload["hackbench"]
	if *got.ExitCode != 1 || *got.Metrics["time_s"].Min != 1 || *got.Metrics["time_s"].Max != 9 {
		t.Errorf("compose: %+v", got)
	}
	null, _ := ParseThresholds([]byte(`{"payload": null}`))
	if m := Merge(Compose(sched, null)); m.Payload != nil {
		t.Errorf("null: %+v", m.Payload)
	}
	var buf bytes.Buffer
	if err := WriteThresholds(&buf, Merge(sched)); err != nil || !strings.Contains(buf.String(), "payload.hackbench.time_s") {
		t.Errorf("show: %v\n%s", err, buf.String())
	}
}

func TestPayloadThresholdErrors(t *testing.T) {
	for _, bad := range []string{
		`{"payload": {"hackbench": {"metrics": {"time_s": {"min": 2, "max": 1}}}}}`,
		`{"payload": {"hackbench": {"metrics": {"time_s": {"range": [3, 1]}}}}}`,
		`{"payload": {"hack bench": {}}}`,
		`{"payload": {"hackbench": {"metrics": {"time_s": {"maximum": 1}}}}}`,
	} {
		if _, err := ParseThresholds([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// Judge runs the payload checks of a completed scenario run.
func TestJudgePayload(t *testing.T) {
	tight, _ := ParseThresholds([]byte(`{"payload": {"hackbench": {"metrics": {"time_s": {"max": 0.001}}}}}`))
	v := Judge(payloadRun(t, "", 0, hbTime), tight)
	if v.Status != record.StatusFail {
		t.Fatalf("%+v", v)
	}
	found := false
	for _, c := range Failed(v.Checks) {
		found = found || c.Name == "payload[hackbench].time_s"
	}
	if !found {
		t.Errorf("failed checks %+v", Failed(v.Checks))
	}
}

// A payload of the scenario's own definition, with no checks of its own, is
// still judged on its exit code and on whether its output could be read: a
// crashed or garbled benchmark does not pass.
func TestPayloadOwnDefinitionIsJudged(t *testing.T) {
	sc := `{"name": "own", "backdrop": [{"name": "bench", "works": []}], "steps": [{"ops": [
		{"op": "run_payload", "cgroup": "bench", "payload_def": {"name": "mine", "binary": "true", "output": "json"}}]}]}`
	run := func(code int, errText string) map[string]record.Check {
		return byName(Payloads(&record.Run{ID: "r", Outcome: record.OutcomeCompleted, Job: &record.Job{Scenario: []byte(sc)},
			Scenario: &record.ScenarioResult{Name: "own", Payloads: []record.PayloadResult{{
				Name: "mine", Cgroup: "bench", Binary: "/include/true", ExitCode: code, Error: errText}}}}, Merge()))
	}
	if cs := run(0, ""); len(cs) != 1 || cs["payload[mine].exit_code"].Status != record.StatusPass {
		t.Errorf("clean exit: %+v", cs)
	}
	if c := run(1, "")["payload[mine].exit_code"]; c.Status != record.StatusFail || c.Detail != "mine exit code 1, want 0" {
		t.Errorf("exit 1: %+v", c)
	}
	cs := run(0, "JSON output: invalid character 'h' looking for beginning of value")
	if c := cs["payload[mine].output"]; c.Status != record.StatusFail || !strings.Contains(c.Detail, "mine: JSON output: invalid character") {
		t.Errorf("unreadable output: %+v", cs)
	}
	// A layer may ask for another exit code.
	th, err := ParseThresholds([]byte(`{"payload": {"mine": {"exit_code": 3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Run{ID: "r", Outcome: record.OutcomeCompleted, Job: &record.Job{Scenario: []byte(sc)},
		Scenario: &record.ScenarioResult{Name: "own", Payloads: []record.PayloadResult{{Name: "mine", Cgroup: "bench", ExitCode: 3}}}}
	if c := byName(Payloads(r, Merge(th)))["payload[mine].exit_code"]; c.Status != record.StatusPass {
		t.Errorf("exit 3 wanted: %+v", c)
	}
}

// A run whose scenario no longer parses (a record from an older ktstr, or
// edited by hand) is not judged silently without the scenario's own
// payload limits: an error check says so.
func TestPayloadScenarioThatDoesNotParse(t *testing.T) {
	r := payloadRun(t, "", 0, hbTime)
	r.Job.Scenario = []byte(`{"name": "hb", "steps": "not a list"}`)
	cs := byName(Payloads(r, Merge()))
	c, ok := cs["payload.limits"]
	if !ok || c.Status != record.StatusError || !strings.Contains(c.Detail, "does not parse") {
		t.Errorf("%+v", cs)
	}
	if cs["payload[hackbench].exit_code"].Status != record.StatusPass {
		t.Errorf("the payload itself is still judged: %+v", cs)
	}
}
