package guestmem

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

func TestQ35Layout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []uint64
		want  []Region
	}{
		{"small, one node", []uint64{512 * mib}, []Region{{0, 512 * mib, 0, 0}}},
		{"below the threshold stays low", []uint64{1 * gib, 1 * gib}, []Region{{0, gib, 0, 0}, {gib, gib, 1, 0}}},
		{"2.75 GiB splits at 2 GiB", []uint64{0xb0000000}, []Region{{0, 2 * gib, 0, 0}, {4 * gib, 0xb0000000 - 2*gib, 0, 2 * gib}}},
		{"split inside the second node", []uint64{1536 * mib, 1536 * mib}, []Region{
			{0, 1536 * mib, 0, 0}, {1536 * mib, 512 * mib, 1, 0}, {4 * gib, gib, 1, 512 * mib}}},
		{"split at a node boundary", []uint64{2 * gib, 2 * gib}, []Region{{0, 2 * gib, 0, 0}, {4 * gib, 2 * gib, 1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Q35Layout(tc.sizes, 0)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			var sum uint64
			for _, r := range got {
				sum += r.Size
				if r.GPA < 4*gib && r.GPA+r.Size > 2*gib && sum > 0xb0000000 {
					t.Errorf("region %+v crosses the PCI hole", r)
				}
			}
			var total uint64
			for _, s := range tc.sizes {
				total += s
			}
			if sum != total {
				t.Errorf("regions cover %d bytes, files %d", sum, total)
			}
		})
	}
}

func TestReadAcrossRegions(t *testing.T) {
	a, b := make([]byte, 8*kib), make([]byte, 8*kib)
	for i := range a {
		a[i], b[i] = byte(i), byte(i+100)
	}
	// File 0 at 0, file 1's first half at 8 KiB, its second half at 64 KiB.
	m := FromBytes([][]byte{a, b}, []Region{{0, 8 * kib, 0, 0}, {8 * kib, 4 * kib, 1, 0}, {64 * kib, 4 * kib, 1, 4 * kib}})
	got := make([]byte, 4)
	if err := m.ReadAt(got, 8*kib-2); err != nil {
		t.Fatal(err)
	}
	if want := []byte{a[8*kib-2], a[8*kib-1], b[0], b[1]}; !slices.Equal(got, want) {
		t.Errorf("read across files: %v, want %v", got, want)
	}
	if f, off, err := m.FileOffset(64*kib + 16); err != nil || f != 1 || off != 4*kib+16 {
		t.Errorf("FileOffset = %d %d %v", f, off, err)
	}
	if _, err := m.U64(12 * kib); !errors.Is(err, ErrUnmapped) {
		t.Errorf("read in the hole: %v, want ErrUnmapped", err)
	}
	if err := m.ReadAt(make([]byte, 8), 12*kib-4); !errors.Is(err, ErrUnmapped) {
		t.Errorf("read running into the hole: %v", err)
	}
}

// image is a synthetic guest: one RAM file at GPA 0 with kernel page tables.
type image struct {
	ram  []byte
	next uint64 // next free page for page tables
}

func (im *image) put(pa, v uint64) { binary.LittleEndian.PutUint64(im.ram[pa:], v) }
func (im *image) get(pa uint64) uint64 {
	return binary.LittleEndian.Uint64(im.ram[pa:])
}

func (im *image) table() uint64 {
	p := im.next
	im.next += pageSize
	return p
}

// mapVA installs va → pa with a page of size 4K, 2M or 1G.
func (im *image) mapVA(pgd uint64, levels int, va, pa, size uint64) {
	shifts := []uint{39, 30, 21, 12}
	if levels == 5 {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	table := pgd
	for _, s := range shifts {
		slot := table + (va>>s&511)*8
		if uint64(1)<<s == size {
			flags := uint64(ptepresent)
			if s != 12 {
				flags |= ptePS
			}
			im.put(slot, pa|flags)
			return
		}
		e := im.get(slot)
		if e == 0 {
			e = im.table() | ptepresent
			im.put(slot, e)
		}
		table = e & pteAddrMask
	}
}

func newImage(t *testing.T, levels int, physBase uint64) (*image, KernelSymbols) {
	t.Helper()
	im := &image{ram: make([]byte, 16*mib), next: 0x10000}
	syms := KernelSymbols{
		InitTopPgt:   StartKernelMap + 0x1000,
		PhysBase:     StartKernelMap + 0x2000,
		PerCPUOffset: StartKernelMap + 0x3000,
	}
	im.put(0x2000+physBase, physBase)
	if physBase != 0 {
		im.put(0x2000, physBase)
	}
	if levels == 5 {
		syms.L5Enabled = StartKernelMap + 0x4000
		im.put(0x4000+physBase, 1)
	}
	return im, syms
}

func TestKernelTranslation(t *testing.T) {
	for _, levels := range []int{4, 5} {
		for _, physBase := range []uint64{0, 0x200000} {
			im, syms := newImage(t, levels, physBase)
			pgd := 0x1000 + physBase
			vmalloc := uint64(0xffffc90000000000)
			if levels == 5 {
				vmalloc = 0xffa0000000000000
			}
			im.mapVA(pgd, levels, vmalloc, 0x300000, 4*kib)
			im.mapVA(pgd, levels, vmalloc+4*kib, 0x500000, 4*kib) // not contiguous
			im.mapVA(pgd, levels, vmalloc+0x200000, 0x600000, 2*mib)
			im.mapVA(pgd, levels, vmalloc+gib, 0, gib)
			m := FromBytes([][]byte{im.ram}, []Region{{0, uint64(len(im.ram)), 0, 0}})
			k, err := NewKernel(m, syms)
			if err != nil {
				t.Fatal(err)
			}
			if k.Levels != levels || k.PhysBase != physBase {
				t.Fatalf("levels %d phys_base %#x, want %d %#x", k.Levels, k.PhysBase, levels, physBase)
			}
			wantPO := uint64(DefaultPageOffsetL4)
			if levels == 5 {
				wantPO = DefaultPageOffsetL5
			}
			for _, tc := range []struct {
				va, pa uint64
			}{
				{StartKernelMap + 0x1234, 0x1234 + physBase}, // image
				{wantPO + 0x345678, 0x345678},                // direct map
				{vmalloc + 0x10, 0x300010},                   // 4 KiB page
				{vmalloc + 4*kib + 8, 0x500008},              // next 4 KiB page
				{vmalloc + 0x200000 + 0x12345, 0x612345},     // 2 MiB page
				{vmalloc + gib + 0xabcdef, 0xabcdef},         // 1 GiB page
			} {
				got, err := k.Phys(tc.va)
				if err != nil || got != tc.pa {
					t.Errorf("L%d pb %#x: Phys(%#x) = %#x, %v; want %#x", levels, physBase, tc.va, got, err, tc.pa)
				}
			}
			if _, err := k.Phys(vmalloc + 8*kib); !errors.Is(err, ErrNotReady) {
				t.Errorf("unmapped vmalloc address: %v, want ErrNotReady", err)
			}
			// A read across the non-contiguous 4 KiB pages.
			copy(im.ram[0x300000+4*kib-3:], "abc")
			copy(im.ram[0x500000:], "def\x00")
			if s, err := k.CString(vmalloc+4*kib-3, 16); err != nil || s != "abcdef" {
				t.Errorf("CString across pages = %q, %v", s, err)
			}
			// Per-CPU: cpu 1's area in the direct map at 0x700000.
			im.put(0x3000+physBase+8, wantPO+0x700000)
			im.put(0x700000+0x40, 0xfeedface)
			addr, err := k.PerCPU(0x40, 1)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := k.U64(addr); err != nil || v != 0xfeedface {
				t.Errorf("per-CPU read = %#x, %v", v, err)
			}
			if _, err := k.PerCPU(0x40, 2); !errors.Is(err, ErrNotReady) {
				t.Errorf("cpu without per-CPU offset: %v, want ErrNotReady", err)
			}
			if err := k.WriteU64(vmalloc+0x200008, 42); err != nil {
				t.Fatal(err)
			}
			if v := im.get(0x600008); v != 42 {
				t.Errorf("write through the 2 MiB page: %d", v)
			}
		}
	}
}

func TestNewKernelNotReady(t *testing.T) {
	m := FromBytes([][]byte{make([]byte, mib)}, []Region{{0, mib, 0, 0}})
	syms := KernelSymbols{InitTopPgt: StartKernelMap + 0x1000, PhysBase: StartKernelMap + 0x2000, PageOffsetBase: StartKernelMap + 0x3000}
	if _, err := NewKernel(m, syms); !errors.Is(err, ErrNotReady) {
		t.Errorf("page_offset_base 0: %v, want ErrNotReady", err)
	}
	if _, err := NewKernel(m, KernelSymbols{}); err == nil {
		t.Error("no symbols: no error")
	}
}

// TestOpenFiles maps real files (as QEMU's backends are) and writes a word
// through a single writable page.
func TestOpenFiles(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 2 {
		p := filepath.Join(dir, "node"+string(rune('0'+i)))
		b := make([]byte, 64*kib)
		binary.LittleEndian.PutUint64(b[8:], uint64(i+1))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	m, err := Open(paths, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if v, err := m.U64(64*kib + 8); err != nil || v != 2 {
		t.Fatalf("node 1 word = %d, %v", v, err)
	}
	if err := m.WriteU64(64*kib+4*kib+16, 0x1122334455667788); err != nil {
		t.Fatal(err)
	}
	if v, err := m.U64(64*kib + 4*kib + 16); err != nil || v != 0x1122334455667788 {
		t.Errorf("read back through the read-only map: %#x, %v", v, err)
	}
	b, _ := os.ReadFile(paths[1])
	if v := binary.LittleEndian.Uint64(b[4*kib+16:]); v != 0x1122334455667788 {
		t.Errorf("file holds %#x", v)
	}
	if err := m.WriteU64(3, 1); err == nil {
		t.Error("unaligned write accepted")
	}
}
