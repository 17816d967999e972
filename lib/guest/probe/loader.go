package probe

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

//go:embed probe.bpf.o
var object []byte

// Trigger functions. 6.12 has no sched_ext_exit tracepoint (it came
// later); every exit of a sched_ext scheduler claims it in scx_claim_exit,
// whose argument is the exit kind.
const (
	triggerTracepoint = "sched_ext_exit"
	triggerFunc       = "scx_claim_exit"
)

// maxBPFTargets bounds the scheduler programs traced (each is two loads:
// fentry and fexit).
const maxBPFTargets = 16

// event is struct event of the BPF program.
type event struct {
	TS   uint64
	ID   uint32
	Exit uint32
	PID  uint32
	CPU  uint32
	OK   uint32
	_    uint32
	Comm [16]byte
	Ret  uint64
	Val  [maxFields]uint64
	Str  [strLen]byte
}

// state is struct state of the BPF program.
type state struct {
	NSlots  uint32
	Stopped uint32
	Fired   uint32
	Printk  uint32
	Lost    uint64
	Trigger event
}

// target is one attached (or failed) probe.
type target struct {
	rec    record.ProbeTarget
	plan   *plan
	links  []link.Link
	progs  []*ebpf.Program
	events int
}

// Loader holds the probes of one job in the guest.
type Loader struct {
	spec    *ebpf.CollectionSpec
	maps    *ebpf.Collection
	kernel  *btf.Spec
	enums   *Enums
	nslots  uint32
	targets []*target // index = cookie
	want    []string  // BPF program names (15-char kernel names match by prefix)
	anyBPF  bool
	seen    map[ebpf.ProgramID]bool
	own     map[ebpf.ProgramID]bool
	errors  []string
	trigger string
}

// Load creates the maps and attaches the kernel function probes and the
// trigger. Probes that cannot attach are reported in the result, not
// fatal; an error means nothing can be traced at all.
func Load(p *record.Probes) (*Loader, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, fmt.Errorf("probe object: %w", err)
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	n := p.PerCPU
	if n <= 0 {
		n = 64
	}
	spec.Maps["ring"].MaxEntries = uint32(n)
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return nil, fmt.Errorf("probe maps: %w", err)
	}
	l := &Loader{spec: spec, maps: maps, kernel: kernel, enums: kernelEnums(kernel), nslots: uint32(n),
		want: p.BPF, anyBPF: len(p.BPF) == 0, seen: map[ebpf.ProgramID]bool{}, own: map[ebpf.ProgramID]bool{}}
	st := state{NSlots: uint32(n)}
	if p.Trigger == "panic" {
		// A panic stops every CPU: the loader never flushes. Each event
		// also goes to the trace buffer, which the kernel prints on the
		// console when it panics (ftrace_dump_on_oops); a small buffer
		// keeps the last events of each CPU.
		st.Printk = 1
		writeFile("/proc/sys/kernel/ftrace_dump_on_oops", "1")
		writeFile("/sys/kernel/tracing/buffer_size_kb", "8")
	}
	if err := maps.Maps["state"].Put(uint32(0), &st); err != nil {
		maps.Close()
		return nil, fmt.Errorf("probe state: %w", err)
	}
	// The trigger first: cookie 0.
	l.trigger = p.Trigger
	if p.Trigger != "panic" {
		l.attachTrigger()
	}
	for _, fn := range p.Functions {
		l.attachKernel(fn)
	}
	if p.Trigger == "panic" {
		l.anyBPF, l.want = false, nil
	}
	return l, nil
}

func writeFile(path, v string) { os.WriteFile(path, []byte(v), 0) }

func (l *Loader) attachTrigger() {
	t := &target{rec: record.ProbeTarget{Name: triggerFunc, Type: "trigger", Attach: "fentry"}, plan: &plan{}}
	if _, err := l.kernel.AnyTypeByName("btf_trace_" + triggerTracepoint); err == nil {
		// A kernel with the tracepoint still gets the function: the
		// tracepoint fires later, after the exit was claimed.
		t.rec.Attach = "fentry (the kernel also has tracepoint " + triggerTracepoint + ")"
	}
	p, err := kernelPlan(l.kernel, triggerFunc)
	if err == nil {
		t.plan = p
		err = l.load(t, "probe_trigger", ebpf.AttachTraceFEntry, triggerFunc, nil)
	}
	if err != nil {
		t.rec.Error = oneLine(err.Error())
	}
	l.add(t)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (l *Loader) add(t *target) uint32 {
	l.targets = append(l.targets, t)
	return uint32(len(l.targets) - 1)
}

// attachKernel traces a kernel function with fentry, else with a kprobe
// (a function ftrace cannot direct-call, or one missing from BTF: its
// arguments are then not decoded).
func (l *Loader) attachKernel(fn string) {
	t := &target{rec: record.ProbeTarget{Name: fn, Type: "kernel", Attach: "fentry"}}
	p, err := kernelPlan(l.kernel, fn)
	why := "kprobe (not in BTF: arguments not decoded)"
	if err == nil {
		t.plan = p
		err = l.load(t, "probe_entry", ebpf.AttachTraceFEntry, fn, nil)
		why = "kprobe (fentry refused)"
	} else {
		t.plan = &plan{}
	}
	if err != nil {
		if kerr := l.loadKprobe(t, fn); kerr != nil {
			t.rec.Error = oneLine(fmt.Sprintf("fentry: %v; kprobe: %v", err, kerr))
		} else {
			t.rec.Attach = why
		}
	}
	l.add(t)
}

func (l *Loader) loadKprobe(t *target, fn string) error {
	id := uint32(len(l.targets))
	if err := l.maps.Maps["targets"].Put(id, &t.plan.raw); err != nil {
		return fmt.Errorf("targets map: %w", err)
	}
	ps := l.spec.Programs["probe_kprobe"].Copy()
	ps.AttachTo = fn
	for name, m := range l.maps.Maps {
		ps.Instructions.AssociateMap(name, m)
	}
	prog, err := ebpf.NewProgramWithOptions(ps, ebpf.ProgramOptions{KernelTypes: l.kernel})
	if err != nil {
		return fmt.Errorf("load: %w", shortVerifierError(err))
	}
	lk, err := link.Kprobe(fn, prog, &link.KprobeOptions{Cookie: uint64(id)})
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach: %w", err)
	}
	t.progs, t.links = append(t.progs, prog), append(t.links, lk)
	return nil
}

// load loads the named program of the object for one target, registers
// the target's fields under its cookie and attaches it.
func (l *Loader) load(t *target, progName string, at ebpf.AttachType, attachTo string, targetProg *ebpf.Program) error {
	id := uint32(len(l.targets)) // the cookie this target gets in add
	if err := l.maps.Maps["targets"].Put(id, &t.plan.raw); err != nil {
		return fmt.Errorf("targets map: %w", err)
	}
	ps := l.spec.Programs[progName].Copy()
	ps.AttachType, ps.AttachTo, ps.AttachTarget = at, attachTo, targetProg
	for name, m := range l.maps.Maps {
		if err := ps.Instructions.AssociateMap(name, m); err != nil && !errors.Is(err, asmErrUnreferenced) {
			return fmt.Errorf("map %s: %w", name, err)
		}
	}
	prog, err := ebpf.NewProgramWithOptions(ps, ebpf.ProgramOptions{KernelTypes: l.kernel})
	if err != nil {
		return fmt.Errorf("load: %w", shortVerifierError(err))
	}
	if info, err := prog.Info(); err == nil {
		if pid, ok := info.ID(); ok {
			l.own[pid] = true
		}
	}
	lk, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: at, Cookie: uint64(id)})
	if err != nil {
		prog.Close()
		return fmt.Errorf("attach: %w", err)
	}
	t.progs = append(t.progs, prog)
	t.links = append(t.links, lk)
	return nil
}

// shortVerifierError keeps the first and last lines of a verifier error.
func shortVerifierError(err error) error {
	s := err.Error()
	if lines := strings.Split(s, "\n"); len(lines) > 6 {
		s = strings.Join(append(lines[:2], lines[len(lines)-3:]...), " | ")
	}
	return errors.New(s)
}

// Poll attaches fentry and fexit to the scheduler's BPF programs that
// appeared since the last call. It returns how many it attached.
func (l *Loader) Poll() int {
	if !l.anyBPF && len(l.want) == 0 {
		return 0
	}
	n := 0
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return n
		}
		id = next
		if l.seen[id] || l.own[id] {
			continue
		}
		l.seen[id] = true
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := prog.Info()
		if err != nil || info.Type != ebpf.StructOps || !l.wanted(info.Name) || l.bpfCount() >= maxBPFTargets {
			prog.Close()
			continue
		}
		l.attachBPF(prog, info, id)
		n++
	}
}

func (l *Loader) wanted(name string) bool {
	if l.anyBPF {
		return true
	}
	for _, w := range l.want {
		if w == name || (len(name) >= 15 && strings.HasPrefix(w, name)) {
			return true
		}
	}
	return false
}

func (l *Loader) bpfCount() int {
	n := 0
	for _, t := range l.targets {
		if t.rec.Type == "bpf" {
			n++
		}
	}
	return n
}

// attachBPF traces one of the scheduler's programs on entry and exit.
func (l *Loader) attachBPF(prog *ebpf.Program, info *ebpf.ProgramInfo, id ebpf.ProgramID) {
	defer prog.Close()
	name := funcName(prog, info, l.kernel)
	t := &target{rec: record.ProbeTarget{Name: name, Type: "bpf", Attach: "fentry+fexit", ProgID: uint32(id)}}
	t.plan = opPlan(l.kernel, opOf(l.kernel, name))
	err := l.load(t, "probe_entry", ebpf.AttachTraceFEntry, name, prog)
	if err == nil {
		// One target, two programs: the exit shares the cookie.
		err = l.loadExit(t, name, prog)
	}
	if err != nil {
		t.rec.Error = oneLine(err.Error())
	}
	l.add(t)
}

func (l *Loader) loadExit(t *target, name string, prog *ebpf.Program) error {
	id := uint32(len(l.targets))
	ps := l.spec.Programs["probe_exit"].Copy()
	ps.AttachType, ps.AttachTo, ps.AttachTarget = ebpf.AttachTraceFExit, name, prog
	for mn, m := range l.maps.Maps {
		ps.Instructions.AssociateMap(mn, m)
	}
	p, err := ebpf.NewProgramWithOptions(ps, ebpf.ProgramOptions{KernelTypes: l.kernel})
	if err != nil {
		return fmt.Errorf("load fexit: %w", shortVerifierError(err))
	}
	if info, err := p.Info(); err == nil {
		if pid, ok := info.ID(); ok {
			l.own[pid] = true
		}
	}
	lk, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceFExit, Cookie: uint64(id)})
	if err != nil {
		p.Close()
		return fmt.Errorf("attach fexit: %w", err)
	}
	t.progs, t.links = append(t.progs, p), append(t.links, lk)
	return nil
}

// funcName is a program's function name in its BTF: the kernel keeps 15
// characters of the name, the BTF the whole of it.
func funcName(prog *ebpf.Program, info *ebpf.ProgramInfo, kernel *btf.Spec) string {
	id, ok := info.BTFID()
	if !ok {
		return info.Name
	}
	h, err := btf.NewHandleFromID(id)
	if err != nil {
		return info.Name
	}
	defer h.Close()
	spec, err := h.Spec(kernel)
	if err != nil {
		return info.Name
	}
	best := ""
	for typ, err := range spec.All() {
		if err != nil {
			break
		}
		if f, ok := typ.(*btf.Func); ok && strings.HasPrefix(f.Name, info.Name) && f.Linkage == btf.GlobalFunc {
			if best == "" || f.Name == info.Name || len(f.Name) < len(best) {
				best = f.Name
			}
		}
	}
	if best == "" {
		return info.Name
	}
	return best
}

// Fired reports whether the trigger has fired.
func (l *Loader) Fired() bool {
	var st state
	if err := l.maps.Maps["state"].Lookup(uint32(0), &st); err != nil {
		return false
	}
	return st.Fired != 0
}

// Result reads the rings: every CPU's last events, oldest first, decoded.
// how is the trigger that flushed them ("sched_ext_exit" or "end").
func (l *Loader) Result(how string) *record.ProbeResult {
	res := &record.ProbeResult{Trigger: how, Errors: l.errors}
	var st state
	if err := l.maps.Maps["state"].Lookup(uint32(0), &st); err != nil {
		res.Errors = append(res.Errors, "read state: "+err.Error())
	}
	res.Lost = st.Lost
	for i := range l.targets {
		l.targets[i].events = 0
	}
	if st.Fired != 0 {
		ev := l.decode(&st.Trigger)
		res.Fired = &ev
	}
	ring := l.maps.Maps["ring"]
	for slot := uint32(0); slot < l.nslots; slot++ {
		var perCPU []event
		if err := ring.Lookup(slot, &perCPU); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("read ring slot %d: %v", slot, err))
			break
		}
		for i := range perCPU {
			if perCPU[i].TS == 0 {
				continue
			}
			res.Events = append(res.Events, l.decode(&perCPU[i]))
			if id := int(perCPU[i].ID); id < len(l.targets) {
				l.targets[id].events++
			}
		}
	}
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].TNS < res.Events[j].TNS })
	for _, t := range l.targets {
		r := t.rec
		r.Events = t.events
		if t.plan != nil {
			for _, f := range t.plan.fields {
				r.Fields = append(r.Fields, f.Name+":"+f.Kind)
			}
		}
		res.Targets = append(res.Targets, r)
	}
	return res
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (l *Loader) decode(e *event) record.ProbeEvent {
	ev := record.ProbeEvent{TNS: e.TS, CPU: int(e.CPU), PID: int(e.PID), Comm: cstr(e.Comm[:]), Exit: e.Exit == 1}
	if int(e.ID) >= len(l.targets) {
		ev.Func = fmt.Sprintf("target#%d", e.ID)
		return ev
	}
	t := l.targets[e.ID]
	ev.Func = t.rec.Name
	if t.plan != nil {
		for i, f := range t.plan.fields {
			v := "NULL" // a NULL pointer on the field's path
			if e.OK&(1<<i) != 0 {
				v = l.enums.Decode(f, e.Val[i], cstr(e.Str[:]))
			}
			ev.Args = append(ev.Args, f.Name+"="+v)
		}
	}
	if ev.Exit && t.plan != nil && t.plan.ret != nil {
		ev.Ret = l.enums.Decode(*t.plan.ret, e.Ret, "")
	} else if ev.Exit && t.plan == nil {
		ev.Ret = fmt.Sprintf("%#x", e.Ret)
	}
	return ev
}

// Close detaches every probe.
func (l *Loader) Close() {
	for _, t := range l.targets {
		for _, lk := range t.links {
			lk.Close()
		}
		for _, p := range t.progs {
			p.Close()
		}
	}
	l.maps.Close()
}
