package guestmem

import (
	"bytes"
	"errors"
	"fmt"
)

// x86-64 kernel address space constants (arch/x86/include/asm/page_64_types.h).
const (
	// StartKernelMap is __START_KERNEL_map: the kernel image's virtual base,
	// which maps physical phys_base.
	StartKernelMap = 0xffffffff80000000
	// DefaultPageOffsetL4 and DefaultPageOffsetL5 are the direct map's base
	// without CONFIG_RANDOMIZE_MEMORY (no page_offset_base variable).
	DefaultPageOffsetL4 = 0xffff888000000000
	DefaultPageOffsetL5 = 0xff11000000000000

	ptepresent  = 1 << 0
	ptePS       = 1 << 7
	pteAddrMask = 0x000ffffffffff000
)

// ErrNotReady says the guest kernel has not yet set up what a translation
// needs (its page tables or per-CPU areas): too early in boot.
var ErrNotReady = errors.New("guest kernel not ready")

// KernelSymbols are the addresses (from vmlinux) a Kernel needs. Zero means
// the kernel has no such symbol.
type KernelSymbols struct {
	InitTopPgt     uint64 // init_top_pgt
	PhysBase       uint64 // phys_base
	PageOffsetBase uint64 // page_offset_base (CONFIG_RANDOMIZE_MEMORY only)
	L5Enabled      uint64 // __pgtable_l5_enabled (CONFIG_X86_5LEVEL only)
	PerCPUOffset   uint64 // __per_cpu_offset
}

// Kernel translates a guest kernel's virtual addresses to guest-physical
// ones and reads through them.
type Kernel struct {
	Mem *Memory
	// PhysBase is where the kernel image's physical base moved (0 when it
	// runs where it was linked).
	PhysBase uint64
	// PageOffset is the direct map's base.
	PageOffset uint64
	// PGD is the guest-physical address of init_top_pgt.
	PGD uint64
	// Levels is 4 or 5.
	Levels int
	// perCPU is __per_cpu_offset's virtual address.
	perCPU uint64
}

// NewKernel reads phys_base, page_offset_base and the paging depth from the
// guest. With nokaslr, phys_base is where the image was loaded minus where it
// was linked; phys_base's own address depends on it, so it is read assuming
// 0 first and confirmed at the address it implies.
func NewKernel(mem *Memory, s KernelSymbols) (*Kernel, error) {
	if s.InitTopPgt == 0 || s.PhysBase == 0 {
		return nil, errors.New("vmlinux lacks init_top_pgt or phys_base")
	}
	k := &Kernel{Mem: mem, Levels: 4, perCPU: s.PerCPUOffset}
	pb, err := mem.U64(s.PhysBase - StartKernelMap)
	if err != nil {
		return nil, fmt.Errorf("read phys_base: %w", err)
	}
	if pb != 0 {
		again, err := mem.U64(s.PhysBase - StartKernelMap + pb)
		if err != nil || again != pb {
			return nil, fmt.Errorf("%w: phys_base unstable (%#x)", ErrNotReady, pb)
		}
	}
	k.PhysBase = pb
	if s.L5Enabled != 0 {
		v, err := mem.U32(k.imagePhys(s.L5Enabled))
		if err != nil {
			return nil, fmt.Errorf("read __pgtable_l5_enabled: %w", err)
		}
		if v != 0 {
			k.Levels = 5
		}
	}
	k.PageOffset = DefaultPageOffsetL4
	if k.Levels == 5 {
		k.PageOffset = DefaultPageOffsetL5
	}
	if s.PageOffsetBase != 0 {
		v, err := mem.U64(k.imagePhys(s.PageOffsetBase))
		if err != nil {
			return nil, fmt.Errorf("read page_offset_base: %w", err)
		}
		if v == 0 {
			return nil, fmt.Errorf("%w: page_offset_base is 0", ErrNotReady)
		}
		k.PageOffset = v
	}
	k.PGD = k.imagePhys(s.InitTopPgt)
	return k, nil
}

func (k *Kernel) imagePhys(va uint64) uint64 { return va - StartKernelMap + k.PhysBase }

// Phys translates a kernel virtual address: the image map and the direct
// map by arithmetic, anything else (vmalloc, per-CPU chunks outside the
// direct map) by walking init_top_pgt.
func (k *Kernel) Phys(va uint64) (uint64, error) {
	switch {
	case va >= StartKernelMap:
		return k.imagePhys(va), nil
	case va >= k.PageOffset && va-k.PageOffset < k.directMapTop():
		return va - k.PageOffset, nil
	}
	return k.Walk(va)
}

// directMapTop bounds the direct-map shortcut to guest RAM: above it lie
// vmalloc, vmemmap and the rest, which need the page tables.
func (k *Kernel) directMapTop() uint64 {
	var top uint64
	for _, r := range k.Mem.regions {
		top = max(top, r.GPA+r.Size)
	}
	return top
}

// Walk translates va through the kernel page tables (4 or 5 levels, with
// 1 GiB and 2 MiB pages).
func (k *Kernel) Walk(va uint64) (uint64, error) {
	table := k.PGD
	shifts := []uint{39, 30, 21, 12}
	if k.Levels == 5 {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	for i, shift := range shifts {
		e, err := k.Mem.U64(table + (va>>shift&511)*8)
		if err != nil {
			return 0, fmt.Errorf("page walk %#x: %w", va, err)
		}
		if e&ptepresent == 0 {
			return 0, fmt.Errorf("%w: %#x not mapped (level %d entry %#x)", ErrNotReady, va, len(shifts)-i, e)
		}
		last := i == len(shifts)-1
		if !last && e&ptePS != 0 && (shift == 30 || shift == 21) {
			mask := uint64(1)<<shift - 1
			return e&pteAddrMask&^mask | va&mask, nil
		}
		if last {
			return e&pteAddrMask | va&0xfff, nil
		}
		table = e & pteAddrMask
	}
	panic("unreachable")
}

// Read fills p from kernel virtual address va, translating page by page.
func (k *Kernel) Read(p []byte, va uint64) error {
	for len(p) > 0 {
		n := min(uint64(len(p)), pageSize-va%pageSize)
		pa, err := k.Phys(va)
		if err != nil {
			return err
		}
		if err := k.Mem.ReadAt(p[:n], pa); err != nil {
			return err
		}
		p, va = p[n:], va+n
	}
	return nil
}

// U64 reads the word at kernel virtual address va.
func (k *Kernel) U64(va uint64) (uint64, error) {
	pa, err := k.Phys(va)
	if err != nil {
		return 0, err
	}
	if va%8 == 0 {
		return k.Mem.U64(pa)
	}
	var b [8]byte
	if err := k.Read(b[:], va); err != nil {
		return 0, err
	}
	return leU64(b[:]), nil
}

// U32 reads the 32-bit word at kernel virtual address va.
func (k *Kernel) U32(va uint64) (uint32, error) {
	var b [4]byte
	if err := k.Read(b[:], va); err != nil {
		return 0, err
	}
	return uint32(leU64(append(b[:], 0, 0, 0, 0))), nil
}

// WriteU64 stores v at kernel virtual address va (8-byte aligned).
func (k *Kernel) WriteU64(va, v uint64) error {
	pa, err := k.Phys(va)
	if err != nil {
		return err
	}
	return k.Mem.WriteU64(pa, v)
}

// CString reads a NUL-terminated string of at most n bytes at va.
func (k *Kernel) CString(va uint64, n int) (string, error) {
	b := make([]byte, n)
	if err := k.Read(b, va); err != nil {
		return "", err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}

// PerCPU returns the address of per-CPU variable sym (its link-time
// address in .data..percpu) on cpu: sym + __per_cpu_offset[cpu]. Until the
// kernel has set up its per-CPU areas the offset is 0 and so is the answer's
// validity: ErrNotReady.
func (k *Kernel) PerCPU(sym uint64, cpu int) (uint64, error) {
	if k.perCPU == 0 {
		return 0, errors.New("vmlinux lacks __per_cpu_offset")
	}
	off, err := k.U64(k.perCPU + uint64(cpu)*8)
	if err != nil {
		return 0, fmt.Errorf("read __per_cpu_offset[%d]: %w", cpu, err)
	}
	if off == 0 {
		return 0, fmt.Errorf("%w: __per_cpu_offset[%d] is 0", ErrNotReady, cpu)
	}
	return sym + off, nil
}

func leU64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
