package probe

import "testing"

// The 6.12 values of the enums, as BTF gives them.
var enums612 = &Enums{
	EnqFlags: []EnumVal{{"SCX_ENQ_WAKEUP", 1}, {"SCX_ENQ_HEAD", 16}, {"SCX_ENQ_CPU_SELECTED", 1024},
		{"SCX_ENQ_PREEMPT", 1 << 32}, {"SCX_ENQ_REENQ", 1 << 40}, {"SCX_ENQ_LAST", 1 << 41},
		{"SCX_ENQ_CLEAR_OPSS", 1 << 56}, {"SCX_ENQ_DSQ_PRIQ", 1 << 57}},
	Exit: []EnumVal{{"SCX_EXIT_NONE", 0}, {"SCX_EXIT_DONE", 1}, {"SCX_EXIT_UNREG", 64}, {"SCX_EXIT_ERROR", 1024},
		{"SCX_EXIT_ERROR_BPF", 1025}, {"SCX_EXIT_ERROR_STALL", 1026}},
	DSQ: []EnumVal{{"SCX_DSQ_FLAG_BUILTIN", 1 << 63}, {"SCX_DSQ_FLAG_LOCAL_ON", 1 << 62},
		{"SCX_DSQ_INVALID", 1 << 63}, {"SCX_DSQ_GLOBAL", 1<<63 | 1}, {"SCX_DSQ_LOCAL", 1<<63 | 2},
		{"SCX_DSQ_LOCAL_ON", 1<<63 | 1<<62}, {"SCX_DSQ_LOCAL_CPU_MASK", 0xffffffff}},
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		f    Field
		v    uint64
		want string
	}{
		{Field{Kind: KindDSQ}, 1<<63 | 2, "LOCAL"},
		{Field{Kind: KindDSQ}, 1<<63 | 1, "GLOBAL"},
		{Field{Kind: KindDSQ}, 1 << 63, "INVALID"},
		{Field{Kind: KindDSQ}, 1<<63 | 1<<62 | 3, "LOCAL_ON|3"},
		{Field{Kind: KindDSQ}, 1<<63 | 7, "BUILTIN(7)"},
		{Field{Kind: KindDSQ}, 0x10, "DSQ(0x10)"},
		{Field{Kind: KindEnqFlags}, 1 | 16 | 1<<41 | 1<<3, "WAKEUP|HEAD|LAST|0x8"},
		{Field{Kind: KindEnqFlags}, 0, "0"},
		{Field{Kind: KindExit}, 1025, "ERROR_BPF"},
		{Field{Kind: KindExit}, 7, "7"},
		{Field{Kind: KindInt, Size: 4}, 0xffffffff, "-1"},
		{Field{Kind: KindCPU, Size: 4}, 3, "3"},
		{Field{Kind: KindHex}, 255, "0xff"},
		{Field{Kind: KindBool}, 2, "true"},
	} {
		if got := enums612.Decode(c.f, c.v, ""); got != c.want {
			t.Errorf("Decode(%s, %#x) = %q, want %q", c.f.Kind, c.v, got, c.want)
		}
	}
	if got := enums612.Decode(Field{Kind: KindComm}, 0, "kt:w0"); got != "kt:w0" {
		t.Errorf("comm %q", got)
	}
}
