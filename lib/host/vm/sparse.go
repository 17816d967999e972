package vm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// saveSparse copies the guest-RAM file src to dst, writing only the pages
// that are not zero: guest RAM is mostly free, zeroed memory, and the copy
// keeps holes there.
func saveSparse(src, dst string) error {
	in, size, out, err := openCopy(src, dst, os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer in.Close()
	zero := make([]byte, pageSize)
	buf := make([]byte, 1<<20)
	var off int64
	for off < size {
		n, err := in.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			out.Close()
			return err
		}
		if n == 0 {
			break
		}
		for p := 0; p < n; p += pageSize {
			page := buf[p:min(p+pageSize, n)]
			if bytes.Equal(page, zero[:len(page)]) {
				continue
			}
			if _, err := out.WriteAt(page, off+int64(p)); err != nil {
				out.Close()
				return err
			}
		}
		off += int64(n)
	}
	if err := out.Truncate(size); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// openCopy opens src for reading and creates dst (O_WRONLY|O_CREATE|flag,
// perm) for a copy of it, and gives src's size. On error nothing is left
// open.
func openCopy(src, dst string, flag int, perm os.FileMode) (in *os.File, size int64, out *os.File, err error) {
	if in, err = os.Open(src); err != nil {
		return nil, 0, nil, err
	}
	st, err := in.Stat()
	if err == nil {
		out, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|flag, perm)
	}
	if err != nil {
		in.Close()
		return nil, 0, nil, err
	}
	return in, st.Size(), out, nil
}

// restoreSparse copies the sparse file src to a new file dst, only its
// data extents (SEEK_DATA/SEEK_HOLE): a restored guest's RAM file gets the
// snapshot's contents in the time it takes to copy the pages in use.
func restoreSparse(src, dst string) error {
	in, size, out, err := openCopy(src, dst, os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer in.Close()
	err = copyExtents(in, out, size)
	if err == nil {
		err = out.Truncate(size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("restore guest RAM: %w", err)
	}
	return nil
}

// copyExtents copies in's data extents to the same offsets of out.
func copyExtents(in, out *os.File, size int64) error {
	fd := int(in.Fd())
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		for p := data; p < hole; {
			n, err := in.ReadAt(buf[:min(int64(len(buf)), hole-p)], p)
			if n > 0 {
				if _, werr := out.WriteAt(buf[:n], p); werr != nil {
					return werr
				}
				p += int64(n)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if n == 0 {
				break
			}
		}
		off = hole
	}
	return nil
}
