// Package newcread reads newc cpio archives. It exists for tests: they check
// what lib/host/initramfs wrote, and lib/host/initramfs itself never reads
// archives.
package newcread

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Entry is one archive member.
type Entry struct {
	Name string
	Mode uint32
	Data []byte
}

// ReadAll parses an uncompressed newc archive up to its trailer.
func ReadAll(r io.Reader) ([]Entry, error) {
	var out []Entry
	pos := 0
	read := func(n int) ([]byte, error) {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		pos += n
		return b, err
	}
	skipPad := func() error {
		_, err := read((4 - pos%4) % 4)
		return err
	}
	for {
		hdr, err := read(110)
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		if string(hdr[:6]) != "070701" {
			return nil, errors.New("bad magic")
		}
		field := func(i int) (uint64, error) { return strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32) }
		mode, err1 := field(1)
		size, err2 := field(6)
		nameSize, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if nameSize == 0 || nameSize > 4096 || size > 1<<30 {
			return nil, errors.New("implausible sizes")
		}
		name, err := read(int(nameSize))
		if err != nil {
			return nil, err
		}
		if err := skipPad(); err != nil {
			return nil, err
		}
		data, err := read(int(size))
		if err != nil {
			return nil, err
		}
		if err := skipPad(); err != nil {
			return nil, err
		}
		e := Entry{Name: string(name[:len(name)-1]), Mode: uint32(mode), Data: data}
		if e.Name == "TRAILER!!!" {
			return out, nil
		}
		out = append(out, e)
	}
}
