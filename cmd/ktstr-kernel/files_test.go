package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cacheWith makes a cache root with files of each kind, mtimes one hour
// apart (index 0 the newest), and a file being written.
func cacheWith(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	now := time.Now()
	for _, f := range []string{"logs/a.console.log", "logs/b.console.log", "logs/c.console.log",
		"initramfs/x.cpio.none", "initramfs/y.cpio.zst", "runs/1.ndjson", "initramfs/.tmp-123", "logs/notes.txt"} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("data"), 0o644)
	}
	for i, f := range []string{"logs/a.console.log", "logs/b.console.log", "logs/c.console.log"} {
		mt := now.Add(-time.Duration(i) * 24 * time.Hour)
		os.Chtimes(filepath.Join(root, f), mt, mt)
	}
	old := now.Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(root, "initramfs/y.cpio.zst"), old, old)
	return root
}

func names(root string, paths []string) []string {
	var out []string
	for _, p := range paths {
		r, _ := filepath.Rel(root, p)
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// TestCleanFiles (issue 17, item 11): --keep keeps the newest of each kind,
// --older-than removes by age, --all everything; files being written and
// files of other names stay.
func TestCleanFiles(t *testing.T) {
	root := cacheWith(t)
	res, err := cleanFiles(root, 1, 0, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(root, res.removed), []string{"initramfs/y.cpio.zst", "logs/b.console.log", "logs/c.console.log"}; !slices.Equal(got, want) {
		t.Errorf("--keep 1 removed %v, want %v", got, want)
	}
	root = cacheWith(t)
	res, _ = cleanFiles(root, -1, 36*time.Hour, false, time.Now())
	if got, want := names(root, res.removed), []string{"initramfs/y.cpio.zst", "logs/c.console.log"}; !slices.Equal(got, want) {
		t.Errorf("--older-than 36h removed %v, want %v", got, want)
	}
	root = cacheWith(t)
	res, _ = cleanFiles(root, -1, 0, true, time.Now())
	if len(res.removed) != 6 || res.bytes != 24 {
		t.Errorf("--all removed %v (%d bytes)", names(root, res.removed), res.bytes)
	}
	for _, stays := range []string{"initramfs/.tmp-123", "logs/notes.txt"} {
		if _, err := os.Stat(filepath.Join(root, stays)); err != nil {
			t.Errorf("%s removed", stays)
		}
	}
}

// TestCleanFilesCommand: the command line, through KTSTR_CACHE_DIR.
func TestCleanFilesCommand(t *testing.T) {
	root := cacheWith(t)
	t.Setenv("KTSTR_CACHE_DIR", root)
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb, []string{"clean", "--files", "--keep", "2"}); code != 0 || !strings.Contains(errb.String(), "removed 1 file(s)") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), nil, &out, &errb, []string{"clean", "--files", "--corrupt-only"}); code != 2 {
		t.Errorf("--files --corrupt-only: exit %d: %s", code, errb.String())
	}
}

// TestCleanOlderThanUnits (issue 25, item 2): --older-than takes days and
// weeks (and a bare number of seconds); a bad one is one line, status 2.
func TestCleanOlderThanUnits(t *testing.T) {
	for _, age := range []string{"1d12h", "129600", "1.5d"} {
		root := cacheWith(t)
		t.Setenv("KTSTR_CACHE_DIR", root)
		var out, errb bytes.Buffer
		if code := run(context.Background(), nil, &out, &errb, []string{"clean", "--files", "--older-than", age}); code != 0 || !strings.Contains(errb.String(), "removed 2 file(s)") {
			t.Errorf("--older-than %s: exit %d: %s", age, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), nil, &out, &errb, []string{"clean", "--files", "--older-than", "3y"})
	if want := `ktstr-kernel: --older-than: duration "3y": unknown unit "y" (ns, us, ms, s, m, h, d, w) (see ktstr-kernel --help)`; code != 2 || strings.TrimSpace(errb.String()) != want {
		t.Errorf("--older-than 3y: exit %d, %q; want %q", code, errb.String(), want)
	}
}
