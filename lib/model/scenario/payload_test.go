package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestPayloadOpsValidate(t *testing.T) {
	tp := topo(1, 2, 2, 1)
	base := func(ops string) string {
		return `{"name": "p", "backdrop": [{"name": "bench", "works": []}], "steps": [{"ops": [` + ops + `]}]}`
	}
	good := base(`{"op": "run_payload", "cgroup": "bench", "payload": "hackbench", "args": ["-l", "5"]},
		{"op": "wait_payload", "cgroup": "bench", "payload": "hackbench", "duration_s": 5},
		{"op": "kill_payload", "cgroup": "bench", "payload": "hackbench"}`)
	s, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(tp, 2); err != nil {
		t.Fatal(err)
	}
	if op, ok := s.PayloadRun("hackbench", "bench"); !ok || op.Args[1] != "5" {
		t.Errorf("PayloadRun: %+v %v", op, ok)
	}
	defs, err := s.Payloads()
	if err != nil || len(defs) != 1 || defs[0].Binary != "hackbench" {
		t.Errorf("Payloads: %v %v", defs, err)
	}
	for ops, want := range map[string]string{
		`{"op": "wait_payload", "cgroup": "bench", "payload": "hackbench"}`:                                                    "no run_payload of hackbench in bench",
		`{"op": "run_payload", "cgroup": "bench", "payload": "nosuch"}`:                                                        `payload "nosuch": no such built-in`,
		`{"op": "run_payload", "cgroup": "other", "payload": "hackbench"}`:                                                     `no cgroup "other"`,
		`{"op": "run_payload", "cgroup": "bench"}`:                                                                             "needs payload",
		`{"op": "run_payload", "cgroup": "bench", "payload": "hackbench", "checks": {"metrics": {"t": {"min": 2, "max": 1}}}}`: "min 2 above max 1",
		`{"op": "run_payload", "cgroup": "bench", "payload_def": {"name": "x", "binary": "b", "output": "csv"}}`:               `output "csv"`,
	} {
		s, err := Parse([]byte(base(ops)))
		if err == nil {
			err = s.Validate(tp, 2)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", ops, err, want)
		}
	}
}

func TestPayloadWaits(t *testing.T) {
	s, err := Parse([]byte(`{"name": "w", "backdrop": [{"name": "bench", "works": []}], "steps": [
		{"ops": [{"op": "run_payload", "cgroup": "bench", "payload": "hackbench"},
		         {"op": "run_payload", "cgroup": "bench", "payload": "cyclictest"}]},
		{"ops": [{"op": "wait_payload", "cgroup": "bench", "payload": "hackbench", "duration_s": 5},
		         {"op": "wait_payload", "cgroup": "bench", "payload": "cyclictest"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.PayloadWaits(), 5*time.Second+DefaultPayloadWait; got != want {
		t.Errorf("waits %v, want %v (5 s + the default)", got, want)
	}
	if got := Catalog()[0].PayloadWaits(); got != 0 {
		t.Errorf("a scenario without payloads waits %v", got)
	}
}
