package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLabels: the labels of the usable entries, newest first, once each;
// a corrupt entry's is not offered; no cache is no labels, and nothing is
// created.
func TestLabels(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fakeEntry(t, c, "old", "6.12.1", "minimal", now.Add(-time.Hour))
	fakeEntry(t, c, "new", "6.12.117", "minimal", now)
	fakeEntry(t, c, "again", "6.12.117", "minimal", now.Add(-2*time.Hour))
	fakeEntry(t, c, "noimage", "6.12.200", "minimal", now.Add(time.Hour))
	os.Remove(filepath.Join(c.Root, "noimage", "bzImage"))
	got, err := Labels(c.Root)
	if want := []string{"kernel_6_12_117", "kernel_6_12_1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Labels = %q, %v; want %q", got, err, want)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if got, err := Labels(missing); err != nil || len(got) != 0 {
		t.Errorf("no cache: %q, %v", got, err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("Labels created %s", missing)
	}
}
