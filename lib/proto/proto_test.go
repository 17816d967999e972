package proto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCollect(t *testing.T) {
	in := `{"type":"hello","t":0.1,"hello":{"kernel_release":"6.12.117","cmdline":"x","uptime_s":1.5}}
not json
{"t":2}

{"type":"done","t":3}
{"type":"exec","t":3.1,"exec":{"command":"x","exit_code":0,"stdout":"partial`
	msgs, errs := Collect(strings.NewReader(in))
	if len(msgs) != 2 || msgs[0].Hello.KernelRelease != "6.12.117" || msgs[1].Type != MsgDone {
		t.Fatalf("messages %+v", msgs)
	}
	if len(errs) != 3 {
		t.Fatalf("errors %v, want 3 (not json, no type, truncated)", errs)
	}
	var me *MalformedError
	if !errors.As(errs[2], &me) || !strings.Contains(me.Reason, "truncated") || me.Line != 6 {
		t.Errorf("last error %v", errs[2])
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte(`{"type":"done","t":1}` + "\n"))
	f.Add([]byte("{\n\n{\"type\":\"x\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := Collect(bytes.NewReader(data))
		for _, m := range msgs {
			if m.Type == "" {
				t.Fatalf("message without type: %+v", m)
			}
		}
	})
}
