// Package docs holds the format documentation (scenario.md, scheduler.md)
// and the test that keeps it in step with the code: every field table
// names exactly the JSON fields of its Go type, and every example parses
// and validates.
package docs

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/judge/verdict"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/sched"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

// section returns the text under the heading "### `name`..." up to the
// next heading.
func section(doc, name string) (string, bool) {
	_, rest, ok := strings.Cut(doc, "\n### `"+name+"`")
	if !ok {
		return "", false
	}
	if i := strings.Index(rest, "\n#"); i >= 0 {
		rest = rest[:i]
	}
	return rest, true
}

var rowField = regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|")

// jsonFields are a struct type's JSON field names.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// checkTables compares each type's table in doc with its JSON fields.
func checkTables(t *testing.T, file string, types map[string]any) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, v := range types {
		sec, ok := section(doc, name)
		if !ok {
			t.Errorf("%s: no section for %s", file, name)
			continue
		}
		var documented []string
		for _, m := range rowField.FindAllStringSubmatch(sec, -1) {
			documented = append(documented, m[1])
		}
		want := jsonFields(reflect.TypeOf(v))
		for _, f := range want {
			if !slices.Contains(documented, f) {
				t.Errorf("%s: %s.%s is not documented", file, name, f)
			}
		}
		for _, f := range documented {
			if !slices.Contains(want, f) {
				t.Errorf("%s: %s documents %q, which the code does not have", file, name, f)
			}
		}
		if !slices.Equal(documented, want) && len(documented) == len(want) {
			t.Errorf("%s: %s fields in another order than the code's: %v, code %v", file, name, documented, want)
		}
	}
}

var example = regexp.MustCompile("(?s)```json ([a-z]+)\n(.*?)```")

// examples returns the fenced examples of a kind ("```json KIND").
func examples(t *testing.T, file, kind string) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range example.FindAllStringSubmatch(string(b), -1) {
		if m[1] == kind {
			out = append(out, m[2])
		}
	}
	return out
}

func TestScenarioDoc(t *testing.T) {
	checkTables(t, "scenario.md", map[string]any{
		"Scenario": scenario.Scenario{}, "Step": scenario.Step{}, "Hold": scenario.Hold{}, "CgroupDef": scenario.CgroupDef{},
		"CpusetSpec": scenario.CpusetSpec{}, "OverlapSpec": scenario.OverlapSpec{}, "Op": scenario.Op{},
		"Spec": workload.Spec{}, "Policy": workload.Policy{}, "Affinity": workload.Affinity{},
		"MemPolicy": workload.MemPolicy{}, "Phase": workload.Phase{},
	})
	topo := topology.Spec{NUMANodes: 1, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(topology.DefaultRemoteDistance)
	scs := examples(t, "scenario.md", "scenario")
	if len(scs) < 2 {
		t.Fatalf("%d scenario examples", len(scs))
	}
	for _, ex := range scs {
		sc, err := scenario.Parse([]byte(ex))
		if err != nil {
			t.Errorf("example does not parse: %v\n%s", err, ex)
			continue
		}
		if err := sc.Validate(topo, 2); err != nil {
			t.Errorf("example %s invalid on %s: %v", sc.Name, topo.Name, err)
		}
	}
	works := examples(t, "scenario.md", "work")
	if len(works) < 2 {
		t.Fatalf("%d work examples", len(works))
	}
	for _, ex := range works {
		// A work group is checked inside a one-cgroup scenario.
		sc, err := scenario.Parse([]byte(`{"name": "w", "steps": [{"cgroups": [{"name": "a", "works": [` + ex + `]}]}]}`))
		if err != nil {
			t.Errorf("work example does not parse: %v\n%s", err, ex)
			continue
		}
		if err := sc.Validate(topo, 2); err != nil {
			t.Errorf("work example invalid: %v\n%s", err, ex)
		}
	}
	// Every work type named in the text exists.
	b, _ := os.ReadFile("scenario.md")
	for _, m := range regexp.MustCompile(`"type": "([A-Za-z]+)"`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := workload.LookupType(m[1]); !ok {
			t.Errorf("scenario.md uses work type %q, which does not exist", m[1])
		}
	}
}

func TestSchedulerDoc(t *testing.T) {
	checkTables(t, "scheduler.md", map[string]any{
		"Definition": sched.Definition{}, "Flag": sched.Flag{}, "Thresholds": record.Thresholds{},
	})
	// The thresholds' default column is verdict.Defaults().
	b, _ := os.ReadFile("scheduler.md")
	sec, _ := section(string(b), "Thresholds")
	def := reflect.ValueOf(verdict.Defaults())
	for i, n := range record.ThresholdNames() {
		want := "off"
		if f := def.Field(i); !f.IsNil() {
			want = fmt.Sprint(f.Elem().Interface())
		}
		row := regexp.MustCompile("(?m)^\\| `" + n + "` \\| [^|]+ \\| ([^|]+) \\|").FindStringSubmatch(sec)
		if row == nil || strings.TrimSpace(row[1]) != want {
			t.Errorf("scheduler.md: %s default %q, code %q", n, row, want)
		}
	}
	exs := examples(t, "scheduler.md", "scheduler")
	if len(exs) < 2 {
		t.Fatalf("%d scheduler examples", len(exs))
	}
	for _, ex := range exs {
		if _, err := sched.Parse([]byte(ex)); err != nil {
			t.Errorf("example does not parse: %v\n%s", err, ex)
		}
	}
}
