package payload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Extract turns a payload's output into metrics, by the definition's
// Output format: file is the results file (nil when the run has none or
// it was not written), stdout and stderr what the process printed. A
// parser that finds nothing is an error; the metrics come sorted by name,
// each with its hint's polarity and unit (higher is better without one).
func (d *Definition) Extract(stdout, stderr, file []byte) ([]record.PayloadMetric, error) {
	var raw map[string]float64
	var err error
	switch d.Output {
	case OutputExitCode:
		return nil, nil
	case OutputJSON:
		raw, err = firstJSON(file, stdout, stderr)
	case OutputHackbench:
		raw, err = ParseHackbench(string(stdout))
	case OutputCyclictest:
		// Its --json file when the run wrote one, else the summary lines
		// it prints with -q.
		if len(bytes.TrimSpace(file)) > 0 {
			raw, err = ParseCyclictestJSON(file)
		} else {
			raw, err = ParseCyclictestText(string(stdout))
		}
	case OutputStressNG:
		raw, err = ParseStressNGYAML(string(file))
	case OutputPerfBench:
		raw, err = ParsePerfBench(string(stdout))
	default:
		return nil, fmt.Errorf("payload %s: unknown output %q", d.Name, d.Output)
	}
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", d.Name, err)
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]record.PayloadMetric, 0, len(names))
	for _, n := range names {
		m := record.PayloadMetric{Name: n, Value: raw[n], Polarity: HigherBetter}
		if h, ok := d.Hint(n); ok {
			m.Polarity, m.Unit = h.Polarity, h.Unit
		}
		out = append(out, m)
	}
	return out, nil
}

// firstJSON reads the numeric leaves of the first non-empty document.
func firstJSON(docs ...[]byte) (map[string]float64, error) {
	for _, d := range docs {
		if len(bytes.TrimSpace(d)) > 0 {
			return ParseJSON(d)
		}
	}
	return nil, errors.New("no JSON output")
}

// finite keeps a parsed number only if it is one (no NaN or ±Inf, which
// strconv accepts and a record cannot carry).
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

var hackbenchTime = regexp.MustCompile(`(?m)^\s*Time:\s*([0-9]+(?:\.[0-9]+)?)\s*$`)

// ParseHackbench reads hackbench's result line, "Time: 1.234" (seconds),
// as time_s; with several (a run with repeats), the last one counts.
func ParseHackbench(stdout string) (map[string]float64, error) {
	m := hackbenchTime.FindAllStringSubmatch(stdout, -1)
	if len(m) == 0 {
		return nil, errors.New(`hackbench printed no "Time:" line`)
	}
	x, err := strconv.ParseFloat(m[len(m)-1][1], 64)
	if err != nil || !finite(x) {
		return nil, fmt.Errorf("hackbench time %q: not a number", m[len(m)-1][1])
	}
	return map[string]float64{"time_s": x}, nil
}

// cyclictestThread is one thread's entry of cyclictest's --json file.
type cyclictestThread struct {
	Cycles *float64 `json:"cycles"`
	Min    *float64 `json:"min"`
	Max    *float64 `json:"max"`
	Avg    *float64 `json:"avg"`
}

// ParseCyclictestJSON reads cyclictest's --json=FILE results (rt-tests ≥
// 2.0): per thread cycles, min, max and avg latency in µs. The metrics are
// over all threads: max_latency_us the largest max, min_latency_us the
// smallest min, avg_latency_us the cycle-weighted mean of the avgs, cycles
// the sum, threads the count.
func ParseCyclictestJSON(b []byte) (map[string]float64, error) {
	var doc struct {
		Thread map[string]cyclictestThread `json:"thread"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("cyclictest JSON: %w", err)
	}
	var ts []threadStats
	for id, t := range doc.Thread {
		if t.Cycles == nil || t.Min == nil || t.Max == nil || t.Avg == nil {
			return nil, fmt.Errorf("cyclictest JSON: thread %s lacks cycles, min, max or avg", id)
		}
		ts = append(ts, threadStats{*t.Cycles, *t.Min, *t.Avg, *t.Max})
	}
	return cyclictestMetrics(ts)
}

type threadStats struct{ cycles, min, avg, max float64 }

func cyclictestMetrics(ts []threadStats) (map[string]float64, error) {
	if len(ts) == 0 {
		return nil, errors.New("cyclictest reported no thread")
	}
	out := map[string]float64{"threads": float64(len(ts)), "min_latency_us": math.Inf(1), "max_latency_us": math.Inf(-1)}
	var cycles, weighted float64
	for _, t := range ts {
		for _, x := range []float64{t.cycles, t.min, t.avg, t.max} {
			if !finite(x) || x < 0 {
				return nil, fmt.Errorf("cyclictest: value %v out of range", x)
			}
		}
		if t.cycles == 0 {
			// A thread that never woke has no latencies (cyclictest
			// shows its initial min 1000000 and max 0).
			continue
		}
		if t.min > t.max {
			return nil, fmt.Errorf("cyclictest: a thread's min %v above its max %v", t.min, t.max)
		}
		out["min_latency_us"] = math.Min(out["min_latency_us"], t.min)
		out["max_latency_us"] = math.Max(out["max_latency_us"], t.max)
		cycles += t.cycles
		weighted += t.cycles * t.avg
	}
	if cycles == 0 {
		return nil, errors.New("cyclictest: no thread completed a cycle")
	}
	out["cycles"] = cycles
	out["avg_latency_us"] = weighted / cycles
	if !finite(out["avg_latency_us"]) || !finite(cycles) {
		return nil, errors.New("cyclictest: totals out of range")
	}
	return out, nil
}

var cyclictestLine = regexp.MustCompile(`T:\s*(\d+)\s*\(\s*\d+\)\s*P:\s*-?\d+\s*I:\s*\d+\s*C:\s*(\d+)\s*Min:\s*(\d+)\s*Act:\s*\d+\s*Avg:\s*(\d+)\s*Max:\s*(\d+)`)

// ParseCyclictestText reads cyclictest's per-thread lines ("T: 0 ( 866)
// P: 0 I:1000 C: 1982 Min: 11 Act: 69 Avg: 86 Max: 6748"), the last one
// of each thread (without -q it redraws them), into the metrics of
// ParseCyclictestJSON.
func ParseCyclictestText(stdout string) (map[string]float64, error) {
	last := map[string]threadStats{}
	for _, m := range cyclictestLine.FindAllStringSubmatch(stdout, -1) {
		var v [4]float64
		for i := range v {
			x, err := strconv.ParseFloat(m[i+2], 64)
			if err != nil {
				return nil, fmt.Errorf("cyclictest line %q: %w", m[0], err)
			}
			v[i] = x
		}
		last[m[1]] = threadStats{cycles: v[0], min: v[1], avg: v[2], max: v[3]}
	}
	ts := make([]threadStats, 0, len(last))
	for _, t := range last {
		ts = append(ts, t)
	}
	return cyclictestMetrics(ts)
}

// ParseStressNGYAML reads the metrics section of stress-ng's --yaml file:
// each stressor's numeric fields, named STRESSOR.FIELD with '-' turned
// into '_' (switch.bogo_ops_per_second_real_time). It reads only the
// shape stress-ng writes ("metrics:", then "- stressor: NAME" items of
// "key: value" lines), not YAML in general.
func ParseStressNGYAML(text string) (map[string]float64, error) {
	out := map[string]float64{}
	in := false
	stressor := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-"):
			// A top-level key: the metrics section starts or ends.
			in = trimmed == "metrics:"
			stressor = ""
			continue
		case !in:
			continue
		}
		item := false
		if rest, ok := strings.CutPrefix(trimmed, "- "); ok {
			trimmed, item = strings.TrimSpace(rest), true
		}
		key, val, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.Trim(strings.TrimSpace(val), `'"`)
		if item {
			stressor = ""
		}
		if key == "stressor" {
			stressor = strings.ReplaceAll(val, "-", "_")
			if !SimpleName(stressor) {
				stressor = ""
			}
			continue
		}
		if stressor == "" {
			continue
		}
		x, err := strconv.ParseFloat(val, 64)
		if err != nil || !finite(x) {
			continue
		}
		name := stressor + "." + strings.ReplaceAll(key, "-", "_")
		if SimpleName(name) {
			out[name] = x
		}
	}
	if len(out) == 0 {
		return nil, errors.New("stress-ng YAML has no metrics (was it run with --metrics and --yaml?)")
	}
	return out, nil
}

var (
	perfTotal  = regexp.MustCompile(`(?m)^\s*Total time:\s*([0-9]+(?:\.[0-9]+)?)\s*\[sec\]`)
	perfPerOp  = regexp.MustCompile(`(?m)^\s*([0-9]+(?:\.[0-9]+)?)\s+usecs/op\s*$`)
	perfOpsSec = regexp.MustCompile(`(?m)^\s*([0-9]+(?:\.[0-9]+)?)\s+ops/sec\s*$`)
)

// ParsePerfBench reads `perf bench sched` output: "Total time: X [sec]" as
// total_time_s, and the pipe benchmark's "X usecs/op" and "N ops/sec" as
// usecs_per_op and ops_per_s.
func ParsePerfBench(stdout string) (map[string]float64, error) {
	out := map[string]float64{}
	for name, re := range map[string]*regexp.Regexp{"total_time_s": perfTotal, "usecs_per_op": perfPerOp, "ops_per_s": perfOpsSec} {
		m := re.FindAllStringSubmatch(stdout, -1)
		if len(m) == 0 {
			continue
		}
		if x, err := strconv.ParseFloat(m[len(m)-1][1], 64); err == nil && finite(x) {
			out[name] = x
		}
	}
	if len(out) == 0 {
		return nil, errors.New(`perf bench printed no "Total time:" line`)
	}
	return out, nil
}

// maxLeaves bounds the metrics a JSON document gives.
const maxLeaves = 1000

// ParseJSON reads every numeric leaf of a JSON document, named by its
// dotted path (array elements by index: a.0.b). Leaves whose path is not
// a SimpleName are left out, and so are leaves past the first 1000.
func ParseJSON(b []byte) (map[string]float64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("JSON output: %w", err)
	}
	out := map[string]float64{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if len(out) >= maxLeaves {
			return
		}
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(join(k), x[k])
			}
		case []any:
			for i, e := range x {
				walk(join(strconv.Itoa(i)), e)
			}
		case json.Number:
			if f, err := x.Float64(); err == nil && finite(f) && SimpleName(prefix) {
				out[prefix] = f
			}
		}
	}
	walk("", doc)
	if len(out) == 0 {
		return nil, errors.New("JSON output has no numeric leaf")
	}
	return out, nil
}

// Tail keeps the last n lines of text, each cut to width bytes.
func Tail(text string, n, width int) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > width {
			// Cut bytes, then drop what the cut left of a UTF-8
			// sequence: a record's strings must be valid text.
			lines[i] = strings.ToValidUTF8(l[:width], "")
		} else {
			lines[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
	}
	return lines
}
