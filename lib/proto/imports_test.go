package proto

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ktstr-go/ktstr/"

// guestSide are the packages that run scenarios, every package under
// lib/guest: the agent and what it runs (the job executor, the scenario
// engine, the worker processes, the live scheduler, the fixture, the probe
// loader, the cgroup manager). Inside the VM, or on a bare-metal host
// through lib/baremetal, the agent's host-side twin. The host-side tools
// reach the guest through lib/proto only.
var guestSide = []string{
	module + "lib/guest/agent",
	module + "lib/guest/jobexec",
	module + "lib/guest/engine",
	module + "lib/guest/worker",
	module + "lib/guest/livesched",
	module + "lib/guest/fixture",
	module + "lib/guest/probe",
	module + "lib/guest/cgroup",
}

// hostSide are packages the host runs: its orchestration (lib/host), the
// verdicts (lib/judge), the run store and what it answers (lib/results),
// the host-only tools, and the models of scenarios, work types, schedulers
// and payloads (lib/model): the planner validates jobs with them before
// any VM boots, so they must not pull their in-guest runtime along.
var hostSide = []string{
	"lib/host/vm", "lib/host/rootfs", "lib/host/initramfs", "lib/host/plan", "lib/host/runner",
	"lib/host/snapshot", "lib/host/monitor", "lib/host/guestmem", "lib/host/kernel",
	"lib/judge/verdict", "lib/judge/bpfverifier", "lib/judge/repro",
	"lib/model/scenario", "lib/model/workload", "lib/model/sched", "lib/model/payload",
	"lib/results/store", "lib/results/query", "lib/results/compare", "lib/results/metrics",
	"lib/results/stats", "lib/results/report",
	"cmd/ktstr-topo", "cmd/ktstr-verify", "cmd/ktstr-kernel", "cmd/ktstr-stats", "cmd/ktstr-repro",
}

// protoDeps are the module's packages lib/proto may reach: itself, the
// records, and their strict JSON decoder (a stdlib-only leaf).
var protoDeps = []string{"lib/proto", "lib/model/record", "lib/base/jsonstrict"}

// noBPF are host-side packages that must not link cilium/ebpf either (the
// host-side monitor may: it reads the guest kernel's BTF).
var noBPF = []string{
	"lib/host/vm", "lib/host/rootfs", "lib/host/plan", "lib/judge/verdict",
	"lib/model/scenario", "lib/model/workload", "lib/model/sched",
	"cmd/ktstr-topo", "cmd/ktstr-verify",
}

// deps lists the packages pkg reaches (itself included).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	return goList(t, "-deps", pkg)
}

// goList runs go list with args, via the go tool the test runs under.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	// go test puts its own GOROOT/bin first in the tests' PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// statSources stats every Go file of the module: go test caches a passing
// result keyed on the files the test touched, and go list reads them in
// another process, so without this an import added later would not rerun
// the test.
func statSources(t *testing.T) {
	t.Helper()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") || d.Name() == "go.mod" {
			_, err = os.Stat(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostGuestLine pins the import facts that keep the host and the guest
// apart: the protocol is a leaf, and no host-side package — the VM layer,
// the planner and runner, the checks, the models, the host-only tools —
// links anything of the guest, and most of them no cilium/ebpf.
func TestHostGuestLine(t *testing.T) {
	statSources(t)
	// guestSide is lib/guest, no more and no less: a package moved or
	// renamed there would otherwise fall out of the rule unseen.
	if got := goList(t, module+"lib/guest/..."); !slices.Equal(got, slices.Sorted(slices.Values(guestSide))) {
		t.Errorf("the packages under lib/guest are %v; guestSide lists %v", got, guestSide)
	}
	for _, d := range deps(t, module+"lib/proto") {
		if strings.HasPrefix(d, module) && !slices.Contains(protoDeps, strings.TrimPrefix(d, module)) {
			t.Errorf("lib/proto imports %s: it must stay a leaf (stdlib, lib/model/record and its strict JSON decoder only)", d)
		}
	}
	for _, pkg := range hostSide {
		forbidden := guestSide
		if slices.Contains(noBPF, pkg) {
			forbidden = append(slices.Clip(guestSide), "github.com/cilium/ebpf")
		}
		for _, d := range deps(t, module+pkg) {
			for _, g := range forbidden {
				if d == g || strings.HasPrefix(d, g+"/") {
					t.Errorf("%s reaches guest-side package %s", pkg, d)
				}
			}
		}
	}
}
