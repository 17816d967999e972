package kernel

import (
	"debug/elf"
	"fmt"
	"os"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Boot methods: PVH enters the uncompressed vmlinux at its 32-bit PVH entry
// point (no decompression, no real-mode setup: under TCG, where the guest
// decompresses its own image in emulation, about 1.3 s sooner for the
// minimal kernel); bzImage is the classic path every x86 kernel has.
const (
	BootPVH     = "pvh"
	BootBzImage = "bzimage"
)

// xenELFNotePhys32Entry is the ELF note (owner "Xen") that marks a kernel
// built with CONFIG_PVH: QEMU's -kernel loader enters it there.
const xenELFNotePhys32Entry = 18

// BootImage picks the image to boot: the vmlinux through PVH when want is
// "auto" or "pvh" and the kernel has a PVH entry (its config says
// CONFIG_PVH=y and its vmlinux carries the entry note), else the bzImage.
// "pvh" on a kernel without one is an error; "bzimage" always boots the
// bzImage.
func BootImage(k *record.Kernel, want string) (path, method string, err error) {
	switch want {
	case BootBzImage:
		return k.Image, BootBzImage, nil
	case "", "auto", BootPVH:
	default:
		return "", "", fmt.Errorf("boot method %q: want auto, pvh or bzimage", want)
	}
	why := pvhMissing(k)
	if why == "" {
		return k.Vmlinux, BootPVH, nil
	}
	if want == BootPVH {
		return "", "", fmt.Errorf("--boot pvh: %s", why)
	}
	return k.Image, BootBzImage, nil
}

// pvhMissing says why k cannot boot through PVH ("" when it can).
func pvhMissing(k *record.Kernel) string {
	if k.Vmlinux == "" {
		return "the kernel record has no vmlinux"
	}
	if k.Config != "" {
		f, err := os.Open(k.Config)
		if err != nil {
			return fmt.Sprintf("read the kernel config: %v", err)
		}
		cfg, err := ParseConfig(f)
		f.Close()
		if err != nil {
			return fmt.Sprintf("parse the kernel config: %v", err)
		}
		if !cfg.Enabled("PVH") {
			return "the kernel was built without CONFIG_PVH"
		}
	}
	ok, err := hasPVHNote(k.Vmlinux)
	switch {
	case err != nil:
		return fmt.Sprintf("read %s: %v", k.Vmlinux, err)
	case !ok:
		return k.Vmlinux + " has no PVH entry note"
	}
	return ""
}

// hasPVHNote reports whether the ELF file at path has a Xen PHYS32_ENTRY
// note.
func hasPVHNote(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return false, err
		}
		if notesHave(b, f.ByteOrder.Uint32, "Xen", xenELFNotePhys32Entry) {
			return true, nil
		}
	}
	return false, nil
}

// notesHave scans an ELF note segment for a note of owner name and type
// typ. Malformed notes end the scan.
func notesHave(b []byte, u32 func([]byte) uint32, name string, typ uint32) bool {
	// In 64 bits: a size near 2^32 must not wrap around to a small one.
	align := func(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }
	for len(b) >= 12 {
		namesz, descsz, t := u32(b[0:4]), u32(b[4:8]), u32(b[8:12])
		b = b[12:]
		if align(namesz)+align(descsz) > uint64(len(b)) {
			return false
		}
		n := b[:namesz]
		if t == typ && namesz > 0 && string(n[:namesz-1]) == name && n[namesz-1] == 0 {
			return true
		}
		b = b[align(namesz)+align(descsz):]
	}
	return false
}
