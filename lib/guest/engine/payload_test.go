package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/guest/cgroup"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
	"github.com/ktstr-go/ktstr/lib/model/topology"
)

// cgroup2 is this host's cgroup v2 mount, or "" without one.
func cgroup2() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if fs := strings.Fields(post); ok && len(fs) > 0 && fs[0] == "cgroup2" {
			return strings.Fields(pre)[4]
		}
	}
	return ""
}

// TestPayloadOps runs payload ops for real on this host (root and cgroup
// v2; skipped otherwise): kill_payload, a wait_payload that gives up, a
// payload that exits with 3 and prints JSON metrics, one still running at
// the end, and one whose binary does not exist.
func TestPayloadOps(t *testing.T) {
	mount := cgroup2()
	if os.Geteuid() != 0 || mount == "" {
		t.Skip("needs root and a cgroup v2 mount")
	}
	cg, err := cgroup.New(mount, fmt.Sprintf("ktstr-enginetest-%d", os.Getpid()), nil)
	if err != nil {
		t.Skip("cgroup v2 not writable here:", err)
	}
	def := func(name, bin, output string, args ...string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = fmt.Sprintf("%q", a)
		}
		return fmt.Sprintf(`{"name": %q, "binary": %q, "output": %q, "args": [%s], "metrics": [{"name": "lat.p99", "polarity": "lower", "unit": "ms"}]}`,
			name, bin, output, strings.Join(q, ", "))
	}
	sc, err := scenario.Parse([]byte(`{"name": "ops", "backdrop": [{"name": "bench", "works": []}], "steps": [{"ops": [
		{"op": "run_payload", "cgroup": "bench", "payload_def": ` + def("sleeper", "/bin/sleep", "exit_code", "30") + `},
		{"op": "run_payload", "cgroup": "bench", "payload_def": ` + def("waited", "/bin/sleep", "exit_code", "30") + `},
		{"op": "run_payload", "cgroup": "bench", "payload_def": ` + def("three", "/bin/sh", "json", "-c", `echo '{"lat": {"p99": 1.5}}'; exit 3`) + `},
		{"op": "run_payload", "cgroup": "bench", "payload_def": ` + def("late", "/bin/sleep", "exit_code", "30") + `},
		{"op": "run_payload", "cgroup": "bench", "payload_def": ` + def("ghost", "/nonexistent/ktstr-bench", "exit_code") + `},
		{"op": "kill_payload", "cgroup": "bench", "payload": "sleeper"},
		{"op": "wait_payload", "cgroup": "bench", "payload": "waited", "duration_s": 0.3},
		{"op": "wait_payload", "cgroup": "bench", "payload": "three", "duration_s": 10}
	], "hold": {"fixed_s": 0.2}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	topo := topology.Spec{NUMANodes: 1, LLCs: 1, CoresPerLLC: 2, ThreadsPerCore: 1}.Record(20)
	start := time.Now()
	res := Run(context.Background(), sc, Env{Cgroups: cg, Topology: topo, Duration: 200 * time.Millisecond, AgentStart: start, Logf: t.Logf})
	if _, err := os.Stat(cg.Root); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind: %v", cg.Root, err)
	}
	got := map[string]record.PayloadResult{}
	for _, p := range res.Payloads {
		got[p.Name] = p
	}
	if len(res.Payloads) != 5 {
		t.Fatalf("%d payload results: %+v", len(res.Payloads), res.Payloads)
	}
	for name, want := range map[string]string{"sleeper": "kill_payload", "waited": "wait_timeout", "late": "scenario_end"} {
		p := got[name]
		if p.Killed != want || p.Signal != "SIGKILL" || p.ExitCode != -1 || p.WallS <= 0 {
			t.Errorf("%s: %+v, want killed by %s", name, p, want)
		}
	}
	three := got["three"]
	if three.ExitCode != 3 || three.Killed != "" || len(three.Metrics) != 1 || three.Metrics[0] != (record.PayloadMetric{Name: "lat.p99", Value: 1.5, Polarity: "lower", Unit: "ms"}) ||
		len(three.OutputTail) != 1 || three.Binary != "/bin/sh" {
		t.Errorf("three: %+v", three)
	}
	if g := got["ghost"]; g.ExitCode != -1 || g.Killed != "" || !strings.Contains(g.Error, "/nonexistent/ktstr-bench") {
		t.Errorf("ghost: %+v", g)
	}
}
