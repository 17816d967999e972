package ptytest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestRunKeepsTheLastByte: what the tool wrote just before it returned is
// all there, byte for byte; closing the terminal end first once lost a
// table's last cell in CI.
func TestRunKeepsTheLastByte(t *testing.T) {
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "line %d\t%s\n", i, strings.Repeat("x", i%70))
	}
	want.WriteString("last cell, no newline")
	tool := func(_ context.Context, _ io.Reader, stdout, _ io.Writer, _ []string) int {
		io.WriteString(stdout, want.String())
		return 3
	}
	for range 50 {
		code, got := Run(t, 200, tool, "")
		if code != 3 || got != want.String() {
			t.Fatalf("exit %d, got %d bytes, want %d; tail %q", code, len(got), want.Len(), got[max(0, len(got)-40):])
		}
	}
}
