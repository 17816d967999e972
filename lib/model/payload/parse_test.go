package payload

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata files are real output of the Debian tools (rt-tests 2.4,
// stress-ng 0.15.06, linux-perf 6.1) captured on this host.
func TestParseRealOutputs(t *testing.T) {
	for _, c := range []struct {
		def, stdout, file string
		want              map[string]float64
	}{
		{"hackbench", "hackbench.txt", "", map[string]float64{"time_s": 0.012}},
		{"cyclictest", "", "cyclictest.json", map[string]float64{"max_latency_us": 6748, "min_latency_us": 11, "threads": 2, "cycles": 3306}},
		{"cyclictest", "cyclictest.txt", "", map[string]float64{"max_latency_us": 580102, "min_latency_us": 11, "threads": 2, "cycles": 1001}},
		{"stress-ng", "", "stress-ng-switch.yaml", map[string]float64{"switch.bogo_ops": 325373, "switch.nanosecs_per_context_switch_pipe_method": 12293.361405}},
		{"perf-sched-messaging", "perf-messaging.txt", "", map[string]float64{"total_time_s": 0.096}},
		{"perf-sched-pipe", "perf-pipe.txt", "", map[string]float64{"total_time_s": 0.126, "usecs_per_op": 6.32555, "ops_per_s": 158089}},
	} {
		d, ok := Lookup(c.def)
		if !ok {
			t.Fatalf("no built-in %s", c.def)
		}
		var stdout, file []byte
		if c.stdout != "" {
			stdout = []byte(read(t, c.stdout))
		}
		if c.file != "" {
			file = []byte(read(t, c.file))
		}
		ms, err := d.Extract(stdout, nil, file)
		if err != nil {
			t.Fatalf("%s: %v", c.def, err)
		}
		got := map[string]float64{}
		for _, m := range ms {
			got[m.Name] = m.Value
			if m.Polarity != LowerBetter && m.Polarity != HigherBetter {
				t.Errorf("%s %s: polarity %q", c.def, m.Name, m.Polarity)
			}
		}
		for n, want := range c.want {
			if math.Abs(got[n]-want) > 1e-9 {
				t.Errorf("%s %s = %v, want %v (all: %v)", c.def, n, got[n], want, got)
			}
		}
		// Every default check names a metric the real output has.
		for n, l := range d.Checks.Metrics {
			if _, ok := got[n]; !ok && l.Exists != nil && *l.Exists {
				t.Errorf("%s: default check of %s, which its output lacks (%v)", c.def, n, got)
			}
		}
	}
}

func TestHintPolarity(t *testing.T) {
	d, _ := Lookup("cyclictest")
	ms, err := d.Extract(nil, nil, []byte(read(t, "cyclictest.json")))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "max_latency_us" && (m.Polarity != LowerBetter || m.Unit != "µs") {
			t.Errorf("max_latency_us: %+v", m)
		}
	}
	sn, _ := Lookup("stress-ng")
	if h, ok := sn.Hint("cpu.bogo_ops_per_second_real_time"); !ok || h.Polarity != HigherBetter {
		t.Errorf("wildcard hint: %+v %v", h, ok)
	}
	if _, ok := sn.Hint(".bogo_ops"); ok {
		t.Error("a wildcard matched an empty prefix")
	}
}

func TestParseFailures(t *testing.T) {
	for name, f := range map[string]func() error{
		"hackbench without Time": func() error { _, err := ParseHackbench("Running in process mode\n"); return err },
		"hackbench Time: NaN":    func() error { _, err := ParseHackbench("Time: NaN\n"); return err },
		"cyclictest no threads":  func() error { _, err := ParseCyclictestText("# /dev/cpu_dma_latency set to 0us\n"); return err },
		"cyclictest JSON torn":   func() error { _, err := ParseCyclictestJSON([]byte(`{"thread": {"0": {"cycles": 3`)); return err },
		"cyclictest JSON field":  func() error { _, err := ParseCyclictestJSON([]byte(`{"thread": {"0": {"cycles": 3}}}`)); return err },
		"stress-ng no metrics":   func() error { _, err := ParseStressNGYAML("---\nsystem-info:\n  cpus: 2\n"); return err },
		"perf nothing":           func() error { _, err := ParsePerfBench("# Running 'sched/messaging' benchmark:\n"); return err },
		"json no numbers":        func() error { _, err := ParseJSON([]byte(`{"a": "x"}`)); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, d := range Builtins() {
		if err := d.Validate(); err != nil {
			t.Errorf("built-in %s: %v", d.Name, err)
		}
	}
	for _, bad := range []string{
		`{"name": "x", "output": "json"}`,
		`{"name": "x", "binary": "b", "output": "yaml"}`,
		`{"name": "x", "binary": "b", "output": "json", "metrics": [{"name": "t", "polarity": "up"}]}`,
		`{"name": "a b", "binary": "b", "output": "json"}`,
		`{"name": "x", "binary": "b", "output": "json", "typo": 1}`,
		`{"name": "x", "binary": "b", "output": "exit_code", "checks": {"metrics": {"t": {"max": 1}}}}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	d, err := Parse([]byte(`{"name": "mine", "binary": "/bin/true", "output": "exit_code"}`))
	if err != nil || d.Name != "mine" {
		t.Fatalf("%v %+v", err, d)
	}
}

func TestArgv(t *testing.T) {
	d, _ := Lookup("cyclictest")
	argv := d.Argv("/include/cyclictest", nil, "/tmp/out.json")
	if argv[0] != "/include/cyclictest" || argv[len(argv)-1] != "--json=/tmp/out.json" || !d.UsesOutFile(nil) {
		t.Errorf("%v", argv)
	}
	if got := d.Argv("c", []string{"-D", "1"}, "/x"); strings.Join(got, " ") != "c -D 1" || d.UsesOutFile([]string{"-D", "1"}) {
		t.Errorf("%v", got)
	}
}

func TestTail(t *testing.T) {
	got := Tail("a\nb\nc\n", 2, 10)
	if strings.Join(got, ",") != "b,c" {
		t.Errorf("%q", got)
	}
	if got := Tail("ééé", 1, 3); got[0] != "é" {
		t.Errorf("cut UTF-8: %q", got)
	}
	if Tail("", 3, 10) != nil {
		t.Error("empty text has lines")
	}
}

// FuzzHackbench: a "Time:" line the parser accepts round-trips its value;
// any text yields either an error or exactly time_s, finite and ≥ 0,
// whose digits are on a Time: line of the text.
func FuzzHackbench(f *testing.F) {
	f.Add(read(f, "hackbench.txt"), 1.5)
	f.Add("Time: 1e5\n", 0.0)
	f.Add("Time:\n", 123.456)
	f.Fuzz(func(t *testing.T, text string, x float64) {
		m, err := ParseHackbench(text)
		if err == nil {
			if len(m) != 1 || m["time_s"] < 0 || !finite(m["time_s"]) {
				t.Fatalf("%q: %v", text, m)
			}
			if !strings.Contains(text, "Time:") {
				t.Fatalf("a time from a text without Time: %q", text)
			}
		}
		if x < 0 || !finite(x) || x > 1e12 {
			return
		}
		line := fmt.Sprintf("Time: %.3f", x)
		m, err = ParseHackbench(text + "\n" + line + "\n")
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if want, _ := ParseHackbench(line); m["time_s"] != want["time_s"] || math.Abs(m["time_s"]-x) > 0.0005+x*1e-12 {
			t.Fatalf("%q after %q: %v, want %v", line, text, m, x)
		}
	})
}

// FuzzCyclictest: threads encoded as cyclictest's JSON file and as its
// summary lines parse to the same metrics, bounded by the threads' own
// values (min ≤ avg ≤ max, cycles the sum, threads the count); arbitrary
// input never yields an inconsistent set.
func FuzzCyclictest(f *testing.F) {
	f.Add([]byte(read(f, "cyclictest.json")), uint16(3), uint32(100), uint16(10), uint16(20), uint32(900))
	f.Add([]byte(read(f, "cyclictest.txt")), uint16(1), uint32(0), uint16(0), uint16(0), uint32(0))
	f.Fuzz(func(t *testing.T, in []byte, n uint16, cycles uint32, lo, avg uint16, hi uint32) {
		consistent := func(m map[string]float64) {
			if m["min_latency_us"] > m["max_latency_us"] || m["threads"] < 1 || m["cycles"] <= 0 {
				t.Fatalf("inconsistent: %v", m)
			}
		}
		if m, err := ParseCyclictestJSON(in); err == nil {
			consistent(m)
		}
		if m, err := ParseCyclictestText(string(in)); err == nil {
			consistent(m)
		}
		threads := int(n%8) + 1
		l, a, h := float64(lo), float64(lo)+float64(avg), float64(lo)+float64(avg)+float64(hi)
		js := map[string]any{}
		var text strings.Builder
		for i := range threads {
			c := float64(cycles) + float64(i) + 1
			js[fmt.Sprint(i)] = map[string]any{"cycles": c, "min": l, "max": h, "avg": a}
			fmt.Fprintf(&text, "T: %d (%5d) P: 0 I:1000 C:%7.0f Min:%7.0f Act:%5d Avg:%5.0f Max:%8.0f\n", i, 100+i, c, l, 5, a, h)
		}
		b, _ := json.Marshal(map[string]any{"thread": js})
		mj, err := ParseCyclictestJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		mt, err := ParseCyclictestText(text.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, text.String())
		}
		for _, k := range []string{"threads", "cycles", "min_latency_us", "max_latency_us", "avg_latency_us"} {
			if math.Abs(mj[k]-mt[k]) > 1e-6*math.Max(1, mj[k]) {
				t.Fatalf("%s: JSON %v, text %v", k, mj[k], mt[k])
			}
		}
		if mj["threads"] != float64(threads) || mj["min_latency_us"] != l || mj["max_latency_us"] != h || math.Abs(mj["avg_latency_us"]-a) > 1e-6*math.Max(1, a) {
			t.Fatalf("%v from %d threads of %v/%v/%v", mj, threads, l, a, h)
		}
	})
}

// FuzzStressNG: stressors written in stress-ng's YAML shape round-trip
// every numeric field; any input yields only simple names with finite
// values, each STRESSOR.FIELD.
func FuzzStressNG(f *testing.F) {
	f.Add(read(f, "stress-ng-switch.yaml"), "cpu", 12.5, "bogo-ops")
	f.Add("metrics:\n  - stressor: x\n    a: 1\n", "sw-itch", -3.0, "max-rss")
	f.Fuzz(func(t *testing.T, text, stressor string, x float64, key string) {
		if m, err := ParseStressNGYAML(text); err == nil {
			for n, v := range m {
				if !SimpleName(n) || !strings.Contains(n, ".") || !finite(v) {
					t.Fatalf("%q = %v", n, v)
				}
			}
		}
		s, k := strings.ReplaceAll(stressor, "-", "_"), strings.ReplaceAll(key, "-", "_")
		if !SimpleName(s) || !SimpleName(s+"."+k) || strings.ContainsAny(stressor+key, ":#'\"") || !finite(x) ||
			strings.TrimSpace(key) != key || strings.TrimSpace(stressor) != stressor || key == "stressor" {
			return
		}
		doc := fmt.Sprintf("---\nsystem-info:\n      cpus: 2\n\nmetrics:\n    - stressor: %s\n      %s: %v\n      other: 1\n...\n", stressor, key, x)
		m, err := ParseStressNGYAML(doc)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if m[s+"."+k] != x {
			t.Fatalf("%s.%s = %v, want %v\n%s", s, k, m[s+"."+k], x, doc)
		}
		if _, ok := m["system_info.cpus"]; ok {
			t.Fatal("read outside the metrics section")
		}
	})
}

// FuzzJSON: a flat object of simple names round-trips; any document
// yields at most maxLeaves simple names with finite values.
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"a": {"b": [1, 2.5]}, "c": "x"}`), "lat", 3.25)
	f.Add([]byte(read(f, "cyclictest.json")), "x", 0.0)
	f.Add([]byte(`{}`), strings.Repeat("0", 61), -119.0) // found by make fuzz: a path over 64 bytes
	f.Fuzz(func(t *testing.T, in []byte, key string, x float64) {
		if m, err := ParseJSON(in); err == nil {
			if len(m) == 0 || len(m) > maxLeaves {
				t.Fatalf("%d leaves", len(m))
			}
			for n, v := range m {
				if !SimpleName(n) || !finite(v) {
					t.Fatalf("%q = %v", n, v)
				}
			}
		}
		// The leaf's name is its dotted path: a key is kept only when the
		// whole path is a simple name (a 61-byte key under "top" is not).
		if !SimpleName("top."+key) || strings.Contains(key, ".") || !finite(x) {
			return
		}
		b, _ := json.Marshal(map[string]any{"top": map[string]float64{key: x}})
		m, err := ParseJSON(b)
		if err != nil || m["top."+key] != x {
			t.Fatalf("%s: %v %v", b, m, err)
		}
	})
}

// FuzzPerfBench: a value printed the way perf bench prints it round-trips.
func FuzzPerfBench(f *testing.F) {
	f.Add(read(f, "perf-pipe.txt"), 0.5, 6.25)
	f.Fuzz(func(t *testing.T, text string, total, perOp float64) {
		if m, err := ParsePerfBench(text); err == nil {
			for n, v := range m {
				if v < 0 || !finite(v) {
					t.Fatalf("%s = %v", n, v)
				}
			}
		}
		if total < 0 || perOp < 0 || total > 1e9 || perOp > 1e9 || !finite(total) || !finite(perOp) {
			return
		}
		out := fmt.Sprintf("# Running 'sched/pipe' benchmark:\n\n     Total time: %.3f [sec]\n\n      %f usecs/op\n", total, perOp)
		m, err := ParsePerfBench(out)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(m["total_time_s"]-total) > 0.0005+total*1e-12 || math.Abs(m["usecs_per_op"]-perOp) > 0.0000005+perOp*1e-12 {
			t.Fatalf("%v from %v %v", m, total, perOp)
		}
	})
}
