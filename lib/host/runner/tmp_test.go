package runner

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTempBaseKeepsSocketsShort(t *testing.T) {
	short := "/tmp/TestShort123/001"
	if got := tempBase(short, 4194304); got != short {
		t.Errorf("short $TMPDIR moved to %s", got)
	}
	// The e2e test whose result channel failed to bind.
	long := "/tmp/TestFidelityStarvedWorkersDoNotWaitForTheWatchdog204957916/001"
	got := tempBase(long, 32746)
	if got != fallbackTemp {
		t.Fatalf("long $TMPDIR kept: %s", got)
	}
	// With the longest pid and MkdirTemp's longest random part, every
	// socket fits.
	for _, dir := range []string{short, got} {
		p := filepath.Join(tempBase(dir, 4194304), "ktstr-boot-4194304-"+strings.Repeat("9", 10), longestSocket)
		if len(p) > maxSocketPath {
			t.Errorf("%s: %d bytes", p, len(p))
		}
	}
}
