package proto

import (
	"bytes"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestStartRoundTrip(t *testing.T) {
	j := &record.Job{ID: "j1", Topology: &record.Topology{Name: "1n1l2c1t", CPUs: 2}, DurationS: 3, Exec: "echo hi"}
	line, err := EncodeStart(j, 1234567890123, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("start is not one line: %q", line)
	}
	s, got, err := DecodeStart(bytes.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "j1" || got.Exec != "echo hi" || got.Topology.CPUs != 2 || s.UnixNS != 1234567890123 || !bytes.Equal(s.Seed, []byte{1, 2, 3}) {
		t.Fatalf("round trip: %+v %+v", s, got)
	}
}

func TestDecodeStartRejects(t *testing.T) {
	for _, in := range []string{``, `{}`, `{"job":null}`, `{"job":{"kind":"run","v":1}}`, `not json`} {
		if _, _, err := DecodeStart([]byte(in)); err == nil {
			t.Errorf("DecodeStart(%q) accepted", in)
		}
	}
}

// FuzzStart: whatever DecodeStart accepts encodes again to a line that
// decodes to the same clock, seed and job id.
func FuzzStart(f *testing.F) {
	line, _ := EncodeStart(&record.Job{ID: "x", Topology: &record.Topology{Name: "t"}}, 5, []byte("seed"))
	f.Add(bytes.TrimSpace(line))
	f.Add([]byte(`{"job":{"kind":"job","v":1,"topology":null},"unix_ns":-1,"seed":"AA=="}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, j, err := DecodeStart(in)
		if err != nil {
			return
		}
		again, err := EncodeStart(j, s.UnixNS, s.Seed)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, j2, err := DecodeStart(bytes.TrimSpace(again))
		if err != nil {
			t.Fatalf("decode of re-encoded start: %v", err)
		}
		if s2.UnixNS != s.UnixNS || !bytes.Equal(s2.Seed, s.Seed) || j2.ID != j.ID {
			t.Fatalf("round trip changed: %+v %+v", s, s2)
		}
	})
}
