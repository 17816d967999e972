package scenario

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/jsontest"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/topology"
	"github.com/ktstr-go/ktstr/lib/model/workload"
)

func topo(n, l, c, t int) *record.Topology {
	return topology.Spec{NUMANodes: n, LLCs: l, CoresPerLLC: c, ThreadsPerCore: t}.Record(20)
}

func TestCatalog(t *testing.T) {
	cat := Catalog()
	if len(cat) < 60 {
		t.Fatalf("%d catalog scenarios, want ≥ 60", len(cat))
	}
	if n := len(Categories()); n != 12 {
		t.Errorf("%d categories, want 12 (ktstr's 11 and payload)", n)
	}
	names := map[string]bool{}
	for _, s := range cat {
		if names[s.Name] || s.Description == "" || s.Category == "" {
			t.Errorf("%s: duplicate or undescribed", s.Name)
		}
		names[s.Name] = true
		// Every scenario validates on every topology it fits.
		for _, tp := range []*record.Topology{topo(1, 1, 2, 1), topo(1, 2, 2, 1), topo(2, 4, 2, 1), topo(1, 2, 4, 2)} {
			if ok, _ := s.Fits(tp); !ok {
				continue
			}
			if err := s.Validate(tp, 2); err != nil {
				t.Errorf("%s on %s: %v", s.Name, tp.Name, err)
			}
		}
	}
	if _, ok := Lookup("cgroup_steady"); !ok {
		t.Error("Lookup cgroup_steady")
	}
	// Copies: changing one does not change the catalog.
	cat[0].Name = "changed"
	if Catalog()[0].Name == "changed" {
		t.Error("Catalog returns shared scenarios")
	}
}

func TestCpusets(t *testing.T) {
	tp := topo(2, 4, 2, 1) // 8 CPUs: LLCs 0-1 2-3 4-5 6-7; usable 0-6
	one, two := 1, 1
	cases := []struct {
		spec CpusetSpec
		want string
	}{
		{CpusetSpec{LLC: &one}, "2-3"},
		{CpusetSpec{NUMA: &two}, "4-7"},
		{CpusetSpec{Range: &[2]float64{0, 0.5}}, "0-3"},
		{CpusetSpec{Disjoint: &[2]int{1, 2}}, "3-6"},
		{CpusetSpec{Overlap: &OverlapSpec{Index: 1, Of: 2, Frac: 0.5}}, "0-1,3-6"},
		{CpusetSpec{Exact: "1,3"}, "1,3"},
	}
	for _, c := range cases {
		got, err := ResolveCpuset(&c.spec, tp)
		if err != nil || topology.FormatList(got) != c.want {
			t.Errorf("%+v → %v %v, want %s", c.spec, topology.FormatList(got), err, c.want)
		}
	}
	bad := map[string]CpusetSpec{
		"cpuset.llc: index 9 out of range 0..3": {LLC: ptr(9)},
		"cpuset.numa: node 2 out of range 0..1": {NUMA: ptr(2)},
		"cpuset.range":                          {Range: &[2]float64{0.5, 0.2}},
		"cpuset.disjoint: [2, 2]":               {Disjoint: &[2]int{2, 2}},
		"cpuset.exact: cpu 8 out of range 0..7": {Exact: "8"},
		"exactly one of llc, numa, range":       {},
		"cpuset.overlap":                        {Overlap: &OverlapSpec{Index: 0, Of: 2, Frac: 2}},
	}
	for want, spec := range bad {
		if _, err := ResolveCpuset(&spec, tp); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", spec, err, want)
		}
	}
}

func ptr(i int) *int { return &i }

func TestValidateNamesTheField(t *testing.T) {
	tp := topo(1, 2, 2, 1)
	cases := map[string]string{
		`{"name":"x","steps":[{"cgroups":[{"name":"a","cpuset":{"llc":5}}]}]}`:                           "scenario x: steps[0].cgroups[0]: cgroup a: cpuset.llc: index 5 out of range 0..1",
		`{"name":"x","steps":[{"cgroups":[{"name":"a","works":[{"type":"Spinny"}]}]}]}`:                  "cgroup a: works[0]: unknown work type \"Spinny\"",
		`{"name":"x","steps":[{"cgroups":[{"name":"a","works":[{"type":"PipeIo","workers":3}]}]}]}`:      "PipeIo requires num_workers divisible by 2, got 3",
		`{"name":"x","steps":[{"ops":[{"op":"remove_cgroup","cgroup":"ghost"}]}]}`:                       "steps[0].ops[0]: remove_cgroup: no cgroup \"ghost\" at this point",
		`{"name":"x","backdrop":[{"name":"b"}],"steps":[{"ops":[{"op":"remove_cgroup","cgroup":"b"}]}]}`: "cannot remove backdrop cgroup b",
		`{"name":"x","backdrop":[{"name":"b"}],"steps":[{"cgroups":[{"name":"b"}]}]}`:                    "cgroup b shadows a backdrop cgroup",
		`{"name":"x","steps":[{"ops":[{"op":"explode"}]}]}`:                                              `unknown op "explode"`,
		`{"name":"x","steps":[{"hold":{"frac":0.7}},{"hold":{"frac":0.7}}]}`:                             "hold fractions add up to 1.40 > 1",
	}
	for in, want := range cases {
		s, err := Parse([]byte(in))
		if err == nil {
			err = s.Validate(tp, 2)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", in, err, want)
		}
	}
	if _, err := Parse([]byte(`{"name":"x","steps":[{},{"cgroupz":[]}]}`)); err == nil || err.Error() != `scenario: steps[1]: unknown field "cgroupz"` {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := Parse([]byte(`{"name":"x","steps":[{"cgroups":[{"name":"a","works":[{"type":"CpuSpin","workers":"2"}]}]}]}`)); err == nil ||
		err.Error() != "scenario: steps[0].cgroups[0].works[0].workers: want an integer, got a string" {
		t.Errorf("type error: %v", err)
	}
	// A file's errors name it.
	f := filepath.Join(t.TempDir(), "mine.json")
	os.WriteFile(f, []byte(`{"name":"x","steps":[{}]} {}`), 0o644)
	if _, err := Load(f); err == nil || err.Error() != "scenario "+f+": line 1, column 27: unexpected data after the JSON object" {
		t.Errorf("file: %v", err)
	}
	if _, err := Parse([]byte(`{"steps":[{}]}`)); err == nil || !strings.Contains(err.Error(), "name is required") {
		t.Errorf("no name: %v", err)
	}
}

// TestDuplicateCgroupNames: a cgroup defined while one of the same name
// (in any spelling of its path) exists is an error naming the field. The
// engine keys cgroups by name: it would lose the first one's workers and
// the run would still pass with fewer of them (issue 17, bug 3).
func TestDuplicateCgroupNames(t *testing.T) {
	tp := topo(1, 2, 2, 1)
	bad := map[string]string{
		`{"name":"dup","steps":[{"cgroups":[{"name":"a"},{"name":"a"}]}]}`:                                     "scenario dup: steps[0].cgroups[1].name: cgroup a defined twice (steps[0].cgroups[0] has it",
		`{"name":"dup","steps":[{"cgroups":[{"name":"a"}]},{"cgroups":[{"name":"a"}]}]}`:                       "steps[1].cgroups[0].name: cgroup a defined twice (steps[0].cgroups[0] has it",
		`{"name":"dup","steps":[{"cgroups":[{"name":"a"},{"name":"a","host":true}]}]}`:                         "steps[0].cgroups[1].name: cgroup a defined twice",
		`{"name":"dup","steps":[{"cgroups":[{"name":"c","per_cpu":true},{"name":"c_1"}]}]}`:                    "steps[0].cgroups[1].name: cgroup c_1 defined twice (steps[0].cgroups[0] has it",
		`{"name":"dup","backdrop":[{"name":"b"},{"name":"b"}],"steps":[{}]}`:                                   "backdrop[1].name: cgroup b defined twice (backdrop[0] has it",
		`{"name":"dup","steps":[{"cgroups":[{"name":"a"}]},{"ops":[{"op":"add_cgroup","def":{"name":"a"}}]}]}`: "steps[1].ops[0]: def.name: cgroup a defined twice (steps[0].cgroups[0] has it",
		`{"name":"dup","steps":[{"ops":[{"op":"add_cgroup","def":{"name":"a"}}],"cgroups":[{"name":"a"}]}]}`:   "steps[0].cgroups[0].name: cgroup a defined twice (steps[0].ops[0] has it",
		`{"name":"dup","steps":[{"cgroups":[{"name":"a/b"},{"name":"a//b"}]}]}`:                                `steps[0].cgroups[1].name: cgroup "a//b": write it as "a/b"`,
		`{"name":"dup","steps":[{"cgroups":[{"name":"a/b/"}]}]}`:                                               `steps[0].cgroups[0].name: cgroup "a/b/": write it as "a/b"`,
		`{"name":"dup","steps":[{"cgroups":[{"name":"./a"}]}]}`:                                                `steps[0].cgroups[0].name: cgroup "./a": write it as "a"`,
		`{"name":"dup","steps":[{"cgroups":[{"name":"a/../b"}]}]}`:                                             `steps[0].cgroups[0].name: cgroup "a/../b": must be a path below`,
		`{"name":"dup","steps":[{"cgroups":[{"name":"/a"}]}]}`:                                                 `steps[0].cgroups[0].name: cgroup "/a": must be a path below`,
		`{"name":"dup","steps":[{"ops":[{"op":"add_cgroup","def":{"name":"a"}}],"hold":{"loop_s":0.5}}]}`:      "steps[0].ops[0], repeated by hold.loop_s: def.name: cgroup a defined twice (steps[0].ops[0] has it",
		`{"name":"dup","steps":[{"ops":[{"op":"toggle_cgroup","def":{"name":"a//b"}}]}]}`:                      `steps[0].ops[0]: def.name: cgroup "a//b": write it as "a/b"`,
	}
	for in, want := range bad {
		s, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if err := s.Validate(tp, 2); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", in, err, want)
		}
	}
	// A name is free again once its cgroup is removed; toggling churns it;
	// nesting is not duplication.
	good := []string{
		`{"name":"ok","steps":[{"cgroups":[{"name":"a"}]},{"ops":[{"op":"remove_cgroup","cgroup":"a"}],"cgroups":[{"name":"a"}]}]}`,
		`{"name":"ok","steps":[{"cgroups":[{"name":"a"}]},{"ops":[{"op":"toggle_cgroup","def":{"name":"a"}}],"hold":{"loop_s":0.5}}]}`,
		`{"name":"ok","steps":[{"cgroups":[{"name":"a","works":[]},{"name":"a/b"}]}]}`,
		`{"name":"ok","steps":[{"ops":[{"op":"add_cgroup","def":{"name":"a"}},{"op":"remove_cgroup","cgroup":"a"}],"hold":{"loop_s":0.5}}]}`,
	}
	for _, in := range good {
		s, err := Parse([]byte(in))
		if err == nil {
			err = s.Validate(tp, 2)
		}
		if err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestStepDurations(t *testing.T) {
	s := &Scenario{Steps: []Step{{Hold: Hold{Frac: 0.5}}, {}, {Hold: Hold{FixedS: 1}}, {}}}
	got := fmt.Sprint(s.StepDurations(10 * time.Second))
	if got != "[5s 2s 1s 2s]" {
		t.Errorf("durations %s", got)
	}
}

func TestExpandPerCPU(t *testing.T) {
	defs := Expand([]CgroupDef{{Name: "cpu", PerCPU: true}, {Name: "x"}}, topo(1, 1, 4, 1))
	if len(defs) != 4 || defs[0].Name != "cpu_0" || defs[2].Cpuset.Exact != "2" || defs[3].Name != "x" {
		t.Errorf("%+v", defs)
	}
}

func TestWorksResolved(t *testing.T) {
	d := CgroupDef{Name: "a"}
	if w := d.WorksResolved(3); len(w) != 1 || w[0].Type != "CpuSpin" || w[0].Workers != 3 {
		t.Errorf("%+v", w)
	}
	d.Works = []workload.Spec{{Type: "Bursty", Workers: 1}}
	if w := d.WorksResolved(3); w[0].Workers != 1 {
		t.Errorf("%+v", w)
	}
}

// FuzzParse: whatever Parse accepts, encoding/json accepts with the same
// value; a scenario survives a marshal round trip; and a scenario that
// validates on a topology resolves every cpuset to a sorted, duplicate-free,
// non-empty set of that topology's CPUs.
func FuzzParse(f *testing.F) {
	for _, s := range Catalog()[:5] {
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte(`{"name":"x","steps":[{"cgroups":[{"name":"a","cpuset":{"range":[0.9,0.1]}}]}]}`))
	f.Add([]byte(`{"name":"x","steps":[{"cgroups":[{"name":"a","cpuset":{"overlap":{"index":1,"of":2,"frac":1}}}]}]}`))
	f.Add([]byte(`{"name":"x","steps":[{"cgroups":[{"name":"a"}]}]} {"name":"y"}`))
	tp := topo(1, 2, 2, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		jsontest.StrictRoundTrip(t, data, s, Parse)
		// Validation must never panic, whatever the input.
		if s.Validate(tp, 2) != nil {
			return
		}
		for _, st := range s.Steps {
			for _, d := range Expand(st.Cgroups, tp) {
				if d.Cpuset == nil {
					continue
				}
				cpus, err := ResolveCpuset(d.Cpuset, tp)
				if err != nil {
					t.Fatalf("validated scenario has an unresolvable cpuset: %v", err)
				}
				if len(cpus) == 0 {
					t.Fatalf("cgroup %s: empty cpuset from %+v", d.Name, d.Cpuset)
				}
				for i, c := range cpus {
					if c < 0 || c >= tp.CPUs || i > 0 && c <= cpus[i-1] {
						t.Fatalf("cgroup %s: cpuset %v from %+v is not a sorted set of CPUs 0..%d", d.Name, cpus, d.Cpuset, tp.CPUs-1)
					}
				}
			}
		}
	})
}

// As in ktstr, a scenario's flags select the profiles it runs under.
func TestFlagsFit(t *testing.T) {
	s := &Scenario{Name: "x", RequiresFlags: []string{"rebal", "borrow"}, ExcludesFlags: []string{"no-ctrl"}}
	for _, tc := range []struct {
		active []string
		ok     bool
		why    string
	}{
		{nil, false, "needs scheduler flags rebal,borrow (the profile has none)"},
		{[]string{"rebal"}, false, "needs scheduler flags borrow (the profile has rebal)"},
		{[]string{"borrow", "rebal"}, true, ""},
		{[]string{"borrow", "rebal", "no-ctrl"}, false, "does not run under scheduler flag no-ctrl"},
	} {
		ok, why := s.FlagsFit(tc.active)
		if ok != tc.ok || why != tc.why {
			t.Errorf("%v: %v %q, want %v %q", tc.active, ok, why, tc.ok, tc.why)
		}
	}
	if ok, _ := (&Scenario{}).FlagsFit(nil); !ok {
		t.Error("a scenario without flags must run under EEVDF")
	}
}

func TestAny(t *testing.T) {
	s := &Scenario{Backdrop: []CgroupDef{{Name: "bg"}}, Steps: []Step{{Cgroups: []CgroupDef{{Name: "a"}}}, {Ops: []Op{{Op: "add_cgroup", Def: &CgroupDef{Name: "late"}}, {Op: "spawn", Cgroup: "a"}}}}}
	named := func(n string) func(*CgroupDef) bool { return func(d *CgroupDef) bool { return d.Name == n } }
	for _, n := range []string{"bg", "a", "late"} {
		if !s.Any(named(n), nil) {
			t.Errorf("cgroup %s not found", n)
		}
	}
	if s.Any(named("x"), nil) || s.Any(nil, func(o Op) bool { return o.Op == "stop_cgroup" }) {
		t.Error("found what is not there")
	}
	if !s.Any(nil, func(o Op) bool { return o.Op == "spawn" }) {
		t.Error("op not found")
	}
}
