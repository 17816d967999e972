package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// kernelBTF is the BTF of the cached 6.12 kernel, if this host has one.
func kernelBTF(t *testing.T) *btf.Spec {
	t.Helper()
	root := os.Getenv("KTSTR_CACHE_DIR")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "ktstr")
	}
	vmlinux, _ := filepath.Glob(filepath.Join(root, "kernels", "*", "vmlinux"))
	if len(vmlinux) == 0 {
		t.Skip("no cached kernel with a vmlinux")
	}
	spec, err := btf.LoadSpec(vmlinux[0])
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func names(p *plan) string {
	var s []string
	for _, f := range p.fields {
		s = append(s, f.Name+":"+f.Kind)
	}
	return strings.Join(s, " ")
}

// TestPlans: the fields of the bridge functions and of scheduler
// operations come from BTF with the paths the BPF program follows.
func TestPlans(t *testing.T) {
	spec := kernelBTF(t)
	p, err := kernelPlan(spec, "do_enqueue_task")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(p), "rq.cpu:cpu p.pid:pid p.comm:comm p.dsq:dsq enq_flags:enq_flags sticky_cpu:cpu"; got != want {
		t.Errorf("do_enqueue_task fields %q, want %q", got, want)
	}
	// p.pid: one read at the pid's offset from the argument; p.dsq: a
	// hop through p->scx.dsq, then the id; enq_flags: the argument.
	if f := p.raw.F[1]; f.Arg != 1 || f.Depth != 1 || f.Size != 4 {
		t.Errorf("p.pid raw %+v", f)
	}
	if f := p.raw.F[3]; f.Arg != 1 || f.Depth != 2 || f.Size != 8 {
		t.Errorf("p.dsq raw %+v", f)
	}
	if f := p.raw.F[4]; f.Arg != 2 || f.Depth != 0 {
		t.Errorf("enq_flags raw %+v", f)
	}
	if p.ret != nil {
		t.Errorf("do_enqueue_task is void, ret %+v", p.ret)
	}
	if _, err := kernelPlan(spec, "no_such_function_x"); err == nil {
		t.Error("a missing function planned")
	}
	trig, err := kernelPlan(spec, triggerFunc)
	if err != nil || names(trig) != "kind:exit_kind" || trig.ret == nil || trig.ret.Kind != KindBool {
		t.Errorf("trigger plan %q ret %+v: %v", names(trig), trig.ret, err)
	}

	if op := opOf(spec, "qmap_select_cpu"); op != "select_cpu" {
		t.Errorf("opOf(qmap_select_cpu) = %q", op)
	}
	if op := opOf(spec, "ktstr_init_task"); op != "init_task" {
		t.Errorf("opOf(ktstr_init_task) = %q", op)
	}
	enq := opPlan(spec, "enqueue")
	if got, want := names(enq), "p.pid:pid p.comm:comm p.dsq:dsq enq_flags:enq_flags"; got != want {
		t.Errorf("enqueue op fields %q, want %q", got, want)
	}
	// Through the argument array: the task pointer is read from slot 0,
	// the flags are slot 1 itself.
	if f := enq.raw.F[0]; f.Arg != 0 || f.Depth != 2 || f.Off[0] != 0 {
		t.Errorf("op p.pid raw %+v", f)
	}
	if f := enq.raw.F[3]; f.Depth != 1 || f.Off[0] != 8 {
		t.Errorf("op enq_flags raw %+v", f)
	}
	disp := opPlan(spec, "dispatch")
	if got, want := names(disp), "cpu:cpu prev.pid:pid prev.comm:comm prev.dsq:dsq"; got != want {
		t.Errorf("dispatch op fields %q, want %q", got, want)
	}
	if sel := opPlan(spec, "select_cpu"); sel.ret == nil || sel.ret.Kind != KindInt {
		t.Errorf("select_cpu returns s32: %+v", sel.ret)
	}
	e := kernelEnums(spec)
	if got := e.Decode(Field{Kind: KindDSQ}, e.mustValue(t, "SCX_DSQ_LOCAL"), ""); got != "LOCAL" {
		t.Errorf("SCX_DSQ_LOCAL decodes as %q", got)
	}
	if got := e.Decode(Field{Kind: KindExit}, 1025, ""); got != "ERROR_BPF" {
		t.Errorf("exit kind 1025 decodes as %q", got)
	}
}

func (e *Enums) mustValue(t *testing.T, name string) uint64 {
	v, ok := e.value(e.DSQ, name)
	if !ok {
		t.Fatalf("%s not in BTF", name)
	}
	return v
}
