package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func runTopo(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), strings.NewReader(stdin), &out, &errb, args)
	return code, out.String(), errb.String()
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func TestSpecArgument(t *testing.T) {
	code, out, _ := runTopo(t, "", "1,2,4,2")
	if code != 0 || len(lines(out)) != 1 {
		t.Fatalf("code %d out %q", code, out)
	}
	var r record.Topology
	if err := record.Unmarshal([]byte(lines(out)[0]), &r); err != nil {
		t.Fatal(err)
	}
	if r.CPUs != 16 || r.LLCGroups[1].CPUs != "8-15" || r.SMTGroups[1] != "2-3" {
		t.Errorf("%+v", r)
	}
}

func TestPresetsCount(t *testing.T) {
	code, out, _ := runTopo(t, "", "--presets")
	if code != 0 || len(lines(out)) != 24 {
		t.Fatalf("code %d, %d lines", code, len(lines(out)))
	}
	_, out, _ = runTopo(t, "", "--presets", "--max-cpus", "16", "--max-numa", "1")
	if n := len(lines(out)); n != 7 {
		t.Errorf("--max-cpus 16 --max-numa 1: %d presets, want 7", n)
	}
}

func TestBadSpecsExit2WithOneLine(t *testing.T) {
	for _, spec := range []string{"0,1,1,1", "2,3,1,1", "x"} {
		code, out, errOut := runTopo(t, "", "1,1,1,1", spec)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", spec, code)
		}
		if out != "" {
			t.Errorf("%s: records were written before the bad spec was found: %q", spec, out)
		}
		if len(lines(errOut)) != 1 || !strings.HasPrefix(errOut, "ktstr-topo: topology \""+spec+"\"") {
			t.Errorf("%s: stderr %q", spec, errOut)
		}
	}
	code, _, errOut := runTopo(t, "", "--distance", "5", "1,1,1,1")
	if code != 2 || !strings.Contains(errOut, "--distance must be 11..254") {
		t.Errorf("distance: %d %q", code, errOut)
	}
	code, _, _ = runTopo(t, "", "--bogus-flag")
	if code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestStdinSpecsRecordsAndBrokenLines(t *testing.T) {
	in := "1,1,2,1\n{\"kind\":\"skip\",\"v\":1,\"subject\":\"keep\",\"extra\":7}\n1,3,1,1,1\n{\"kind\":\n1n2l2c1t\n"
	code, out, _ := runTopo(t, in)
	if code != 2 {
		t.Errorf("exit %d, want 2 for the bad lines", code)
	}
	got := lines(out)
	if len(got) != 5 {
		t.Fatalf("%d records: %q", len(got), out)
	}
	wantPrefix := []string{`{"kind":"topology","v":1,"name":"1n1l2c1t"`, `{"kind":"skip","v":1,"subject":"keep","extra":7}`,
		`{"kind":"error","v":1,"source":"ktstr-topo","line":3,`, `{"kind":"error","v":1,"source":"ktstr-topo","line":4,`, `{"kind":"topology","v":1,"name":"1n2l2c1t"`}
	for i, w := range wantPrefix {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("record %d = %s, want prefix %s", i, got[i], w)
		}
	}
}

func TestFitsHostEmitsSkips(t *testing.T) {
	code, out, _ := runTopo(t, "", "--presets", "--fits-host", "--overcommit", "1")
	if code != 0 {
		t.Fatal(code)
	}
	skips := strings.Count(out, `"kind":"skip"`)
	if skips == 0 || len(lines(out)) != 24 {
		t.Errorf("%d records, %d skips: every preset must appear, the too-large ones as skips", len(lines(out)), skips)
	}
	if !strings.Contains(out, `"reason":"host_capacity","detail":"252 vCPUs exceed`) {
		t.Errorf("max-cpu skip reason missing: %s", out)
	}
}

func TestTextFormat(t *testing.T) {
	_, out, _ := runTopo(t, "", "--format", "text", "1,2,4,2")
	if !strings.Contains(out, "LLC 1 (node 0): cpus 8-15  SMT 8-9 10-11 12-13 14-15") {
		t.Errorf("text: %s", out)
	}
}

func TestHelpHasExamples(t *testing.T) {
	code, out, _ := runTopo(t, "", "--help")
	if code != 0 || !strings.Contains(out, "--presets") {
		t.Errorf("help: %d %s", code, out)
	}
}
