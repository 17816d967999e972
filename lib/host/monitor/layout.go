// Package monitor watches a running guest's scheduler from the host: it
// reads each CPU's runqueue (nr_running, rq->clock, sched_ext's nr_running
// and local DSQ depth, the current task), sched_ext's state and global DSQs
// straight from guest memory (lib/host/guestmem), with addresses from the
// kernel's vmlinux symbols and offsets from its BTF, so nothing runs or
// changes in the guest. It can also override sched_ext's watchdog timeout.
package monitor

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/ktstr-go/ktstr/lib/host/guestmem"
)

// Field names, as reported in Layout.Absent and the run record.
const (
	FieldNrRunning   = "nr_running"
	FieldClock       = "rq_clock"
	FieldSCXNr       = "scx_nr_running"
	FieldLocalDSQ    = "local_dsq_depth"
	FieldCurr        = "curr"
	FieldSCXState    = "scx_state"
	FieldGlobalDSQ   = "global_dsq_depth"
	FieldWatchdog    = "watchdog_timeout"
	FieldRunqueues   = "runqueues"
	fieldTaskPID     = "curr.pid"
	fieldTaskComm    = "curr.comm"
	taskCommLen      = 16
	maxReasonPerLine = 200
)

// Layout is what the monitor needs to know about one kernel build: symbol
// addresses and structure member offsets (bytes). An offset of -1 means the
// kernel lacks the member; Absent says why.
type Layout struct {
	Syms guestmem.KernelSymbols
	// Runqueues is the per-CPU variable runqueues (struct rq).
	Runqueues uint64
	// LinuxBanner is linux_banner, to check the image is where expected.
	LinuxBanner string
	BannerAddr  uint64
	// SCXEnableState is sched_ext's enable-state atomic (6.12:
	// scx_ops_enable_state_var; later: scx_enable_state_var) and
	// SCXStates its enum's value names, by value.
	SCXEnableState uint64
	SCXStates      map[uint32]string
	// GlobalDSQs is global_dsqs (struct scx_dispatch_q *[nr_node_ids]).
	GlobalDSQs uint64
	// WatchdogTimeout and WatchdogTimestamp are scx_watchdog_timeout and
	// scx_watchdog_timestamp (jiffies), Jiffies is jiffies.
	WatchdogTimeout, WatchdogTimestamp, Jiffies uint64

	// Offsets in struct rq, struct task_struct, struct scx_dispatch_q.
	RqNrRunning, RqClock, RqSCXNr, RqLocalDSQNr, RqCurr int
	TaskPID, TaskComm, DSQNr                            int

	// Absent maps a field the kernel lacks to the reason.
	Absent map[string]string
}

var layoutCache sync.Map // vmlinux path → *Layout or error

// LoadLayout reads symbols and BTF from a vmlinux (cached per path: one
// kernel build's layout never changes). Missing members are recorded in
// Absent; only a vmlinux without the essentials (runqueues, the page
// tables, __per_cpu_offset) is an error.
func LoadLayout(vmlinux string) (*Layout, error) {
	if v, ok := layoutCache.Load(vmlinux); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*Layout), nil
	}
	l, err := loadLayout(vmlinux)
	if err != nil {
		layoutCache.Store(vmlinux, err)
		return nil, err
	}
	layoutCache.Store(vmlinux, l)
	return l, nil
}

func loadLayout(vmlinux string) (*Layout, error) {
	f, err := elf.Open(vmlinux)
	if err != nil {
		return nil, fmt.Errorf("open vmlinux: %w", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("vmlinux symbols: %w", err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		switch s.Name {
		case "init_top_pgt", "phys_base", "page_offset_base", "__pgtable_l5_enabled", "__per_cpu_offset",
			"runqueues", "linux_banner", "scx_ops_enable_state_var", "scx_enable_state_var", "global_dsqs",
			"scx_watchdog_timeout", "scx_watchdog_timestamp", "jiffies":
			addr[s.Name] = s.Value
		}
	}
	l := &Layout{
		Syms: guestmem.KernelSymbols{
			InitTopPgt: addr["init_top_pgt"], PhysBase: addr["phys_base"], PageOffsetBase: addr["page_offset_base"],
			L5Enabled: addr["__pgtable_l5_enabled"], PerCPUOffset: addr["__per_cpu_offset"],
		},
		Runqueues: addr["runqueues"], BannerAddr: addr["linux_banner"],
		GlobalDSQs: addr["global_dsqs"], WatchdogTimeout: addr["scx_watchdog_timeout"],
		WatchdogTimestamp: addr["scx_watchdog_timestamp"], Jiffies: addr["jiffies"],
		RqNrRunning: -1, RqClock: -1, RqSCXNr: -1, RqLocalDSQNr: -1, RqCurr: -1, TaskPID: -1, TaskComm: -1, DSQNr: -1,
		Absent: map[string]string{},
	}
	for _, need := range []string{"init_top_pgt", "phys_base", "__per_cpu_offset", "runqueues"} {
		if addr[need] == 0 {
			return nil, fmt.Errorf("vmlinux %s has no symbol %s", vmlinux, need)
		}
	}
	if sec := f.Section(".rodata"); sec != nil && l.BannerAddr >= sec.Addr && l.BannerAddr < sec.Addr+sec.Size {
		b := make([]byte, 256)
		if _, err := sec.ReadAt(b, int64(l.BannerAddr-sec.Addr)); err == nil {
			l.LinuxBanner = strings.SplitN(string(b), "\x00", 2)[0]
		}
	}
	l.SCXEnableState = addr["scx_enable_state_var"]
	if l.SCXEnableState == 0 {
		l.SCXEnableState = addr["scx_ops_enable_state_var"]
	}

	spec, err := btf.LoadSpec(vmlinux)
	if err != nil {
		for _, fld := range []string{FieldNrRunning, FieldClock, FieldSCXNr, FieldLocalDSQ, FieldCurr, FieldGlobalDSQ} {
			l.Absent[fld] = "vmlinux has no usable BTF: " + err.Error()
		}
		return l, nil
	}
	var rq *btf.Struct
	if err := spec.TypeByName("rq", &rq); err != nil {
		return nil, fmt.Errorf("vmlinux BTF has no struct rq: %w", err)
	}
	set := func(field string, dst *int, t btf.Type, path ...string) {
		off, err := memberOffset(t, path...)
		if err != nil {
			if _, already := l.Absent[field]; !already {
				l.Absent[field] = err.Error()
			}
			return
		}
		*dst = off
	}
	set(FieldNrRunning, &l.RqNrRunning, rq, "nr_running")
	set(FieldClock, &l.RqClock, rq, "clock")
	set(FieldSCXNr, &l.RqSCXNr, rq, "scx", "nr_running")
	set(FieldLocalDSQ, &l.RqLocalDSQNr, rq, "scx", "local_dsq", "nr")
	set(FieldCurr, &l.RqCurr, rq, "curr")
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err == nil {
		set(FieldCurr, &l.TaskPID, task, "pid")
		set(FieldCurr, &l.TaskComm, task, "comm")
	} else {
		l.Absent[FieldCurr] = "BTF has no struct task_struct"
	}
	var dsq *btf.Struct
	if err := spec.TypeByName("scx_dispatch_q", &dsq); err == nil {
		set(FieldGlobalDSQ, &l.DSQNr, dsq, "nr")
	} else {
		l.Absent[FieldGlobalDSQ] = "BTF has no struct scx_dispatch_q (kernel without sched_ext)"
	}
	if l.GlobalDSQs == 0 {
		l.Absent[FieldGlobalDSQ] = "vmlinux has no global_dsqs (per-node global DSQs came in 6.12)"
	}
	if l.SCXEnableState == 0 {
		l.Absent[FieldSCXState] = "vmlinux has neither scx_enable_state_var nor scx_ops_enable_state_var"
	} else {
		l.SCXStates = enumNames(spec, "scx_enable_state", "scx_ops_enable_state")
		if l.SCXStates == nil {
			l.Absent[FieldSCXState] = "BTF has no enum scx_enable_state or scx_ops_enable_state"
		}
	}
	if l.WatchdogTimeout == 0 {
		l.Absent[FieldWatchdog] = "vmlinux has no static scx_watchdog_timeout (7.1+ keeps it in scx_sched, not supported)"
	}
	return l, nil
}

// memberOffset finds a member path in a struct, looking through anonymous
// structs and unions (the kernel nests members in them), in bytes.
func memberOffset(t btf.Type, path ...string) (int, error) {
	off := 0
	cur := t
	for i, name := range path {
		members, ok := membersOf(cur)
		if !ok {
			return 0, fmt.Errorf("%s is not a struct", strings.Join(path[:i], "."))
		}
		bits, typ, found := findMember(members, name)
		if !found {
			return 0, fmt.Errorf("BTF: %s has no member %s", typeName(cur), name)
		}
		if bits%8 != 0 {
			return 0, fmt.Errorf("BTF: %s.%s is a bitfield", typeName(cur), name)
		}
		off += int(bits / 8)
		cur = btf.UnderlyingType(typ)
	}
	return off, nil
}

func membersOf(t btf.Type) ([]btf.Member, bool) {
	switch s := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		return s.Members, true
	case *btf.Union:
		return s.Members, true
	}
	return nil, false
}

func findMember(members []btf.Member, name string) (btf.Bits, btf.Type, bool) {
	for _, m := range members {
		if m.Name == name {
			return m.Offset, m.Type, true
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		if inner, ok := membersOf(m.Type); ok {
			if off, typ, found := findMember(inner, name); found {
				return m.Offset + off, typ, true
			}
		}
	}
	return 0, nil, false
}

func typeName(t btf.Type) string {
	if n := t.TypeName(); n != "" {
		return n
	}
	return "(anonymous)"
}

func enumNames(spec *btf.Spec, names ...string) map[uint32]string {
	for _, n := range names {
		var e *btf.Enum
		if err := spec.TypeByName(n, &e); err != nil {
			continue
		}
		out := map[uint32]string{}
		for _, v := range e.Values {
			name := strings.ToLower(v.Name)
			for _, p := range []string{"scx_ops_", "scx_"} {
				name = strings.TrimPrefix(name, p)
			}
			out[uint32(v.Value)] = name
		}
		return out
	}
	return nil
}

// AbsentList renders Absent as sorted "field: reason" lines.
func (l *Layout) AbsentList() []string {
	var out []string
	for f, r := range l.Absent {
		if len(r) > maxReasonPerLine {
			r = r[:maxReasonPerLine]
		}
		out = append(out, f+": "+r)
	}
	sort.Strings(out)
	return out
}
