package guestmem

import (
	"errors"
	"sort"
	"testing"
)

// FuzzQ35Layout: for any node sizes (page multiples), the regions cover
// every byte of every file exactly once, in node order, never overlap,
// never sit in the 32-bit PCI hole, and concatenated RAM offset k lands at
// k (low) or 4 GiB + k − lowmem (high).
func FuzzQ35Layout(f *testing.F) {
	f.Add(uint32(1<<18), uint32(0), uint32(0), uint32(0))
	f.Add(uint32(384<<8), uint32(384<<8), uint32(0), uint32(0))
	f.Add(uint32(1<<20), uint32(1<<20), uint32(1<<20), uint32(1<<19))
	f.Fuzz(func(t *testing.T, a, b, c, d uint32) {
		var sizes []uint64
		for _, s := range []uint32{a, b, c, d} {
			if s == 0 {
				break
			}
			sizes = append(sizes, uint64(s%(1<<21))*pageSize+pageSize) // up to 8 GiB a node
		}
		if len(sizes) == 0 {
			return
		}
		var total uint64
		for _, s := range sizes {
			total += s
		}
		lowmem := uint64(q35SplitThreshold)
		if total >= q35SplitThreshold {
			lowmem = q35LowMemLarge
		}
		regs := Q35Layout(sizes, 0)
		covered := make([]uint64, len(sizes))
		var ram uint64
		for i, r := range regs {
			if r.Size == 0 {
				t.Fatalf("empty region %+v", r)
			}
			if r.Off != covered[r.File] || (i > 0 && r.File < regs[i-1].File) {
				t.Fatalf("region %d %+v: file %d covered to %d (out of order or gap)", i, r, r.File, covered[r.File])
			}
			covered[r.File] += r.Size
			want := ram
			if ram >= lowmem {
				want = fourGiB + ram - lowmem
			}
			if r.GPA != want {
				t.Fatalf("RAM offset %#x at GPA %#x, want %#x", ram, r.GPA, want)
			}
			if r.GPA < fourGiB && r.GPA+r.Size > lowmem {
				t.Fatalf("region %+v runs into the PCI hole above %#x", r, lowmem)
			}
			ram += r.Size
		}
		for i, s := range sizes {
			if covered[i] != s {
				t.Fatalf("file %d: %d of %d bytes mapped", i, covered[i], s)
			}
		}
		sorted := append([]Region(nil), regs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].GPA < sorted[j].GPA })
		for i := 1; i < len(sorted); i++ {
			if sorted[i-1].GPA+sorted[i-1].Size > sorted[i].GPA {
				t.Fatalf("regions overlap: %+v %+v", sorted[i-1], sorted[i])
			}
		}
	})
}

// FuzzWalk: a page of any size mapped at any canonical kernel address
// translates every byte inside it to the matching physical byte, on 4 and 5
// levels, and the address just past it, which no entry maps, fails with
// ErrNotReady.
func FuzzWalk(f *testing.F) {
	f.Add(false, uint64(0xffffc90000000000), uint64(0x300000), uint8(0), uint64(5))
	f.Add(true, uint64(0xffa0000000200000), uint64(0x400000), uint8(1), uint64(0x1ffff))
	f.Add(false, uint64(0xffffc90040000000), uint64(0), uint8(2), uint64(0x3fffffff))
	f.Fuzz(func(t *testing.T, l5 bool, va, pa uint64, kind uint8, off uint64) {
		levels := 4
		if l5 {
			levels = 5
		}
		size := []uint64{4 * kib, 2 * mib, gib}[kind%3]
		va = va&^(size-1) | 0xff00000000000000 // kernel half, both depths
		if levels == 4 {
			va |= 0xffff800000000000
		}
		pa = pa % (1 << 40) &^ (size - 1)
		im := &image{ram: make([]byte, 1*mib), next: 0x10000}
		pgd := uint64(0x1000)
		im.mapVA(pgd, levels, va, pa, size)
		m := FromBytes([][]byte{im.ram}, []Region{{0, uint64(len(im.ram)), 0, 0}})
		k := &Kernel{Mem: m, PGD: pgd, Levels: levels, PageOffset: DefaultPageOffsetL4}
		off %= size
		got, err := k.Walk(va + off)
		if err != nil || got != pa+off {
			t.Fatalf("L%d Walk(%#x) = %#x, %v; want %#x", levels, va+off, got, err, pa+off)
		}
		next := va + size
		if next < va {
			return
		}
		if got, err := k.Walk(next); err == nil || !errors.Is(err, ErrNotReady) {
			t.Fatalf("neighbour %#x: %#x, %v; want ErrNotReady (only one page is mapped)", next, got, err)
		}
	})
}
