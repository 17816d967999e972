package probe

import (
	"fmt"
	"sort"
	"strings"
)

// Decoders turn a field's raw value into text. They are kinds, not types:
// the loader picks one per field from the field's BTF type and name.
const (
	KindInt      = "int"       // signed decimal of the field's size
	KindUint     = "uint"      // unsigned decimal
	KindHex      = "hex"       // 0x...
	KindBool     = "bool"      // true/false
	KindPID      = "pid"       // a task's pid
	KindComm     = "comm"      // a task's comm (the event's string)
	KindCPU      = "cpu"       // a CPU number
	KindDSQ      = "dsq"       // a dispatch queue id, builtin ones by name
	KindEnqFlags = "enq_flags" // SCX_ENQ_* bits
	KindExit     = "exit_kind" // enum scx_exit_kind
	KindEnum     = "enum"      // another enum, by value name
)

// EnumVal is one value of a kernel enum, from BTF.
type EnumVal struct {
	Name  string
	Value uint64
}

// Enums are the kernel enums decoding needs, read from BTF: scx_enq_flags,
// scx_exit_kind and scx_dsq_id_flags (with their SCX_ prefixes).
type Enums struct {
	EnqFlags []EnumVal
	Exit     []EnumVal
	DSQ      []EnumVal
	// Other maps an enum type name to its values (KindEnum fields).
	Other map[string][]EnumVal
}

func (e *Enums) value(vals []EnumVal, name string) (uint64, bool) {
	for _, v := range vals {
		if v.Name == name {
			return v.Value, true
		}
	}
	return 0, false
}

// Field describes one decoded field of a target.
type Field struct {
	// Name is the argument's name and the member path, "p.pid".
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Size is the value's size in bytes (for signed decoding).
	Size int `json:"size,omitempty"`
	// Enum names the enum type of a KindEnum field.
	Enum string `json:"enum,omitempty"`
}

// Decode renders v (or str, for KindComm) as its kind says.
func (e *Enums) Decode(f Field, v uint64, str string) string {
	switch f.Kind {
	case KindComm:
		return str
	case KindInt, KindCPU, KindPID:
		switch f.Size {
		case 1:
			return fmt.Sprint(int8(v))
		case 2:
			return fmt.Sprint(int16(v))
		case 4:
			return fmt.Sprint(int32(v))
		}
		return fmt.Sprint(int64(v))
	case KindUint:
		return fmt.Sprint(v)
	case KindBool:
		return fmt.Sprint(v != 0)
	case KindDSQ:
		return e.dsq(v)
	case KindEnqFlags:
		return flags(e.EnqFlags, "SCX_ENQ_", v)
	case KindExit:
		return enumName(e.Exit, "SCX_EXIT_", v)
	case KindEnum:
		return enumName(e.Other[f.Enum], "", v)
	}
	return fmt.Sprintf("%#x", v)
}

func enumName(vals []EnumVal, prefix string, v uint64) string {
	for _, ev := range vals {
		if ev.Value == v {
			return strings.TrimPrefix(ev.Name, prefix)
		}
	}
	return fmt.Sprint(v)
}

// flags renders v as the single-bit values of vals it has, joined by "|",
// and what is left in hex.
func flags(vals []EnumVal, prefix string, v uint64) string {
	if v == 0 {
		return "0"
	}
	bits := make([]EnumVal, 0, len(vals))
	for _, ev := range vals {
		if ev.Value != 0 && ev.Value&(ev.Value-1) == 0 {
			bits = append(bits, ev)
		}
	}
	sort.Slice(bits, func(i, j int) bool { return bits[i].Value < bits[j].Value })
	var parts []string
	rest := v
	for _, b := range bits {
		if rest&b.Value != 0 {
			parts = append(parts, strings.TrimPrefix(b.Name, prefix))
			rest &^= b.Value
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(parts, "|")
}

// dsq names a dispatch queue id: builtin ones (SCX_DSQ_FLAG_BUILTIN set)
// by name, LOCAL_ON with its CPU, the rest DSQ(0x..).
func (e *Enums) dsq(v uint64) string {
	builtin, ok1 := e.value(e.DSQ, "SCX_DSQ_FLAG_BUILTIN")
	localOn, ok2 := e.value(e.DSQ, "SCX_DSQ_FLAG_LOCAL_ON")
	if !ok1 {
		builtin = 1 << 63
	}
	if !ok2 {
		localOn = 1 << 62
	}
	if v&builtin == 0 {
		return fmt.Sprintf("DSQ(%#x)", v)
	}
	if v&localOn != 0 {
		mask, ok := e.value(e.DSQ, "SCX_DSQ_LOCAL_CPU_MASK")
		if !ok {
			mask = 0xffffffff
		}
		return fmt.Sprintf("LOCAL_ON|%d", v&mask)
	}
	for _, ev := range e.DSQ {
		if ev.Value == v && !strings.HasPrefix(ev.Name, "SCX_DSQ_FLAG_") && !strings.HasSuffix(ev.Name, "_MASK") {
			return strings.TrimPrefix(ev.Name, "SCX_DSQ_")
		}
	}
	return fmt.Sprintf("BUILTIN(%d)", v&^builtin)
}
