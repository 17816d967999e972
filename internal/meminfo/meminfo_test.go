package meminfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMB(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "meminfo")
	os.WriteFile(proc, []byte("MemTotal:       16384000 kB\nMemFree:  1 kB\nMemAvailable:    8192000 kB\n"), 0o644)
	node := filepath.Join(dir, "node0")
	os.WriteFile(node, []byte("Node 0 MemTotal:        2097152 kB\nNode 0 MemFree:          1048576 kB\n"), 0o644)
	for _, c := range []struct {
		path, field string
		want        int
	}{
		{proc, "MemAvailable", 8000}, {proc, "MemTotal", 16000}, {node, "MemTotal", 2048}, {node, "MemFree", 1024},
		{node, "MemAvailable", 0}, {proc, "Mem", 0}, {filepath.Join(dir, "missing"), "MemTotal", 0},
	} {
		if got := MB(c.path, c.field); got != c.want {
			t.Errorf("%s %s: %d, want %d", filepath.Base(c.path), c.field, got, c.want)
		}
	}
}
