package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ktstr-go/ktstr/internal/newcread"
)

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.File("/a/b/c.txt", 0o644, []byte("hello")))
	must(w.Symlink("bin/sh", "busybox"))
	must(w.Dir("empty", 0o700))
	must(w.File("a/odd", 0o755, []byte("12345678")))
	must(w.Close())
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", buf.Len())
	}
	entries, err := newcread.ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	want := []string{"a", "a/b", "a/b/c.txt", "bin", "bin/sh", "empty", "a/odd"}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v (parents once, in order)", names, want)
	}
	if string(entries[2].Data) != "hello" || entries[2].Mode != 0o100644 {
		t.Errorf("file entry %+v", entries[2])
	}
	if string(entries[4].Data) != "busybox" || entries[4].Mode != 0o120777 {
		t.Errorf("symlink entry %+v", entries[4])
	}
	// The system's cpio agrees.
	if cpio, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command(cpio, "-it")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "a/b/c.txt") {
			t.Errorf("cpio -it: %v %s", err, out)
		}
	}
}

func TestBadPaths(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	for _, p := range []string{"/", "", "a\x00b"} {
		if err := w.File(p, 0o644, nil); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	// ".." is cleaned inside the archive root, never above it.
	if c, _ := cleanPath("../../etc/passwd"); c != "etc/passwd" {
		t.Errorf("cleaned to %q", c)
	}
}

func TestClosureOfDynamicAndStaticBinaries(t *testing.T) {
	ls, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls")
	}
	libs, err := Closure(ls)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(libs, " ")
	if !strings.Contains(joined, "libc.so.6") || !strings.Contains(joined, "ld-linux-x86-64.so.2") {
		t.Errorf("closure of ls: %v", libs)
	}
	self, _ := os.Executable()
	if IsELF(self) {
		if _, err := Closure(self); err != nil {
			t.Errorf("closure of the test binary: %v", err)
		}
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		if libs, err := Closure(bb); err != nil || len(libs) != 0 {
			t.Errorf("static busybox closure: %v %v", libs, err)
		}
	}
}

func TestArchiveKeyCacheAndCompression(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tool")
	os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o755)
	a := NewArchive()
	if err := a.AddBinary("bin/tool", f); err != nil {
		t.Fatal(err)
	}
	a.AddData("etc/motd", 0o644, []byte("hi"))
	a.AddSymlink("bin/t", "tool")
	if err := a.AddData("etc/motd", 0o644, []byte("other")); err == nil {
		t.Error("conflicting duplicate accepted")
	}
	k1, _ := a.Key(Zstd)
	cache := filepath.Join(dir, "cache")
	p, hit, err := a.Cached(cache, Zstd)
	if err != nil || hit {
		t.Fatalf("first Cached: %v hit=%v", err, hit)
	}
	if _, hit, _ := a.Cached(cache, Zstd); !hit {
		t.Error("second Cached was not a hit")
	}
	// Decompressed, it is the plain archive.
	zr, _ := zstd.NewReader(nil)
	comp, _ := os.ReadFile(p)
	plain, err := zr.DecodeAll(comp, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	a.Write(&want)
	if !bytes.Equal(plain, want.Bytes()) {
		t.Error("zstd archive does not decompress to the newc archive")
	}
	// Touching an input changes the key.
	future := time.Now().Add(time.Hour)
	os.Chtimes(f, future, future)
	if k2, _ := a.Key(Zstd); k2 == k1 {
		t.Error("key did not change when an input file changed")
	}
	if k3, _ := a.Key(Gzip); k3 == k1 {
		t.Error("compression is not part of the key")
	}
	var gz bytes.Buffer
	if err := a.WriteCompressed(&gz, Gzip); err != nil || gz.Len() == 0 {
		t.Errorf("gzip: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
