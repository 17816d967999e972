package vm

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A guest-RAM file saved sparsely and restored comes back byte for byte,
// and the saved copy keeps zero pages as holes.
func TestSparseRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ram := make([]byte, 64*pageSize+100)
	r := rand.New(rand.NewPCG(1, 2))
	for _, page := range []int{0, 3, 4, 40, 64} {
		for i := page * pageSize; i < min(len(ram), page*pageSize+pageSize); i++ {
			ram[i] = byte(r.IntN(255) + 1)
		}
	}
	src, saved, back := filepath.Join(dir, "ram"), filepath.Join(dir, "saved"), filepath.Join(dir, "back")
	if err := os.WriteFile(src, ram, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveSparse(src, saved); err != nil {
		t.Fatal(err)
	}
	if err := restoreSparse(saved, back); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(saved, &st); err != nil || st.Blocks*512 >= int64(len(ram)) {
		t.Errorf("the saved copy is not sparse: %d bytes allocated of %d (%v)", st.Blocks*512, len(ram), err)
	}
	got, _ := os.ReadFile(back)
	if !bytes.Equal(got, ram) {
		t.Fatal("restored RAM differs from the saved RAM")
	}
	if err := restoreSparse(saved, back); err == nil {
		t.Fatal("restore over an existing file succeeded: a RAM file must be fresh")
	}
}
