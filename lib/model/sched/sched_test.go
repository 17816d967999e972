package sched

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/jsontest"
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
		`{"name":"x","binary":"b","flagz":[]}`:                               `scheduler definition: unknown field "flagz"`,
		`{"name":"x","binary":"b","flags":[{"name":"a","arg":[]}]}`:          `scheduler definition: flags[0]: unknown field "arg"`,
		`{"name":"x","binary":"b","thresholds":{"max_gap_ms":"1"}}`:          `scheduler definition: thresholds.max_gap_ms: want a number, got a string`,
		`null`: "scheduler definition: null; want a JSON object",
	}
	for in, want := range bad {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	d, err := Parse([]byte(`{"name":"scx_mine","binary":"/opt/scx_mine","flags":[{"name":"fast","args":["-f"]}],"thresholds":{"max_gap_ms":3000}}`))
	if err != nil || d.OpsName() != "" || *d.Thresholds.MaxGapMS != 3000 { // no "ops": any name
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

// FuzzParse: whatever Parse accepts, encoding/json accepts with the same
// value; a definition survives a marshal round trip; its profiles are
// exactly the flag subsets closed under "requires" (counted by brute
// force), each with a unique name that Profile maps back to it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name":"x","binary":"b","flags":[{"name":"a","requires":["b"]},{"name":"b"}]}`))
	f.Add([]byte(`{"name":"x","binary":"b","args":["-v"],"flags":[{"name":"a","args":["-a"]},{"name":"b","requires":["a"]},{"name":"c","requires":["a","b"]}]}`))
	f.Add([]byte(`{"name":"x","binary":"b"} {"name":"y","binary":"c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		jsontest.StrictRoundTrip(t, b, d, Parse)
		closed := 0
		for mask := 0; mask < 1<<len(d.Flags); mask++ {
			in := func(name string) bool {
				i := slices.IndexFunc(d.Flags, func(f Flag) bool { return f.Name == name })
				return mask&(1<<i) != 0
			}
			ok := true
			for i, fl := range d.Flags {
				for _, r := range fl.Requires {
					ok = ok && (mask&(1<<i) == 0 || in(r))
				}
			}
			if ok {
				closed++
			}
		}
		profiles := d.Profiles()
		if len(profiles) != closed {
			t.Fatalf("%d profiles, %d subsets closed under requires", len(profiles), closed)
		}
		seen := map[string]bool{}
		for i, p := range profiles {
			if seen[p.Name] {
				t.Fatalf("profile name %q twice", p.Name)
			}
			seen[p.Name] = true
			if i > 0 && len(p.Flags) < len(profiles[i-1].Flags) {
				t.Fatalf("profiles not ordered by size: %s after %s", p.Name, profiles[i-1].Name)
			}
			var flags []string
			if p.Name != "default" {
				flags = strings.Split(p.Name, "+")
			}
			q, err := d.Profile(flags)
			if err != nil || !reflect.DeepEqual(q, p) {
				t.Fatalf("profile %s: Profile(%q) = %+v, %v; want %+v", p.Name, flags, q, err, p)
			}
			if !slices.Equal(p.Args[:len(d.Args)], d.Args) {
				t.Fatalf("profile %s args %q do not start with the default args %q", p.Name, p.Args, d.Args)
			}
		}
	})
}

// Fault switches are chosen by name but never swept by --all-profiles.
func TestFaultFlagsLeftOutOfProfiles(t *testing.T) {
	d := &Definition{Name: "s", Binary: "b", Flags: []Flag{{Name: "fast", Args: []string{"-f"}}, {Name: "crash", Args: []string{"-c"}, Fault: true}}}
	var names []string
	for _, p := range d.Profiles() {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "default fast" {
		t.Errorf("profiles %v, want default and fast", names)
	}
	if p, err := d.Profile([]string{"crash"}); err != nil || strings.Join(p.Args, " ") != "-c" {
		t.Errorf("a fault flag by name: %+v %v", p, err)
	}
	fx, err := Lookup("ktstr-fixture")
	if err != nil || len(fx.Profiles()) != 1 {
		t.Errorf("the fixture's knobs are all faults: %v %v", err, fx)
	}
}
