// Package guestmem reads (and, for a few words, writes) a running QEMU
// guest's memory from the host through its memory-backend files, without
// stopping the guest: guest-physical addresses map onto the files as q35
// lays RAM out, and kernel virtual addresses translate through the kernel
// image map, the direct map or a walk of the kernel's page tables.
//
// Reads race with the guest by design. A naturally aligned 8-, 4- or 1-byte
// read is a single load and so never torn; anything larger may mix values
// from before and after a guest write.
package guestmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// q35's split of guest RAM around the 32-bit PCI hole (hw/i386/pc_q35.c,
// gigabyte-aligned since QEMU 2.x): RAM of 2.75 GiB or more puts 2 GiB below
// 4 GiB and the rest above; smaller RAM all sits below 0xb0000000.
const (
	q35SplitThreshold = 0xb0000000
	q35LowMemLarge    = 0x80000000
	fourGiB           = 1 << 32
	pageSize          = 4096
)

// ErrUnmapped is returned for an address outside guest RAM.
var ErrUnmapped = errors.New("address outside guest RAM")

// Region maps a range of guest-physical addresses onto one backing file.
type Region struct {
	// GPA is the first guest-physical address and Size the length.
	GPA, Size uint64
	// File indexes the backing files and Off is the offset in that file.
	File int
	Off  uint64
}

// Q35Layout places backing files of the given sizes (one per NUMA node, in
// node order; QEMU concatenates them into one RAM block) at the
// guest-physical addresses q35 gives them: the first lowmem bytes at 0, the
// rest from 4 GiB. lowmem is 0 for q35's default.
func Q35Layout(sizes []uint64, lowmem uint64) []Region {
	var total uint64
	for _, s := range sizes {
		total += s
	}
	if lowmem == 0 {
		lowmem = q35SplitThreshold
		if total >= q35SplitThreshold {
			lowmem = q35LowMemLarge
		}
	}
	var out []Region
	var ramOff uint64 // offset in the concatenated RAM block
	for i, s := range sizes {
		for off := uint64(0); off < s; {
			pos := ramOff + off
			var gpa, n uint64
			if pos < lowmem {
				gpa, n = pos, min(s-off, lowmem-pos)
			} else {
				gpa, n = fourGiB+pos-lowmem, s-off
			}
			out = append(out, Region{GPA: gpa, Size: n, File: i, Off: off})
			off += n
		}
		ramOff += s
	}
	return out
}

// Memory is a guest's RAM as the host sees it.
type Memory struct {
	paths   []string
	maps    [][]byte
	regions []Region
	mapped  bool
	// writable are single pages mapped read-write by WriteU64, by
	// (file, page offset).
	writable map[[2]uint64][]byte
}

// Open maps the guest-RAM backing files read-only and shared: the guest's
// writes show at once, and no read can disturb it. lowmem is the q35 low-RAM
// limit, 0 for QEMU's default.
func Open(paths []string, lowmem uint64) (*Memory, error) {
	m := &Memory{paths: paths, mapped: true}
	sizes := make([]uint64, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("open guest RAM: %w", err)
		}
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			f.Close()
			m.Close()
			if err == nil {
				err = errors.New("empty file")
			}
			return nil, fmt.Errorf("guest RAM %s: %w", p, err)
		}
		b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		f.Close() // the mapping keeps the pages
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("mmap %s: %w", p, err)
		}
		m.maps = append(m.maps, b)
		sizes[i] = uint64(st.Size())
	}
	m.regions = Q35Layout(sizes, lowmem)
	return m, nil
}

// FromBytes is guest RAM held in memory, laid out by regions (tests and
// offline images). Writes go to the slices.
func FromBytes(files [][]byte, regions []Region) *Memory {
	return &Memory{maps: files, regions: regions}
}

// Regions returns the guest-physical layout.
func (m *Memory) Regions() []Region { return m.regions }

// Close unmaps the files and any page mapped for writing.
func (m *Memory) Close() error {
	var first error
	if m.mapped {
		for _, b := range m.maps {
			if err := unix.Munmap(b); err != nil && first == nil {
				first = err
			}
		}
	}
	for _, b := range m.writable {
		unix.Munmap(b)
	}
	m.maps, m.writable = nil, nil
	return first
}

// locate returns the backing bytes from gpa to the end of its region.
func (m *Memory) locate(gpa uint64) ([]byte, int, uint64, error) {
	for _, r := range m.regions {
		if gpa >= r.GPA && gpa-r.GPA < r.Size {
			off := r.Off + gpa - r.GPA
			b := m.maps[r.File]
			end := r.Off + r.Size
			if end > uint64(len(b)) || off >= end {
				return nil, 0, 0, fmt.Errorf("%w: %#x (region beyond file)", ErrUnmapped, gpa)
			}
			return b[off:end], r.File, off, nil
		}
	}
	return nil, 0, 0, fmt.Errorf("%w: %#x", ErrUnmapped, gpa)
}

// FileOffset returns the backing file index and offset of gpa.
func (m *Memory) FileOffset(gpa uint64) (file int, off uint64, err error) {
	_, file, off, err = m.locate(gpa)
	return file, off, err
}

// ReadAt fills p from guest-physical address gpa, across regions.
func (m *Memory) ReadAt(p []byte, gpa uint64) error {
	for len(p) > 0 {
		b, _, _, err := m.locate(gpa)
		if err != nil {
			return err
		}
		n := copy(p, b)
		p, gpa = p[n:], gpa+uint64(n)
	}
	return nil
}

// U64 reads the little-endian word at gpa (one load when aligned).
func (m *Memory) U64(gpa uint64) (uint64, error) {
	b, _, _, err := m.locate(gpa)
	if err != nil {
		return 0, err
	}
	if len(b) < 8 {
		var buf [8]byte
		if err := m.ReadAt(buf[:], gpa); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(buf[:]), nil
	}
	return binary.LittleEndian.Uint64(b), nil
}

// U32 reads the little-endian 32-bit word at gpa.
func (m *Memory) U32(gpa uint64) (uint32, error) {
	var buf [4]byte
	if err := m.ReadAt(buf[:], gpa); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(buf[:]), nil
}

// WriteU64 stores v at gpa (8-byte aligned) in the guest's RAM with one
// aligned store, so the guest never sees half of it. For mapped files it
// maps that one page read-write (shared), leaving every other mapping
// read-only; the page mapping is kept for later writes.
func (m *Memory) WriteU64(gpa, v uint64) error {
	if gpa%8 != 0 {
		return fmt.Errorf("write at %#x: not 8-byte aligned", gpa)
	}
	b, file, off, err := m.locate(gpa)
	if err != nil {
		return err
	}
	if !m.mapped {
		atomic.StoreUint64((*uint64)(unsafe.Pointer(&b[0])), v)
		return nil
	}
	key := [2]uint64{uint64(file), off &^ (pageSize - 1)}
	page, ok := m.writable[key]
	if !ok {
		f, err := os.OpenFile(m.paths[file], os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open guest RAM for writing: %w", err)
		}
		page, err = unix.Mmap(int(f.Fd()), int64(key[1]), pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			return fmt.Errorf("map guest RAM page %#x writable: %w", gpa&^(pageSize-1), err)
		}
		if m.writable == nil {
			m.writable = map[[2]uint64][]byte{}
		}
		m.writable[key] = page
	}
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&page[off-key[1]])), v)
	return nil
}

var _ io.Closer = (*Memory)(nil)
