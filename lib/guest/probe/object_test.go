package probe

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
)

// TestObject: the committed object has the programs the loader loads, of
// the types it expects, and its maps' values are exactly the Go structs
// (a change on one side only would corrupt every event).
func TestObject(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]ebpf.AttachType{
		"probe_entry": ebpf.AttachTraceFEntry, "probe_exit": ebpf.AttachTraceFExit, "probe_trigger": ebpf.AttachTraceFEntry,
	} {
		p := spec.Programs[name]
		if p == nil || p.Type != ebpf.Tracing || p.AttachType != want {
			t.Errorf("program %s: %+v, want tracing %v", name, p, want)
		}
	}
	if p := spec.Programs["probe_kprobe"]; p == nil || p.Type != ebpf.Kprobe {
		t.Errorf("program probe_kprobe: %+v", p)
	}
	for name, v := range map[string]any{"ring": event{}, "state": state{}, "targets": rawTarget{}, "head": uint64(0)} {
		m := spec.Maps[name]
		if m == nil {
			t.Errorf("no map %s", name)
			continue
		}
		if got, want := m.ValueSize, uint32(binary.Size(v)); got != want {
			t.Errorf("map %s: value %d bytes in the object, %d in Go", name, got, want)
		}
	}
	if got := spec.Maps["targets"].KeySize; got != 4 {
		t.Errorf("targets key %d bytes, want 4 (the cookie as u32)", got)
	}
}
