// Package initramfs builds the guest's root filesystem: newc cpio archives
// (written here, no external cpio), compressed with zstd or gzip, holding the
// agent as /init and injected binaries with their shared-library closure. The
// base archive is cached by content; the per-run job travels as a small
// uncompressed suffix the kernel unpacks after it.
package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// newc mode bits (from the kernel's and cpio's <sys/stat.h> values).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// Writer writes a newc ("070701") cpio archive. Parent directories are
// created implicitly, once each.
type Writer struct {
	w      io.Writer
	ino    uint32
	dirs   map[string]bool
	closed bool
	err    error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

// cleanPath turns "/a/b" or "a/b" into "a/b" and rejects escapes.
func cleanPath(p string) (string, error) {
	c := path.Clean("/" + p)
	if c == "/" || strings.Contains(p, "\x00") {
		return "", fmt.Errorf("initramfs: bad archive path %q", p)
	}
	return strings.TrimPrefix(c, "/"), nil
}

func (w *Writer) header(name string, mode uint32, nlink uint32, size int) error {
	if w.err != nil {
		return w.err
	}
	if size < 0 || int64(size) > 0xffffffff {
		return fmt.Errorf("initramfs: %s: size %d does not fit newc", name, size)
	}
	w.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(name)+4)
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(len(buf)))...)
	_, w.err = w.w.Write(buf)
	return w.err
}

func pad4(n int) int { return (4 - n%4) % 4 }

func (w *Writer) body(data []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, w.err = w.w.Write(data); w.err != nil {
		return w.err
	}
	_, w.err = w.w.Write(make([]byte, pad4(len(data))))
	return w.err
}

// mkdirAll writes directory entries for p and its missing parents.
func (w *Writer) mkdirAll(p string, perm fs.FileMode) error {
	if w.dirs[p] {
		return nil
	}
	if err := w.mkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	w.dirs[p] = true
	return w.header(p, modeDir|uint32(perm.Perm()), 2, 0)
}

// Dir adds a directory (and its parents).
func (w *Writer) Dir(p string, perm fs.FileMode) error {
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	return w.mkdirAll(c, perm)
}

// File adds a regular file with the given contents.
func (w *Writer) File(p string, perm fs.FileMode, data []byte) error {
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	if err := w.mkdirAll(path.Dir(c), 0o755); err != nil {
		return err
	}
	if err := w.header(c, modeRegular|uint32(perm.Perm()), 1, len(data)); err != nil {
		return err
	}
	return w.body(data)
}

// Symlink adds a symbolic link p → target.
func (w *Writer) Symlink(p, target string) error {
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	if target == "" {
		return errors.New("initramfs: empty symlink target")
	}
	if err := w.mkdirAll(path.Dir(c), 0o755); err != nil {
		return err
	}
	if err := w.header(c, modeSymlink|0o777, 1, len(target)); err != nil {
		return err
	}
	return w.body([]byte(target))
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if err := w.header("TRAILER!!!", 0, 1, 0); err != nil {
		return err
	}
	return nil
}
