package topology

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/golden"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestParseSpecForms(t *testing.T) {
	for _, in := range []string{"1,2,4,2", "1n2l4c2t", " 1, 2, 4, 2 ", "1N2L4C2T"} {
		s, err := ParseSpec(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if s != (Spec{1, 2, 4, 2}) {
			t.Errorf("%q parsed as %+v", in, s)
		}
	}
}

func TestParseSpecErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"0,1,1,1":       "numa_nodes must be 1..512, got 0",
		"1,-2,1,1":      "llcs must be 1..512, got -2",
		"2,3,1,1":       "llcs (3) must be a multiple of numa_nodes (2)",
		"1,1,1,x":       `threads_per_core must be a whole number`,
		"x":             "want N,L,C,T",
		"1,2,3":         "want N,L,C,T",
		"1,20,20,2":     "cpus = llcs×cores_per_llc×threads_per_core must be 1..288",
		"1,512,512,512": "must be 1..288",
	}
	for in, want := range cases {
		_, err := ParseSpec(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to contain %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error spans lines: %q", in, err)
		}
	}
}

func TestRecord1242(t *testing.T) {
	r := Spec{1, 2, 4, 2}.Record(DefaultRemoteDistance)
	if r.CPUs != 16 || r.Name != "1n2l4c2t" {
		t.Fatalf("cpus %d name %s", r.CPUs, r.Name)
	}
	if r.LLCGroups[0].CPUs != "0-7" || r.LLCGroups[1].CPUs != "8-15" {
		t.Errorf("LLCs %+v", r.LLCGroups)
	}
	if len(r.SMTGroups) != 8 || r.SMTGroups[0] != "0-1" || r.SMTGroups[7] != "14-15" {
		t.Errorf("SMT %v", r.SMTGroups)
	}
	b, _ := record.Marshal(r)
	golden.Compare(t, "1n2l4c2t.json", append(b, '\n'))
}

func TestRecordTwoNodes(t *testing.T) {
	r := Spec{2, 4, 2, 1}.Record(21)
	want := []record.TopologyNode{{ID: 0, CPUs: "0-3", LLCs: []int{0, 1}}, {ID: 1, CPUs: "4-7", LLCs: []int{2, 3}}}
	if !reflect.DeepEqual(r.Nodes, want) {
		t.Errorf("nodes %+v", r.Nodes)
	}
	if !reflect.DeepEqual(r.Distances, [][]int{{10, 21}, {21, 10}}) {
		t.Errorf("distances %v", r.Distances)
	}
	if r.LLCGroups[3] != (record.LLCGroup{ID: 3, Node: 1, CPUs: "6-7"}) {
		t.Errorf("llc 3 %+v", r.LLCGroups[3])
	}
	var text bytes.Buffer
	if err := WriteText(&text, Spec{2, 4, 2, 2}.Record(20)); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "2n4l2c2t.txt", text.Bytes())
}

func TestPresets(t *testing.T) {
	if len(Presets) != 24 {
		t.Fatalf("%d presets, want 24", len(Presets))
	}
	// Names and CPU counts of reference §3.1.
	cpus := map[string]int{"tiny-1llc": 4, "tiny-2llc": 4, "odd-3llc": 9, "odd-5llc": 15, "odd-7llc": 14, "smt-2llc": 8,
		"smt-3llc": 12, "medium-4llc": 32, "medium-8llc": 64, "large-4llc": 128, "large-8llc": 128, "near-max-llc": 240,
		"max-cpu": 252, "medium-4llc-nosmt": 32, "medium-8llc-nosmt": 64, "large-4llc-nosmt": 128, "large-8llc-nosmt": 128,
		"near-max-llc-nosmt": 240, "max-cpu-nosmt": 252, "numa2-4llc": 16, "numa2-8llc": 128, "numa2-8llc-nosmt": 128,
		"numa4-8llc": 32, "numa4-12llc": 192}
	seen := map[string]bool{}
	for _, p := range Presets {
		if err := p.Spec.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if cpus[p.Name] != p.Spec.CPUs() {
			t.Errorf("%s: %d CPUs, want %d", p.Name, p.Spec.CPUs(), cpus[p.Name])
		}
		if seen[p.Name] {
			t.Errorf("duplicate preset %s", p.Name)
		}
		seen[p.Name] = true
		r := p.Spec.Record(20)
		if len(r.LLCGroups) != p.Spec.LLCs || len(r.Nodes) != p.Spec.NUMANodes || len(r.SMTGroups)*p.Spec.ThreadsPerCore != r.CPUs {
			t.Errorf("%s: record shape %d LLCs %d nodes %d SMT groups", p.Name, len(r.LLCGroups), len(r.Nodes), len(r.SMTGroups))
		}
	}
	if _, ok := LookupPreset("numa4-12llc"); !ok {
		t.Error("LookupPreset misses numa4-12llc")
	}
}

func TestFilter(t *testing.T) {
	yes, no := true, false
	var small, smt, nosmt []string
	for _, p := range Presets {
		if (Filter{MaxCPUs: 16}).Match(p.Spec) {
			small = append(small, p.Name)
		}
		if (Filter{SMT: &yes, MaxCPUs: 16}).Match(p.Spec) {
			smt = append(smt, p.Name)
		}
		if (Filter{SMT: &no, MinNUMA: 2, MaxNUMA: 2}).Match(p.Spec) {
			nosmt = append(nosmt, p.Name)
		}
	}
	if got := strings.Join(small, " "); got != "tiny-1llc tiny-2llc odd-3llc odd-5llc odd-7llc smt-2llc smt-3llc numa2-4llc" {
		t.Errorf("max-cpus 16: %s", got)
	}
	if got := strings.Join(smt, " "); got != "smt-2llc smt-3llc" {
		t.Errorf("smt: %s", got)
	}
	if got := strings.Join(nosmt, " "); got != "numa2-4llc numa2-8llc-nosmt" {
		t.Errorf("numa 2 no smt: %s", got)
	}
}

func TestCPUList(t *testing.T) {
	cases := map[string]string{"": "", "0": "0", "0-3,5,7-9": "0-3,5,7-9", "3,2,1,0": "0-3", "0-1,1-2, 5 ": "0-2,5", "7,5,6": "5-7"}
	for in, want := range cases {
		cpus, err := ParseList(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := FormatList(cpus); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"a", "1-", "-1", "3-1", "1,,2", "99999", "0-99999"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// writeSysfs builds a fake sysfs tree the way a 2-node, 4-LLC, 2-core,
// 2-thread guest would show it.
func writeSysfs(t *testing.T, s Spec, withCaches bool) string {
	root := t.TempDir()
	put := func(path, content string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := s.Record(20)
	put("devices/system/cpu/online", fmt.Sprintf("0-%d", r.CPUs-1))
	for _, g := range r.LLCGroups {
		cpus, _ := ParseList(g.CPUs)
		for _, c := range cpus {
			dir := fmt.Sprintf("devices/system/cpu/cpu%d/", c)
			if withCaches {
				put(dir+"cache/index0/level", "1")
				put(dir+"cache/index0/type", "Data")
				put(dir+"cache/index0/shared_cpu_list", FormatList(Range(c-c%s.ThreadsPerCore, s.ThreadsPerCore)))
				put(dir+"cache/index1/level", "1")
				put(dir+"cache/index1/type", "Instruction")
				put(dir+"cache/index1/shared_cpu_list", fmt.Sprint(c))
				put(dir+"cache/index3/level", "3")
				put(dir+"cache/index3/type", "Unified")
				put(dir+"cache/index3/shared_cpu_list", g.CPUs)
			} else {
				put(dir+"topology/die_cpus_list", g.CPUs)
			}
			put(dir+"topology/thread_siblings_list", FormatList(Range(c-c%s.ThreadsPerCore, s.ThreadsPerCore)))
		}
	}
	for _, n := range r.Nodes {
		dir := fmt.Sprintf("devices/system/node/node%d/", n.ID)
		put(dir+"cpulist", n.CPUs)
		var d []string
		for _, v := range r.Distances[n.ID] {
			d = append(d, fmt.Sprint(v))
		}
		put(dir+"distance", strings.Join(d, " "))
		put(dir+"meminfo", fmt.Sprintf("Node %d MemTotal:       524288 kB\nNode %d MemFree: 1 kB", n.ID, n.ID))
	}
	return root
}

func TestReadSysfsMatchesSpec(t *testing.T) {
	for _, s := range []Spec{{2, 4, 2, 2}, {1, 2, 4, 2}, {1, 3, 3, 1}, {4, 8, 4, 1}} {
		for _, caches := range []bool{true, false} {
			got, err := ReadSysfs(writeSysfs(t, s, caches), "guest")
			if err != nil {
				t.Fatal(err)
			}
			want := s.Record(20)
			if got.Name != want.Name || got.CPUs != want.CPUs {
				t.Errorf("%s caches=%v: read %s with %d CPUs", s.Name(), caches, got.Name, got.CPUs)
			}
			if !reflect.DeepEqual(got.LLCGroups, want.LLCGroups) || !reflect.DeepEqual(got.SMTGroups, want.SMTGroups) || !reflect.DeepEqual(got.Distances, want.Distances) {
				t.Errorf("%s caches=%v: groups differ\n got %+v %v %v\nwant %+v %v %v", s.Name(), caches, got.LLCGroups, got.SMTGroups, got.Distances, want.LLCGroups, want.SMTGroups, want.Distances)
			}
			for i := range want.Nodes {
				if got.Nodes[i].CPUs != want.Nodes[i].CPUs || !reflect.DeepEqual(got.Nodes[i].LLCs, want.Nodes[i].LLCs) || got.Nodes[i].MemoryMB != 512 {
					t.Errorf("%s: node %d = %+v, want %+v", s.Name(), i, got.Nodes[i], want.Nodes[i])
				}
			}
		}
	}
}

func TestReadSysfsWithoutNUMA(t *testing.T) {
	root := writeSysfs(t, Spec{1, 1, 2, 1}, true)
	if err := os.RemoveAll(filepath.Join(root, "devices/system/node")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSysfs(root, "host")
	if err != nil {
		t.Fatal(err)
	}
	if got.NUMANodes != 1 || got.Nodes[0].CPUs != "0-1" || !reflect.DeepEqual(got.Distances, [][]int{{10}}) {
		t.Errorf("no-NUMA read: %+v", got)
	}
}

func TestReadSysfsMissing(t *testing.T) {
	if _, err := ReadSysfs(t.TempDir(), "host"); err == nil || !strings.Contains(err.Error(), "online") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"1,2,4,2", "1n2l4c2t", "0,1,1,1", "2,3,1,1", "x", "999999999999,1,1,1", "1,1,1,1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", in)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("%q parsed to invalid %+v: %v", in, s, err)
		}
		r := s.Record(20)
		if r.CPUs != s.CPUs() || r.CPUs > MaxVCPUs {
			t.Fatalf("%q: %d cpus", in, r.CPUs)
		}
		back, err := ParseSpec(r.Name)
		if err != nil || back != s {
			t.Fatalf("%q: name %q does not parse back: %v", in, r.Name, err)
		}
	})
}

func FuzzCPUList(f *testing.F) {
	for _, s := range []string{"0-3,5,7-9", "", "1-", "3-1", "8191", "0-8191"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cpus, err := ParseList(in)
		if err != nil {
			return
		}
		text := FormatList(cpus)
		again, err := ParseList(text)
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", in, text, err)
		}
		if !reflect.DeepEqual(cpus, again) || FormatList(again) != text {
			t.Fatalf("%q: round trip %v → %q → %v", in, cpus, text, again)
		}
	})
}
