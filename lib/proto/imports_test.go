package proto

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/golist"
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
	return golist.List(t, "-deps", pkg)
}

// TestHostGuestLine pins the import facts that keep the host and the guest
// apart: the protocol is a leaf, and no host-side package — the VM layer,
// the planner and runner, the checks, the models, the host-only tools —
// links anything of the guest, and most of them no cilium/ebpf.
func TestHostGuestLine(t *testing.T) {
	golist.StatSources(t, filepath.Join("..", ".."))
	// guestSide is lib/guest, no more and no less: a package moved or
	// renamed there would otherwise fall out of the rule unseen.
	if got := golist.List(t, module+"lib/guest/..."); !slices.Equal(got, slices.Sorted(slices.Values(guestSide))) {
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
