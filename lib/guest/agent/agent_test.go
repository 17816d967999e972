package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLimitedBuffer(t *testing.T) {
	l := &limitedBuffer{limit: 5}
	l.Write([]byte("abc"))
	l.Write([]byte("defg"))
	if l.buf.String() != "abcde" || !l.dropped {
		t.Errorf("%q dropped=%v", l.buf.String(), l.dropped)
	}
}

// spreadPIDs says when the pids could not be spread (no ns_last_pid:
// CONFIG_CHECKPOINT_RESTORE off), and otherwise writes a seed-chosen pid.
func TestSpreadPIDs(t *testing.T) {
	dir := t.TempDir()
	seed := []byte{1, 2, 3, 4}
	if why := spreadPIDsAt(filepath.Join(dir, "absent"), seed); !strings.Contains(why, "CONFIG_CHECKPOINT_RESTORE") {
		t.Errorf("no ns_last_pid: %q", why)
	}
	p := filepath.Join(dir, "ns_last_pid")
	os.WriteFile(p, []byte("1"), 0o644)
	if why := spreadPIDsAt(p, seed); why != "" {
		t.Fatalf("writable ns_last_pid: %q", why)
	}
	b, _ := os.ReadFile(p)
	n, err := strconv.Atoi(string(b))
	if err != nil || n < firstFreeLowPID || n >= firstFreeLowPID+lastPIDSpread {
		t.Errorf("next pid %q, want %d..%d", b, firstFreeLowPID, firstFreeLowPID+lastPIDSpread)
	}
}
