package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func inputs() Inputs {
	return Inputs{
		QEMU: "7.2.22", QEMUBinary: FileID{"/usr/bin/qemu-system-x86_64", 1, 2},
		Args:   []string{"-machine", "q35", "-accel", "tcg,thread=multi", "-smp", "4", "-append", "console=ttyS0"},
		Kernel: FileID{"/k/vmlinux", 10, 20}, Initrd: FileID{"/i/base.cpio.none", 30, 40}, Agent: "aa",
	}
}

// Every input changes the key; equal inputs give equal keys.
func TestKeyCoversEveryInput(t *testing.T) {
	base := Key(inputs())
	if Key(inputs()) != base {
		t.Fatal("equal inputs, different keys")
	}
	changes := map[string]func(*Inputs){
		"qemu version":  func(in *Inputs) { in.QEMU = "8.0" },
		"qemu binary":   func(in *Inputs) { in.QEMUBinary.ModNS++ },
		"tcg threading": func(in *Inputs) { in.Args[3] = "tcg,thread=single" },
		"topology":      func(in *Inputs) { in.Args[5] = "8" },
		"cmdline":       func(in *Inputs) { in.Args[7] += " loglevel=7" },
		"kernel":        func(in *Inputs) { in.Kernel.Size++ },
		"kernel mtime":  func(in *Inputs) { in.Kernel.ModNS++ },
		"initrd":        func(in *Inputs) { in.Initrd.Path = "/i/other" },
		"agent":         func(in *Inputs) { in.Agent = "bb" },
	}
	seen := map[string]string{base: "base"}
	for name, change := range changes {
		in := inputs()
		change(&in)
		k := Key(in)
		if other, dup := seen[k]; dup {
			t.Errorf("%s: key %s equals that of %s", name, k, other)
		}
		seen[k] = name
	}
}

func TestHashFileFollowsContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(p, []byte("one"), 0o644)
	a, err := HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("two"), 0o644)
	b, _ := HashFile(p)
	if a == b {
		t.Fatal("a changed agent binary kept its hash")
	}
}

// saveText saves a snapshot of two files: a stream holding text and a
// sparse "RAM" file with text at 1 MiB.
func TestHashFileMemo(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent")
	os.WriteFile(p, []byte("one"), 0o644)
	a, err := HashFileMemo(p, filepath.Join(dir, "memo"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := HashFile(p)
	if a != want {
		t.Fatalf("memo hash %s, want %s", a, want)
	}
	// A rebuilt binary (new size and time) is hashed anew.
	os.WriteFile(p, []byte("three"), 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	b, _ := HashFileMemo(p, filepath.Join(dir, "memo"))
	if want, _ := HashFile(p); b != want || b == a {
		t.Fatalf("after a rebuild: %s (before %s, want %s)", b, a, want)
	}
}

func saveText(text string, calls *atomic.Int32) func(context.Context, string) error {
	return func(_ context.Context, dir string) error {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // hold the lock a while
		if err := os.WriteFile(filepath.Join(dir, "vmstate"), []byte(text), 0o644); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "node0.ram"))
		if err != nil {
			return err
		}
		defer f.Close()
		f.WriteAt([]byte(text), 1<<20)
		return f.Truncate(4 << 20)
	}
}

func TestCreateThenGet(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	if _, _, err := c.Get("k"); !errors.Is(err, ErrMissing) {
		t.Fatalf("empty cache: %v", err)
	}
	var calls atomic.Int32
	p, m, created, err := c.Create(context.Background(), "k", inputs(), saveText("stream", &calls), nil)
	if err != nil || !created || len(m.Files) != 2 || m.DataBytes() < 12 {
		t.Fatalf("create: %v %v %+v", err, created, m)
	}
	got, _, err := c.Get("k")
	if err != nil || got != p {
		t.Fatalf("get after create: %q %v", got, err)
	}
	if _, _, created, _ := c.Create(context.Background(), "k", inputs(), saveText("x", &calls), nil); created || calls.Load() != 1 {
		t.Fatalf("a second create made it again (%d saves)", calls.Load())
	}
}

// A damaged snapshot (a byte flipped, a file truncated or gone, a write
// into a hole, unreadable metadata) is reported, never returned, and
// Create replaces it.
func TestCorruptIsDetectedAndRebuilt(t *testing.T) {
	for name, damage := range map[string]func(string){
		"flipped byte": func(dir string) {
			p := filepath.Join(dir, "vmstate")
			b, _ := os.ReadFile(p)
			b[2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		},
		"truncated": func(dir string) { os.Truncate(filepath.Join(dir, "vmstate"), 3) },
		"written into a hole": func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "node0.ram"), os.O_WRONLY, 0)
			f.WriteAt([]byte{0}, 3<<20) // a zero byte: the size and the bytes read stay the same
			f.Close()
		},
		"metadata":    func(dir string) { os.WriteFile(dir+".json", []byte("{"), 0o644) },
		"stream gone": func(dir string) { os.Remove(filepath.Join(dir, "vmstate")) },
	} {
		t.Run(name, func(t *testing.T) {
			c := &Cache{Dir: t.TempDir()}
			var calls atomic.Int32
			p, _, _, err := c.Create(context.Background(), "k", inputs(), saveText("stream", &calls), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Get("k"); err != nil { // checked once, remembered
				t.Fatal(err)
			}
			damage(p)
			var ce *CorruptError
			if _, _, err := c.Get("k"); !errors.As(err, &ce) {
				t.Fatalf("damaged snapshot: Get said %v", err)
			}
			var told error
			_, _, created, err := c.Create(context.Background(), "k", inputs(), saveText("stream", &calls), func(e error) { told = e })
			if err != nil || !created || told == nil || calls.Load() != 2 {
				t.Fatalf("rebuild: err %v created %v told %v saves %d", err, created, told, calls.Load())
			}
			if _, _, err := c.Get("k"); err != nil {
				t.Fatalf("after rebuild: %v", err)
			}
		})
	}
}

// Concurrent first creators make one snapshot.
func TestConcurrentCreateMakesOne(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	var wg sync.WaitGroup
	paths := make([]string, 6)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _, _, err := c.Create(context.Background(), "k", inputs(), saveText("stream", &calls), nil)
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d saves for one key", calls.Load())
	}
	for _, p := range paths {
		if p != paths[0] {
			t.Fatalf("paths differ: %v", paths)
		}
	}
}

// A failed save leaves nothing behind.
func TestFailedSaveLeavesNothing(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	_, _, _, err := c.Create(context.Background(), "k", inputs(), func(_ context.Context, p string) error {
		os.WriteFile(filepath.Join(p, "vmstate"), []byte("partial"), 0o644)
		return errors.New("boom")
	}, nil)
	if err == nil {
		t.Fatal("a failed save succeeded")
	}
	if _, _, err := c.Get("k"); !errors.Is(err, ErrMissing) {
		t.Fatalf("after a failed save: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(c.Dir, "*"))
	tmps, _ := filepath.Glob(filepath.Join(c.Dir, ".tmp-*"))
	if len(tmps) > 0 || len(left) > 1 { // .locks only (a dot file: not globbed)
		t.Fatalf("left behind: %v %v", left, tmps)
	}
}

// Prune keeps the most recently used snapshots: a snapshot restored a
// moment ago survives one made before it that nobody used.
func TestPruneKeepsRecentlyUsed(t *testing.T) {
	c := &Cache{Dir: t.TempDir(), Keep: 2}
	var calls atomic.Int32
	create := func(key string, age time.Duration) {
		if _, _, _, err := c.Create(context.Background(), key, inputs(), saveText(key, &calls), nil); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		os.Chtimes(c.Path(key), then, then)
	}
	create("old-used", 3*time.Hour)
	create("old-unused", 2*time.Hour)
	if _, _, err := c.Get("old-used"); err != nil { // used now
		t.Fatal(err)
	}
	create("new", 0)
	for key, want := range map[string]bool{"old-used": true, "old-unused": false, "new": true} {
		if _, _, err := c.Get(key); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v (%v)", key, err == nil, want, err)
		}
	}
}

// Sweep removes the temporary directory of a creator that died, and
// keeps one of a live process.
func TestSweep(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	dead := exec.Command("true")
	dead.Run()
	gone := filepath.Join(c.Dir, fmt.Sprintf(".tmp-k-%d", dead.Process.Pid))
	live := filepath.Join(c.Dir, fmt.Sprintf(".tmp-k-%d", os.Getpid()))
	os.MkdirAll(gone, 0o755)
	os.MkdirAll(live, 0o755)
	c.Sweep()
	if _, err := os.Stat(gone); err == nil {
		t.Error("a dead creator's directory stayed")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("a live creator's directory was removed")
	}
}

// A snapshot in use (Acquire) survives Remove and pruning until released:
// a restore reads its files after Acquire returned. Released, it goes.
func TestAcquiredSnapshotIsNotRemoved(t *testing.T) {
	c := &Cache{Dir: t.TempDir(), Keep: 1}
	var calls atomic.Int32
	ctx := context.Background()
	if _, _, _, err := c.Create(ctx, "held", inputs(), saveText("held", &calls), nil); err != nil {
		t.Fatal(err)
	}
	dir, _, release, err := c.Acquire(ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	if c.Remove("held") {
		t.Fatal("Remove deleted a snapshot in use")
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(dir, old, old)
	// Keep 1: creating another prunes the least recently used, the held one.
	if _, _, _, err := c.Create(ctx, "other", inputs(), saveText("other", &calls), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node0.ram")); err != nil {
		t.Fatalf("pruning removed a snapshot in use: %v", err)
	}
	release()
	if !c.Remove("held") {
		t.Fatal("Remove kept a released snapshot")
	}
	if _, _, err := c.Get("held"); !errors.Is(err, ErrMissing) {
		t.Fatalf("removed snapshot: %v", err)
	}
	if _, _, _, err := c.Acquire(ctx, "held"); !errors.Is(err, ErrMissing) {
		t.Fatalf("Acquire of a removed snapshot: %v", err)
	}
}

// A snapshot directory whose metadata was never written (its creator was
// killed between the two) is removed by the next prune; one whose lock is
// held (a creator between the two now) stays.
func TestPruneRemovesSnapshotsWithoutMetadata(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	ctx := context.Background()
	for _, key := range []string{"orphan", "being-made"} {
		os.MkdirAll(filepath.Join(c.Path(key)), 0o755)
		os.WriteFile(filepath.Join(c.Path(key), "vmstate"), []byte("x"), 0o644)
	}
	unlock, ok := c.tryLock("being-made")
	if !ok {
		t.Fatal("lock")
	}
	defer unlock()
	if _, _, _, err := c.Create(ctx, "new", inputs(), saveText("new", &calls), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Path("orphan")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a snapshot directory without metadata stayed: %v", err)
	}
	if _, err := os.Stat(c.Path("being-made")); err != nil {
		t.Errorf("a snapshot being made was removed: %v", err)
	}
	if _, _, err := c.Get("new"); err != nil {
		t.Errorf("the new snapshot: %v", err)
	}
}

// Pruning keeps the most recently used snapshots within MaxBytes of data
// and always the new one, even when it alone is over.
func TestPruneBoundsBytes(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	ctx := context.Background()
	for i, key := range []string{"aaaa", "bbbb", "cccc"} {
		_, m, _, err := c.Create(ctx, key, inputs(), saveText(key, &calls), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Room for two of these (saveText's are all one size).
		c.MaxBytes = 2 * m.DataBytes()
		old := time.Now().Add(time.Duration(i-3) * time.Minute)
		os.Chtimes(c.Path(key), old, old)
	}
	for key, want := range map[string]bool{"aaaa": false, "bbbb": true, "cccc": true} {
		if _, _, err := c.Get(key); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v (%v)", key, err == nil, want, err)
		}
	}
	c.MaxBytes = 1
	if _, _, _, err := c.Create(ctx, "dddd", inputs(), saveText("dddd", &calls), nil); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"bbbb": false, "cccc": false, "dddd": true} {
		if _, _, err := c.Get(key); (err == nil) != want {
			t.Errorf("over the cap: %s: kept %v, want %v (%v)", key, err == nil, want, err)
		}
	}
}
