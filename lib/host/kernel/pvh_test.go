package kernel

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func note(name string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	pad := func(b []byte) []byte {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	n := append([]byte(name), 0)
	out := le.AppendUint32(nil, uint32(len(n)))
	out = le.AppendUint32(out, uint32(len(desc)))
	out = le.AppendUint32(out, typ)
	return append(append(out, pad(n)...), pad(desc)...)
}

func TestNotesHave(t *testing.T) {
	seg := append(note("GNU", 3, []byte{1, 2, 3, 4, 5}), note("Xen", 18, []byte{0, 0, 0, 1})...)
	if !notesHave(seg, binary.LittleEndian.Uint32, "Xen", 18) {
		t.Error("PVH note not found after another note")
	}
	if notesHave(seg, binary.LittleEndian.Uint32, "Xen", 17) || notesHave(seg[:20], binary.LittleEndian.Uint32, "Xen", 18) {
		t.Error("found a note that is not there (wrong type, or truncated segment)")
	}
}

// FuzzNotesHave: a segment built from notes finds exactly the notes in it,
// whatever garbage follows; garbage alone never panics.
func FuzzNotesHave(f *testing.F) {
	f.Add("Xen", uint32(18), []byte{1, 2}, []byte{9, 9, 9})
	f.Fuzz(func(t *testing.T, name string, typ uint32, desc, tail []byte) {
		if len(name) > 64 || len(desc) > 256 {
			return
		}
		for _, c := range []byte(name) {
			if c == 0 {
				return
			}
		}
		seg := append(note(name, typ, desc), tail...)
		if !notesHave(seg, binary.LittleEndian.Uint32, name, typ) {
			t.Fatalf("note %q/%d not found", name, typ)
		}
		notesHave(tail, binary.LittleEndian.Uint32, name, typ)
	})
}

func TestBootImage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("CONFIG_PVH=y\n"), 0o644)
	k := &record.Kernel{Image: "bzImage", Vmlinux: filepath.Join(dir, "vmlinux-missing"), Config: cfg}
	if p, m, err := BootImage(k, "auto"); err != nil || m != BootBzImage || p != "bzImage" {
		t.Errorf("no vmlinux: %s %s %v", p, m, err)
	}
	if _, _, err := BootImage(k, "pvh"); err == nil {
		t.Error("--boot pvh without a vmlinux accepted")
	}
	if _, m, _ := BootImage(k, "bzimage"); m != BootBzImage {
		t.Error("bzimage not honoured")
	}
	if _, _, err := BootImage(k, "uefi"); err == nil {
		t.Error("unknown method accepted")
	}
	// A real cached kernel, when there is one.
	entries, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".cache/ktstr/kernels/*/vmlinux"))
	for _, v := range entries {
		d := filepath.Dir(v)
		k := &record.Kernel{Image: filepath.Join(d, "bzImage"), Vmlinux: v, Config: filepath.Join(d, "config")}
		if p, m, err := BootImage(k, "auto"); err != nil || m != BootPVH || p != v {
			t.Errorf("cached minimal kernel %s: %s %s %v", d, p, m, err)
		}
	}
}
