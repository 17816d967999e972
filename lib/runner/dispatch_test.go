package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/record"
)

func topo(name string, cpus int) *record.Topology {
	return &record.Topology{Name: name, NUMANodes: 1, LLCs: 1, CoresPerLLC: cpus, ThreadsPerCore: 1, CPUs: cpus}
}

func TestDispatchSendsBiggestFirstStable(t *testing.T) {
	r := testRunner(t, &bytes.Buffer{})
	jobs := []*record.Job{{ID: "a", Topology: topo("a", 1)}, {ID: "b", Topology: topo("b", 4)},
		{ID: "c", Topology: topo("c", 1)}, {ID: "d", Topology: topo("d", 2)}, {ID: "e", Topology: topo("e", 4)}}
	var got []string
	r.dispatch(func(j *record.Job) error { got = append(got, j.ID); return nil }, jobs)
	if strings.Join(got, ",") != "b,e,d,a,c" {
		t.Errorf("order %v, want b,e,d,a,c", got)
	}
}

func TestFeedKeepsOnlyTheShardsJobsAndSkips(t *testing.T) {
	var out bytes.Buffer
	r := testRunner(t, &out)
	r.cfg.Keep = func(id string) bool { return id != "drop" }
	in := `{"kind":"job","v":1,"id":"keep","topology":{"name":"1n1l1c1t","numa_nodes":1,"llcs":1,"cores_per_llc":1,"threads_per_core":1,"cpus":1}}
{"kind":"job","v":1,"id":"drop","topology":{"name":"1n1l1c1t","numa_nodes":1,"llcs":1,"cores_per_llc":1,"threads_per_core":1,"cpus":1}}
{"kind":"skip","v":1,"subject":"drop","reason":"budget","detail":""}
{"kind":"skip","v":1,"subject":"other","reason":"budget","detail":""}
`
	jobs, err := r.feed(context.Background(), strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != "keep" {
		t.Errorf("jobs %v", jobs)
	}
	if o := out.String(); strings.Contains(o, `"drop"`) || !strings.Contains(o, `"other"`) {
		t.Errorf("output:\n%s", o)
	}
}

func TestProgressLine(t *testing.T) {
	var w bytes.Buffer
	p := newProgress(&w, func(*record.Job) float64 { return 10 })
	jobs := []*record.Job{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	p.start(jobs)
	p.done(jobs[0], record.StatusPass)
	p.logf("x: %s", "a line")
	p.done(jobs[1], record.StatusInconclusive)
	p.done(jobs[2], record.StatusFail)
	p.finish()
	o := w.String()
	for _, want := range []string{"[0/3] pass 0  fail 0  inconclusive 0  ETA 30s", "[1/3] pass 1", "\r\033[Kx: a line\n",
		"[2/3] pass 1  fail 0  inconclusive 1  ETA", "[3/3] pass 1  fail 1  inconclusive 1\n"} {
		if !strings.Contains(o, want) {
			t.Errorf("progress output lacks %q:\n%q", want, o)
		}
	}
	var nilp *progress
	nilp.done(jobs[0], record.StatusPass) // a runner without a terminal
}
