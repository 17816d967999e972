package sched

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	d := &Definition{Name: "s", Binary: "b", Args: []string{"-v"}, Flags: []Flag{
		{Name: "llc", Args: []string{"--llc"}},
		{Name: "steal", Args: []string{"--steal"}, Requires: []string{"llc"}},
		{Name: "borrow", Args: []string{"--borrow"}},
	}}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range d.Profiles() {
		names = append(names, p.Name)
	}
	// 8 subsets, minus the 2 with steal but not llc.
	if got := strings.Join(names, " "); got != "default llc borrow llc+steal llc+borrow llc+steal+borrow" {
		t.Errorf("profiles: %s", got)
	}
	p, err := d.Profile([]string{"steal", "llc"})
	if err != nil || p.Name != "llc+steal" || strings.Join(p.Args, " ") != "-v --llc --steal" {
		t.Errorf("%+v %v", p, err)
	}
	if _, err := d.Profile([]string{"steal"}); err == nil || !strings.Contains(err.Error(), "requires llc") {
		t.Errorf("missing requirement: %v", err)
	}
	if _, err := d.Profile([]string{"nope"}); err == nil || !strings.Contains(err.Error(), `unknown flag "nope" (flags: llc, steal, borrow)`) {
		t.Errorf("unknown flag: %v", err)
	}
}

func TestValidateAndParse(t *testing.T) {
	bad := map[string]string{
		`{"name":"x"}`: "name and binary are required",
		`{"name":"x","binary":"b","flags":[{"name":"a+b"}]}`:                 "containing '+'",
		`{"name":"x","binary":"b","flags":[{"name":"a","requires":["zz"]}]}`: `requires unknown flag "zz"`,
		`{"name":"x","binary":"b","flags":[{"name":"a"},{"name":"a"}]}`:      "duplicated",
		`{"name":"x","binary":"b","flagz":[]}`:                               "unknown field",
	}
	for in, want := range bad {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	d, err := Parse([]byte(`{"name":"scx_mine","binary":"/opt/scx_mine","flags":[{"name":"fast","args":["-f"]}],"thresholds":{"max_gap_ms":3000}}`))
	if err != nil || d.OpsName() != "mine" || *d.Thresholds.MaxGapMS != 3000 {
		t.Errorf("%+v %v", d, err)
	}
}

func TestLookup(t *testing.T) {
	for _, n := range BuiltinNames() {
		d, err := Lookup(n)
		if err != nil || d.Validate() != nil || d.OpsName() == "" {
			t.Errorf("%s: %+v %v", n, d, err)
		}
	}
	dir := t.TempDir()
	def := filepath.Join(dir, "def.json")
	os.WriteFile(def, []byte(`{"name":"x","binary":"/bin/true"}`), 0o644)
	if d, err := Lookup(def); err != nil || d.Name != "x" {
		t.Errorf("definition file: %+v %v", d, err)
	}
	self, _ := os.Executable()
	if d, err := Lookup(self); err != nil || d.Binary != self {
		t.Errorf("binary: %+v %v", d, err)
	}
	if _, err := Lookup("scx_nothing"); err == nil || !strings.Contains(err.Error(), "scx_simple") {
		t.Errorf("unknown: %v", err)
	}
}

func TestExplain(t *testing.T) {
	got := explain("sched_ext state became disabling", "x\nEXIT: runnable task stall (init[69] failed to run for 5.040s)\ny", `sched_ext: BPF scheduler "qmap" disabled (runnable task stall)`)
	want := `sched_ext state became disabling; EXIT: runnable task stall (init[69] failed to run for 5.040s); kernel: sched_ext: BPF scheduler "qmap" disabled (runnable task stall)`
	if got != want {
		t.Errorf("%s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name":"x","binary":"b","flags":[{"name":"a","requires":["b"]},{"name":"b"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		for _, p := range d.Profiles() {
			if _, err := d.Profile(p.Flags); err != nil {
				t.Fatalf("profile %s does not validate: %v", p.Name, err)
			}
		}
	})
}
