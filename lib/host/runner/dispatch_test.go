package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
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

// TestFeedKernelRecordsMultiplyJobs: kernel records on stdin, before or
// after the topologies, make every job run once per kernel; a kernel record
// with a malformed label is an input error, not a kernel.
func TestFeedKernelRecordsMultiplyJobs(t *testing.T) {
	var out bytes.Buffer
	r := testRunner(t, &out)
	in := `{"kind":"kernel","v":1,"version":"6.12.117","image":"/k/a/bzImage","arch":"x86_64","sched_ext":true,"runtime_code_patching":false,"source":{"type":"tarball"},"cache":"hit"}
{"kind":"topology","v":1,"name":"1n1l2c1t","numa_nodes":1,"llcs":1,"cores_per_llc":2,"threads_per_core":1,"cpus":2}
{"kind":"kernel","v":1,"version":"6.12.117-variant","label":"kernel_6_12_117_variant","image":"/k/b/bzImage","arch":"x86_64","sched_ext":true,"runtime_code_patching":false,"source":{"type":"tarball"},"cache":"hit"}
{"kind":"kernel","v":1,"version":"6.13","label":"Kernel 6.13!","image":"/k/c/bzImage","arch":"x86_64","sched_ext":true,"runtime_code_patching":false,"source":{"type":"tarball"},"cache":"hit"}
`
	jobs, err := r.feed(context.Background(), strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID+" "+j.Kernel.Image)
	}
	if want := "1n1l2c1t@kernel_6_12_117 /k/a/bzImage,1n1l2c1t@kernel_6_12_117_variant /k/b/bzImage"; strings.Join(got, ",") != want {
		t.Errorf("jobs %q, want %q", got, want)
	}
	if o := out.String(); !strings.Contains(o, `"kind":"error"`) || !strings.Contains(o, "Kernel 6.13!") || strings.Contains(o, `"kind":"kernel"`) || !r.badInput.Load() {
		t.Errorf("the malformed kernel record: output %q, bad input %v", o, r.badInput.Load())
	}
}
