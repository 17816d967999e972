package initramfs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Compression of the base archive. The kernel needs the matching
// CONFIG_RD_* option; zstd is the default for its speed at both ends.
type Compression string

// Supported compressions.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

type entry struct {
	mode fs.FileMode // perm bits; type from the fields below
	host string      // copy of a host file
	data []byte      // inline contents
	link string      // symlink target
	dir  bool
}

// Archive is the description of an initramfs: archive path → contents.
// Nothing is read from the host until it is written.
type Archive struct {
	entries map[string]entry
}

// NewArchive returns an empty Archive.
func NewArchive() *Archive { return &Archive{entries: map[string]entry{}} }

func (a *Archive) add(p string, e entry) error {
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	if old, ok := a.entries[c]; ok {
		if old.host == e.host && old.link == e.link && bytes.Equal(old.data, e.data) && old.dir == e.dir {
			return nil
		}
		return fmt.Errorf("initramfs: %s added twice with different contents", c)
	}
	a.entries[c] = e
	return nil
}

// AddFile copies the host file host to archive path p.
func (a *Archive) AddFile(p, host string, perm fs.FileMode) error {
	st, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", host)
	}
	return a.add(p, entry{mode: perm, host: host})
}

// AddData adds a file with inline contents.
func (a *Archive) AddData(p string, perm fs.FileMode, data []byte) error {
	return a.add(p, entry{mode: perm, data: data})
}

// AddDir adds an empty directory.
func (a *Archive) AddDir(p string, perm fs.FileMode) error {
	return a.add(p, entry{mode: perm, dir: true})
}

// AddSymlink adds a symbolic link.
func (a *Archive) AddSymlink(p, target string) error {
	return a.add(p, entry{link: target})
}

// AddBinary adds an executable at p and, if it is a dynamically linked ELF,
// its interpreter and shared libraries at the paths the loader opens them by.
func (a *Archive) AddBinary(p, host string) error {
	if err := a.AddFile(p, host, 0o755); err != nil {
		return err
	}
	if !IsELF(host) {
		return nil
	}
	libs, err := Closure(host)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	for _, lib := range libs {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		if err := a.AddFile(lib, real, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// AddTree adds a host directory recursively under p, following symlinks to
// regular files and binaries' libraries; other special files are skipped.
func (a *Archive) AddTree(p, host string) error {
	return filepath.WalkDir(host, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, hp)
		ap := filepath.Join(p, rel)
		st, err := os.Stat(hp)
		if err != nil {
			return nil // dangling link
		}
		switch {
		case st.IsDir():
			return a.AddDir(ap, 0o755)
		case st.Mode().IsRegular() && st.Mode()&0o111 != 0:
			return a.AddBinary(ap, hp)
		case st.Mode().IsRegular():
			return a.AddFile(ap, hp, st.Mode().Perm())
		}
		return nil
	})
}

// Paths lists the archive paths, sorted.
func (a *Archive) Paths() []string {
	out := make([]string, 0, len(a.entries))
	for p := range a.entries {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Key is the archive's content address: a hash over every entry's path,
// mode and contents (host files by path, size and modification time, which
// changes whenever the file does).
func (a *Archive) Key(c Compression) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "ktstr-initramfs-v1 %s\n", c)
	for _, p := range a.Paths() {
		e := a.entries[p]
		fmt.Fprintf(h, "%q %o %t %q ", p, e.mode, e.dir, e.link)
		if e.host != "" {
			st, err := os.Stat(e.host)
			if err != nil {
				return "", fmt.Errorf("initramfs: %w", err)
			}
			fmt.Fprintf(h, "host %q %d %d\n", e.host, st.Size(), st.ModTime().UnixNano())
		} else {
			sum := sha256.Sum256(e.data)
			fmt.Fprintf(h, "data %x\n", sum)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// Write writes the archive as uncompressed newc to w.
func (a *Archive) Write(w io.Writer) error {
	cw := NewWriter(w)
	for _, p := range a.Paths() {
		e := a.entries[p]
		var err error
		switch {
		case e.dir:
			err = cw.Dir(p, e.mode)
		case e.link != "":
			err = cw.Symlink(p, e.link)
		case e.host != "":
			var data []byte
			if data, err = os.ReadFile(e.host); err == nil {
				err = cw.File(p, e.mode, data)
			}
		default:
			err = cw.File(p, e.mode, e.data)
		}
		if err != nil {
			return fmt.Errorf("initramfs: %s: %w", p, err)
		}
	}
	return cw.Close()
}

// WriteCompressed writes the archive compressed with c.
func (a *Archive) WriteCompressed(w io.Writer, c Compression) error {
	switch c {
	case None:
		return a.Write(w)
	case Gzip:
		zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if err := a.Write(zw); err != nil {
			return err
		}
		return zw.Close()
	case Zstd:
		// The kernel's decompressor allocates the frame's window: keep it
		// modest so small guests can unpack.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		if err := a.Write(zw); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	}
	return fmt.Errorf("initramfs: unknown compression %q", c)
}

// Cached returns the path of the compressed archive in dir, building it on
// a miss. The file is named by Key, written to a temporary name and renamed,
// so concurrent builders never see a partial archive.
func (a *Archive) Cached(dir string, c Compression) (path string, hit bool, err error) {
	key, err := a.Key(c)
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(dir, key+".cpio."+string(c))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, true, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	if err := a.WriteCompressed(tmp, c); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, err
	}
	prune(dir, keepArchives)
	return path, false, nil
}

// keepArchives is how many cached archives survive a new one: each rebuild
// of the agent makes a new key, and old ones are never used again.
const keepArchives = 8

// prune removes all but the newest keep archives in dir.
func prune(dir string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		mod  int64
	}
	var files []file
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return int(b.mod - a.mod) })
	for i := keep; i < len(files); i++ {
		os.Remove(files[i].path)
	}
}
