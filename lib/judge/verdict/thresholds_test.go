package verdict

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/jsontest"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestMergeLayers(t *testing.T) {
	job := &record.Thresholds{MaxGapMS: ptr(3000.0), Isolation: ptr(false)}
	cli := &record.Thresholds{MaxGapMS: ptr(500.0)}
	m := Merge(job, nil, cli)
	if *m.MaxGapMS != 500 || *m.Isolation || *m.MaxSpreadPct != 35 || *m.MinFairSharePct != 40 || m.MaxThroughputCV != nil {
		t.Errorf("%+v", m)
	}
	if _, err := ParseThresholds([]byte(`{"max_gap": 1}`)); err == nil {
		t.Error("unknown threshold name accepted")
	}
	var b strings.Builder
	WriteThresholds(&b, m)
	if !strings.Contains(b.String(), "max_gap_ms               500") || !strings.Contains(b.String(), "max_throughput_cv        off") {
		t.Errorf("%s", b.String())
	}
}

// TestNullSwitchesOff (issue 17, item 10): a limit given as null in a layer
// switches its check off over the defaults and every earlier layer, and a
// later layer can set it again.
func TestNullSwitchesOff(t *testing.T) {
	sched := &record.Thresholds{MaxP99WakeLatencyUS: ptr(500.0)}
	job, err := ParseThresholds([]byte(`{"max_gap_ms": null, "max_p99_wake_latency_us": null, "min_busy_pct": 50}`))
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(sched, job)
	if m.MaxGapMS != nil || m.MaxP99WakeLatencyUS != nil || m.MinBusyPct == nil || *m.MinBusyPct != 50 || m.Off != nil {
		t.Errorf("merged %+v: null did not switch max_gap_ms and max_p99_wake_latency_us off", m)
	}
	var b strings.Builder
	WriteThresholds(&b, m)
	if !strings.Contains(b.String(), "max_gap_ms               off") {
		t.Errorf("--show-thresholds:\n%s", b.String())
	}
	// Set again by a later layer.
	if m := Merge(job, &record.Thresholds{MaxGapMS: ptr(9.0)}); m.MaxGapMS == nil || *m.MaxGapMS != 9 {
		t.Errorf("a later layer did not switch max_gap_ms back on: %+v", m)
	}
	// Composed into one layer (a job record), the off survives JSON.
	c := Compose(sched, job)
	b2, _ := json.Marshal(c)
	var back record.Thresholds
	if err := json.Unmarshal(b2, &back); err != nil {
		t.Fatal(err)
	}
	if m := Merge(&back); m.MaxGapMS != nil || m.MaxP99WakeLatencyUS != nil || *m.MinBusyPct != 50 {
		t.Errorf("composed %s merges to %+v", b2, m)
	}
}

// TestThresholdsErrors (issue 17, item 10): negative limits, shares above
// 100 % and an empty file are clear errors.
func TestThresholdsErrors(t *testing.T) {
	for in, want := range map[string]string{
		``:                            "empty",
		" \n":                         "empty",
		`{"max_gap_ms": -5}`:          "max_gap_ms is -5; a limit must be ≥ 0",
		`{"max_local_dsq_depth": -1}`: "max_local_dsq_depth is -1",
		`{"min_busy_pct": 150}`:       "min_busy_pct is 150; a percentage must be ≤ 100",
		`{"sustained_samples": 0}`:    "sustained_samples is 0",
		`{"off": ["max_gap"]}`:        `unknown limit "max_gap"`,
		`{"max_gap_ms": 1, "off": ["max_gap_ms"]}`: "both set and switched off",
		`null`:           "thresholds: null; want a JSON object",
		`{"max_gap": 1}`: `unknown limit "max_gap"`,
	} {
		_, err := ParseThresholds([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
	// Decoding errors say where (lib/base/jsonstrict).
	for in, want := range map[string]string{
		`{"max_gap_ms": "1"}`:  "thresholds: max_gap_ms: want a number, got a string",
		`{"max_gap_ms": 1} {}`: "thresholds: line 1, column 19: unexpected data after the JSON object",
		`{"payload": {"hackbench": {"metrics": {"time_s": {"maxx": 1}}}}}`: `thresholds: payload: hackbench.metrics.time_s: unknown field "maxx"`,
		`{"payload": {"hackbench": {"exit_code": "0"}}}`:                   "thresholds: payload: hackbench.exit_code: want an integer, got a string",
	} {
		if _, err := ParseThresholds([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	p := filepath.Join(t.TempDir(), "limits.json")
	os.WriteFile(p, nil, 0o644)
	if _, err := LoadThresholds(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

// FuzzParseThresholds: whatever ParseThresholds accepts, encoding/json
// accepts too with the same value (the strict parser may only refuse more);
// the value survives a marshal round trip; and Merge applies exactly the
// set fields over the defaults and switches the Off ones off, idempotently.
func FuzzParseThresholds(f *testing.F) {
	f.Add([]byte(`{"max_gap_ms": 10}`))
	f.Add([]byte(`{"isolation": "yes"}`))
	f.Add([]byte(`{"not_starved": false, "max_spread_pct": 3.5, "max_gap_ms": 0}`))
	f.Add([]byte(`{"max_gap_ms": 10} {"max_gap_ms": 20}`))
	f.Add([]byte(`{"max_gap_ms": null, "isolation": null, "min_busy_pct": 20}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		th, err := ParseThresholds(b)
		if err != nil {
			return
		}
		jsontest.StrictRoundTrip(t, b, th, ParseThresholds)
		if err := Validate(th); err != nil {
			t.Fatalf("%q accepted but invalid: %v", b, err)
		}
		m := Merge(th)
		got, set, def := reflect.ValueOf(m), reflect.ValueOf(*th), reflect.ValueOf(Defaults())
		for i, n := range record.ThresholdNames() {
			want := def.Field(i)
			switch {
			case !set.Field(i).IsNil():
				want = set.Field(i)
			case slices.Contains(th.Off, n):
				want = reflect.Zero(want.Type())
			}
			if !reflect.DeepEqual(got.Field(i).Interface(), want.Interface()) {
				t.Fatalf("%q: merged %s = %v, want %v", b, n, got.Field(i), want)
			}
		}
		if m.Off != nil {
			t.Fatalf("merged limits keep an off list %v", m.Off)
		}
		// A merged result is absolute: as a layer it says nothing of what
		// is off, so only a layer without offs merges back to itself.
		if again := Merge(&m); len(th.Off) == 0 && !reflect.DeepEqual(again, m) {
			t.Fatalf("merge is not idempotent: %+v then %+v", m, again)
		}
		if twice := Merge(th, th); !reflect.DeepEqual(twice, m) {
			t.Fatalf("merging a layer twice changed the result: %+v vs %+v", m, twice)
		}
		if c := Merge(Compose(th, th)); !reflect.DeepEqual(c, m) {
			t.Fatalf("Merge(Compose) %+v differs from Merge %+v", c, m)
		}
	})
}
