package plan

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/model/scenario"
)

func TestIncludePayloads(t *testing.T) {
	hb, err := exec.LookPath("hackbench")
	if err != nil {
		t.Skip("hackbench (rt-tests) not installed: scripts/install-deps.sh")
	}
	sc, _ := scenario.Lookup("hackbench_steady")
	shared := make([]string, 1, 2) // spare capacity: an append in place would be seen by both jobs
	shared[0] = "/a"
	j1, j2 := &record.Job{Include: shared[:1:2]}, &record.Job{Include: shared[:1:2]}
	if err := includePayloads(j1, sc); err != nil {
		t.Fatal(err)
	}
	if err := includePayloads(j2, sc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(j1.Include, []string{"/a", hb}) || !slices.Equal(j2.Include, j1.Include) {
		t.Errorf("%v %v", j1.Include, j2.Include)
	}
	bad, _ := scenario.Parse([]byte(`{"name": "x", "backdrop": [{"name": "b", "works": []}], "steps": [{"ops": [{"op": "run_payload", "cgroup": "b",
		"payload_def": {"name": "nope", "binary": "ktstr-no-such-binary", "package": "nothing", "output": "exit_code"}}]}]}`))
	if err := includePayloads(&record.Job{}, bad); err == nil || !strings.Contains(err.Error(), "(Debian package nothing)") {
		t.Errorf("missing binary: %v", err)
	}
}
