package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// verifierRun is a --job verifier run record of scx_qmap under profile on
// topology and kernel, with one program per name → verified_insns.
func verifierRun(t *testing.T, profile, topo, kernel string, progs map[string]uint32) string {
	t.Helper()
	r := &record.Run{
		ID:      "r-" + profile + "-" + topo,
		Outcome: record.OutcomeCompleted,
		Job: &record.Job{
			ID:        "qmap-" + profile + "-" + topo,
			Topology:  &record.Topology{Name: topo},
			Kernel:    &record.Kernel{Version: kernel},
			Scheduler: &record.Scheduler{Name: "scx_qmap", Profile: profile},
		},
		Scheduler: &record.SchedulerRun{Attached: true},
	}
	for n, insns := range progs {
		r.Scheduler.Programs = append(r.Scheduler.Programs, record.BPFProgram{Name: n, VerifiedInsns: insns})
	}
	b, err := record.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func deltas(t *testing.T, stdout string) map[string]*record.Delta {
	t.Helper()
	out := map[string]*record.Delta{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		var d record.Delta
		if err := record.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		out[d.Subject] = &d
	}
	return out
}

// TestDiffPairsLikeWithLike (issue 17, bug 4): an all-profiles file against
// a default-only one compares the default profile with itself only; the
// other profiles are reported as unpaired, never as a fake delta.
func TestDiffPairsLikeWithLike(t *testing.T) {
	a := verifierRun(t, "default", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 150, "qmap_enqueue": 80}) +
		verifierRun(t, "llc", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 6000, "qmap_enqueue": 90})
	b := verifierRun(t, "default", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 160, "qmap_enqueue": 80})
	fa, fb := writeTemp(t, "a.ndjson", a), writeTemp(t, "b.ndjson", b)
	code, out, errs := runVerify(t, "", "--diff", fa+","+fb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	t.Logf("stderr:\n%s", errs)
	ds := deltas(t, out)
	paired := 0
	for s, d := range ds {
		if d.Missing != "" {
			if !strings.Contains(s, "llc") || d.Missing != "b" {
				t.Errorf("unpaired %q missing %q, want only the llc profile's programs, missing in b", s, d.Missing)
			}
			continue
		}
		paired++
		if d.Delta < -100 || d.Delta > 100 {
			t.Errorf("%s: fake delta %+v (A %v, B %v): mixed profiles compared", s, d.Delta, d.A, d.B)
		}
	}
	if paired != 2 || len(ds) != 4 {
		t.Errorf("%d deltas, %d paired; want 4 and 2:\n%s", len(ds), paired, out)
	}
	if !strings.Contains(errs, "not paired") || !strings.Contains(errs, "llc") {
		t.Errorf("stderr does not say what could not be paired:\n%s", errs)
	}
	if code, _, errs := runVerify(t, "", "-q", "--diff", fa+","+fb); code != cli.ExitOK || errs != "" {
		t.Errorf("-q: exit %d, stderr %q", code, errs)
	}
}

// TestDiffAcrossKernels: when each file holds one kernel and they differ,
// the kernel is what is compared: programs still pair, and stderr says so.
func TestDiffAcrossKernels(t *testing.T) {
	fa := writeTemp(t, "a.ndjson", verifierRun(t, "default", "1n1l2c1t", "6.12.117", map[string]uint32{"qmap_dispatch": 150}))
	fb := writeTemp(t, "b.ndjson", verifierRun(t, "default", "1n1l2c1t", "6.13.2", map[string]uint32{"qmap_dispatch": 170}))
	code, out, errs := runVerify(t, "", "--diff", fa+","+fb)
	ds := deltas(t, out)
	if code != cli.ExitOK || len(ds) != 1 {
		t.Fatalf("exit %d, %d deltas: %s", code, len(ds), errs)
	}
	for _, d := range ds {
		if d.Missing != "" || d.Delta != 20 {
			t.Errorf("%+v, want a paired delta of +20", d)
		}
	}
	if !strings.Contains(errs, "6.12.117") || !strings.Contains(errs, "6.13.2") {
		t.Errorf("stderr does not name the kernels compared:\n%s", errs)
	}
}
