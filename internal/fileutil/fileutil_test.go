package fileutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCopyAndSHA256(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(from, []byte("abc"), 0o644)
	os.WriteFile(to, []byte("longer old content"), 0o644)
	if err := Copy(from, to); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(to); string(b) != "abc" {
		t.Errorf("copied %q", b)
	}
	// sha256("abc"), the FIPS 180-2 test vector.
	if sum, err := SHA256(to); err != nil || sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("sha256 %s, %v", sum, err)
	}
	if err := Copy(filepath.Join(dir, "missing"), to); err == nil {
		t.Error("copying a missing file succeeded")
	}
}

func TestWriteExisting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteExisting(p, "x", false); err == nil {
		t.Error("created a file that did not exist")
	}
	os.WriteFile(p, []byte("abc"), 0o644)
	if err := WriteExisting(p, "X", false); err != nil {
		t.Fatal(err)
	}
	if err := WriteExisting(p, "def", true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "Xbcdef" {
		t.Errorf("%q, want Xbcdef (overwrite at the start, then append)", b)
	}
}
