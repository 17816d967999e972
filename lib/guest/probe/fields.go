package probe

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// The limits of the BPF program (src/probe.bpf.c).
const (
	maxFields = 8
	maxPath   = 3
	strLen    = 16
)

// rawField is struct field of the BPF program: which argument, the pointer
// path and the size to read.
type rawField struct {
	Arg   uint8
	Depth uint8
	Size  uint8
	_     uint8
	Off   [maxPath + 1]uint16
}

// rawTarget is struct target of the BPF program.
type rawTarget struct {
	NFields uint32
	_       uint32
	F       [maxFields]rawField
}

// plan is what a probe reads for a target: the raw fields for the program
// and their descriptions for decoding, in the same order.
type plan struct {
	raw    rawTarget
	fields []Field
	hasStr bool
	// ret decodes the return value; nil for a void function.
	ret *Field
}

// retField is how a function's return value decodes, nil for void.
func retField(t btf.Type) *Field {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		if u.Encoding == btf.Signed {
			return &Field{Name: "ret", Kind: KindInt, Size: int(u.Size)}
		}
		if u.Encoding == btf.Bool {
			return &Field{Name: "ret", Kind: KindBool, Size: int(u.Size)}
		}
		return &Field{Name: "ret", Kind: KindUint, Size: int(u.Size)}
	case *btf.Pointer:
		return &Field{Name: "ret", Kind: KindHex, Size: 8}
	case *btf.Enum:
		return &Field{Name: "ret", Kind: KindUint, Size: int(u.Size)}
	}
	return nil
}

// opParams names the arguments of the sched_ext operations (the BTF of a
// function pointer's prototype has no parameter names).
var opParams = map[string][]string{
	"select_cpu": {"p", "prev_cpu", "wake_flags"}, "enqueue": {"p", "enq_flags"}, "dequeue": {"p", "deq_flags"},
	"dispatch": {"cpu", "prev"}, "tick": {"p"}, "runnable": {"p", "enq_flags"}, "running": {"p"},
	"stopping": {"p", "runnable"}, "quiescent": {"p", "deq_flags"}, "yield": {"from", "to"},
	"core_sched_before": {"a", "b"}, "set_weight": {"p", "weight"}, "set_cpumask": {"p", "cpumask"},
	"update_idle": {"cpu", "idle"}, "cpu_acquire": {"cpu", "args"}, "cpu_release": {"cpu", "args"},
	"init_task": {"p", "args"}, "exit_task": {"p", "args"}, "enable": {"p"}, "disable": {"p"},
	"dump_task": {"dctx", "p"}, "dump_cpu": {"dctx", "cpu", "idle"}, "cpu_online": {"cpu"}, "cpu_offline": {"cpu"},
	"exit": {"info"},
}

func (p *plan) add(name, kind string, size int, arg uint8, path ...uint32) bool {
	if len(p.fields) >= maxFields || len(path) > maxPath {
		return false
	}
	if kind == KindComm {
		if p.hasStr {
			return false
		}
		p.hasStr = true
		size = strLen
	}
	rf := rawField{Arg: arg, Depth: uint8(len(path)), Size: uint8(size)}
	for i, o := range path {
		if o > 0xffff {
			return false
		}
		rf.Off[i] = uint16(o)
	}
	p.raw.F[len(p.fields)] = rf
	p.fields = append(p.fields, Field{Name: name, Kind: kind, Size: size})
	p.raw.NFields = uint32(len(p.fields))
	return true
}

// param is one argument: its name, its type, and how to get at its value
// from the probe's arguments (prefix: the pointer hops that lead to it, for
// a struct_ops program's argument array).
type param struct {
	name   string
	typ    btf.Type
	arg    uint8
	prefix []uint32
}

// member finds a member by name in a struct or union, looking through
// anonymous members, and returns its byte offset and type.
func member(t btf.Type, name string) (uint32, btf.Type, bool) {
	var members []btf.Member
	switch s := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = s.Members
	case *btf.Union:
		members = s.Members
	default:
		return 0, nil, false
	}
	for _, m := range members {
		if m.Name == name {
			return m.Offset.Bytes(), m.Type, true
		}
		if m.Name == "" {
			if off, typ, ok := member(m.Type, name); ok {
				return m.Offset.Bytes() + off, typ, true
			}
		}
	}
	return 0, nil, false
}

// memberPath resolves "a.b.c" in t (no pointer hops).
func memberPath(t btf.Type, path string) (uint32, btf.Type, bool) {
	var total uint32
	for _, name := range strings.Split(path, ".") {
		off, typ, ok := member(t, name)
		if !ok {
			return 0, nil, false
		}
		total, t = total+off, typ
	}
	return total, t, true
}

func pointee(t btf.Type) (btf.Type, bool) {
	p, ok := btf.UnderlyingType(t).(*btf.Pointer)
	if !ok {
		return nil, false
	}
	return btf.UnderlyingType(p.Target), true
}

func structName(t btf.Type) string {
	switch s := t.(type) {
	case *btf.Struct:
		return s.Name
	case *btf.Union:
		return s.Name
	}
	return ""
}

// addParam adds the fields worth decoding of one argument: a task's pid,
// comm and dsq, a runqueue's cpu, a dsq's id, the scalar itself named by
// what it is (enq_flags, dsq_id, cpu, an exit kind).
func (p *plan) addParam(a param) {
	hop := func(path ...uint32) []uint32 { return append(append([]uint32{}, a.prefix...), path...) }
	// A scalar argument inside an argument array is one read at its
	// slot; a direct one is the argument itself.
	scalar := func(kind string, size int) {
		if len(a.prefix) == 0 {
			p.add(a.name, kind, size, a.arg)
			return
		}
		path := hop()
		p.add(a.name, kind, size, a.arg, path...)
	}
	if target, ok := pointee(a.typ); ok {
		// The pointer's value itself, with prefix hops, is the base
		// address; fields add one read (or one more hop) to it.
		switch structName(target) {
		case "task_struct":
			if off, _, ok := member(target, "pid"); ok {
				p.add(a.name+".pid", KindPID, 4, a.arg, hopPtr(a.prefix, off)...)
			}
			if off, _, ok := member(target, "comm"); ok {
				p.add(a.name+".comm", KindComm, strLen, a.arg, hopPtr(a.prefix, off)...)
			}
			if off, dsqT, ok := memberPath(target, "scx.dsq"); ok {
				if dt, ok := pointee(dsqT); ok {
					if idOff, _, ok := member(dt, "id"); ok {
						p.add(a.name+".dsq", KindDSQ, 8, a.arg, append(hopPtr(a.prefix, off), idOff)...)
					}
				}
			}
		case "rq":
			if off, _, ok := member(target, "cpu"); ok {
				p.add(a.name+".cpu", KindCPU, 4, a.arg, hopPtr(a.prefix, off)...)
			}
		case "scx_dispatch_q":
			if off, _, ok := member(target, "id"); ok {
				p.add(a.name+".id", KindDSQ, 8, a.arg, hopPtr(a.prefix, off)...)
			}
		}
		return
	}
	switch t := btf.UnderlyingType(a.typ).(type) {
	case *btf.Enum:
		switch t.Name {
		case "scx_exit_kind":
			scalar(KindExit, int(t.Size))
		default:
			scalar(KindUint, int(t.Size))
		}
	case *btf.Int:
		n := strings.ToLower(a.name)
		switch {
		case strings.Contains(n, "enq_flags"):
			scalar(KindEnqFlags, int(t.Size))
		case n == "dsq_id":
			scalar(KindDSQ, int(t.Size))
		case strings.Contains(n, "flags") || strings.Contains(n, "addr"):
			scalar(KindHex, int(t.Size))
		case strings.Contains(n, "cpu"):
			scalar(KindCPU, int(t.Size))
		case t.Encoding == btf.Bool:
			scalar(KindBool, int(t.Size))
		case t.Encoding == btf.Signed:
			scalar(KindInt, int(t.Size))
		default:
			scalar(KindUint, int(t.Size))
		}
	}
}

// hopPtr returns the path that reads at off from the pointer a prefix
// leads to: with no prefix the argument is the pointer (read at off); with
// one, the prefix's last read yields the pointer, which is then followed.
func hopPtr(prefix []uint32, off uint32) []uint32 {
	return append(append([]uint32{}, prefix...), off)
}

// kernelPlan plans the fields of a kernel function from its BTF prototype.
func kernelPlan(spec *btf.Spec, fn string) (*plan, error) {
	var f *btf.Func
	if err := spec.TypeByName(fn, &f); err != nil {
		return nil, fmt.Errorf("%s: not in the kernel's BTF (inlined, or no such function): %w", fn, err)
	}
	proto, ok := f.Type.(*btf.FuncProto)
	if !ok {
		return nil, fmt.Errorf("%s: no prototype", fn)
	}
	p := &plan{}
	for i, prm := range proto.Params {
		if i >= 6 {
			break
		}
		if prm.Type == nil {
			return nil, errors.New(fn + ": variadic")
		}
		p.addParam(param{name: prm.Name, typ: prm.Type, arg: uint8(i)})
	}
	p.ret = retField(proto.Return)
	return p, nil
}

// opPlan plans the fields of a scheduler's BPF program that implements the
// sched_ext operation op: the program's only argument is the array of the
// operation's arguments (struct sched_ext_ops' member op gives their types).
func opPlan(spec *btf.Spec, op string) *plan {
	p := &plan{}
	var ops *btf.Struct
	if spec.TypeByName("sched_ext_ops", &ops) != nil {
		return p
	}
	_, mt, ok := member(ops, op)
	if !ok {
		return p
	}
	fp, ok := pointee(mt)
	if !ok {
		return p
	}
	proto, ok := fp.(*btf.FuncProto)
	if !ok {
		return p
	}
	names := opParams[op]
	for i, prm := range proto.Params {
		if i >= 6 {
			break
		}
		name := prm.Name
		if name == "" && i < len(names) {
			name = names[i]
		} else if name == "" {
			name = fmt.Sprintf("arg%d", i)
		}
		p.addParam(param{name: name, typ: prm.Type, arg: 0, prefix: []uint32{uint32(8 * i)}})
	}
	p.ret = retField(proto.Return)
	return p
}

// opOf returns the sched_ext operation a program implements, from its name:
// the longest member of struct sched_ext_ops that the name ends with
// ("qmap_select_cpu" → select_cpu).
func opOf(spec *btf.Spec, prog string) string {
	var ops *btf.Struct
	if spec.TypeByName("sched_ext_ops", &ops) != nil {
		return ""
	}
	best := ""
	for _, m := range ops.Members {
		if _, ok := pointee(m.Type); !ok {
			continue
		}
		if (prog == m.Name || strings.HasSuffix(prog, "_"+m.Name)) && len(m.Name) > len(best) {
			best = m.Name
		}
	}
	return best
}

// enumValues reads an enum's values from BTF.
func enumValues(spec *btf.Spec, name string) []EnumVal {
	var e *btf.Enum
	if spec.TypeByName(name, &e) != nil {
		return nil
	}
	out := make([]EnumVal, 0, len(e.Values))
	for _, v := range e.Values {
		out = append(out, EnumVal{v.Name, v.Value})
	}
	return out
}

// kernelEnums reads the enums decoding needs.
func kernelEnums(spec *btf.Spec) *Enums {
	return &Enums{
		EnqFlags: enumValues(spec, "scx_enq_flags"),
		Exit:     enumValues(spec, "scx_exit_kind"),
		DSQ:      enumValues(spec, "scx_dsq_id_flags"),
	}
}
