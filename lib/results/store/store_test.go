package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

func write(t testing.TB, s *Store, labels []string, lines ...string) Entry {
	t.Helper()
	w, err := s.Create(labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if err := w.Append([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	e, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func allLines(segs []Segment) []string {
	var out []string
	for _, s := range segs {
		for _, l := range s.Lines {
			out = append(out, string(l))
		}
	}
	return out
}

func TestRoundTripAndLabels(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e1 := write(t, s, []string{"a"}, `{"kind":"run","v":1,"id":"r1"}`, `{"kind":"verdict","v":1,"run_id":"r1"}`)
	e2 := write(t, s, []string{"b", "x=y"}, `{"kind":"run","v":1,"id":"r2"}`)
	if e1.ID >= e2.ID {
		t.Errorf("segment ids do not sort by creation: %s then %s", e1.ID, e2.ID)
	}
	segs, problems, err := s.Read()
	if err != nil || len(problems) > 0 {
		t.Fatalf("read: %v %v", err, problems)
	}
	if len(segs) != 2 || segs[0].Entry.ID != e1.ID || segs[1].Entry.Labels[1] != "x=y" || !segs[0].Listed {
		t.Fatalf("segments: %+v", segs)
	}
	if got := allLines(segs); len(got) != 3 || got[2] != `{"kind":"run","v":1,"id":"r2"}` {
		t.Errorf("lines: %q", got)
	}
	// An empty session leaves nothing behind.
	write(t, s, nil)
	if segs, _, _ := s.Read(); len(segs) != 2 {
		t.Errorf("an empty segment was kept: %d segments", len(segs))
	}
	if parts, _ := filepath.Glob(filepath.Join(s.Dir, SegmentsDir, "*"+partialExt)); len(parts) > 0 {
		t.Errorf("partial files left: %v", parts)
	}
}

// TestConcurrentWritersLoseNothing: four writers append at once (each its
// own segment, the manifest under flock); every record comes back once.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	const writers, each = 4, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each writer opens the store itself, as separate processes do.
			s, err := Open(dir)
			if err != nil {
				errs <- err
				return
			}
			for k := 0; k < 5; k++ {
				w, err := s.Create([]string{fmt.Sprint("w", i)})
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < each/5; j++ {
					w.Append([]byte(fmt.Sprintf(`{"kind":"run","v":1,"id":"w%d-%d"}`, i, k*each/5+j)))
				}
				if _, err := w.Close(); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s, _ := Open(dir)
	entries, problems, err := s.Manifest()
	if err != nil || len(problems) > 0 || len(entries) != writers*5 {
		t.Fatalf("manifest: %d entries, %v, %v", len(entries), problems, err)
	}
	segs, problems, err := s.Read()
	if err != nil || len(problems) > 0 {
		t.Fatalf("read: %v %v", err, problems)
	}
	got := allLines(segs)
	sort.Strings(got)
	var want []string
	for i := 0; i < writers; i++ {
		for j := 0; j < each; j++ {
			want = append(want, fmt.Sprintf(`{"kind":"run","v":1,"id":"w%d-%d"}`, i, j))
		}
	}
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("%d records back, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// TestCorruptSegment: a flipped byte, a truncation and a missing file are
// each reported naming the segment; the other segments read intact.
func TestCorruptSegment(t *testing.T) {
	for _, damage := range []string{"flip", "truncate", "remove", "garbage-unlisted"} {
		t.Run(damage, func(t *testing.T) {
			s, _ := Open(t.TempDir())
			good := write(t, s, nil, `{"kind":"run","v":1,"id":"good"}`)
			bad := write(t, s, nil, `{"kind":"run","v":1,"id":"bad"}`, `{"kind":"run","v":1,"id":"bad2"}`)
			path := s.segmentPath(bad.ID)
			b, _ := os.ReadFile(path)
			switch damage {
			case "flip":
				b[len(b)/2] ^= 0x40
				os.WriteFile(path, b, 0o644)
			case "truncate":
				os.WriteFile(path, b[:len(b)-5], 0o644)
			case "remove":
				os.Remove(path)
			case "garbage-unlisted":
				// A merged segment without a manifest entry: only zstd's own
				// checks guard it.
				os.WriteFile(filepath.Join(s.Dir, SegmentsDir, "zz-unlisted"+segmentExt), []byte("not zstd at all"), 0o644)
			}
			segs, problems, err := s.Read()
			if err != nil {
				t.Fatal(err)
			}
			wantBad := bad.ID
			if damage == "garbage-unlisted" {
				wantBad = "zz-unlisted"
			}
			if len(problems) != 1 || problems[0].Segment != wantBad {
				t.Fatalf("problems %v, want one naming %s", problems, wantBad)
			}
			lines := allLines(segs)
			if lines[0] != `{"kind":"run","v":1,"id":"good"}` || segs[0].Entry.ID != good.ID {
				t.Errorf("the good segment did not survive: %q", lines)
			}
			if damage != "garbage-unlisted" && len(lines) != 1 {
				t.Errorf("records of the corrupt segment were returned: %q", lines)
			}
		})
	}
}

func TestManifestProblemsAndMerge(t *testing.T) {
	a, _ := Open(t.TempDir())
	b, _ := Open(t.TempDir())
	write(t, a, []string{"a"}, `{"kind":"run","v":1,"id":"1"}`)
	write(t, b, []string{"b"}, `{"kind":"run","v":1,"id":"2"}`)
	// Merge b into a by concatenation, plus a garbage line and a duplicate.
	segs, _ := filepath.Glob(filepath.Join(b.Dir, SegmentsDir, "*"))
	for _, p := range segs {
		data, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(a.Dir, SegmentsDir, filepath.Base(p)), data, 0o644)
	}
	mb, _ := os.ReadFile(filepath.Join(b.Dir, ManifestFile))
	f, _ := os.OpenFile(filepath.Join(a.Dir, ManifestFile), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(mb)
	f.Write([]byte("{not json\n"))
	f.Write(mb)
	f.Close()
	got, problems, err := a.Read()
	if err != nil || len(problems) != 1 || problems[0].Line != 3 {
		t.Fatalf("problems %v %v", problems, err)
	}
	if len(got) != 2 || got[1].Entry.Labels[0] != "b" && got[0].Entry.Labels[0] != "b" {
		t.Errorf("merged store: %+v", got)
	}
}

func TestPrune(t *testing.T) {
	s, _ := Open(t.TempDir())
	old := write(t, s, nil, `{"kind":"run","v":1,"id":"1"}`)
	cut := time.Now()
	write(t, s, nil, `{"kind":"run","v":1,"id":"2"}`)
	if removed, err := s.Prune(time.Time{}); err != nil || len(removed) != 0 {
		t.Fatalf("a zero time pruned %v, %v", removed, err)
	}
	removed, err := s.Prune(cut)
	if err != nil || len(removed) != 1 || removed[0].ID != old.ID {
		t.Fatalf("pruned %v, %v", removed, err)
	}
	segs, problems, _ := s.Read()
	if len(problems) > 0 || len(allLines(segs)) != 1 || allLines(segs)[0] != `{"kind":"run","v":1,"id":"2"}` {
		t.Errorf("after prune: %q %v", allLines(segs), problems)
	}
}

// FuzzReadSegment: whatever bytes replace one segment, the reader returns
// the other segment's records exactly, and the damaged one either exactly
// as written (the bytes were unchanged) or not at all with one problem
// naming it.
func FuzzReadSegment(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte("\x28\xb5\x2f\xfd\x00\x00"), true)
	f.Add([]byte("{\"kind\":\"run\"}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, keepManifest bool) {
		s, _ := Open(t.TempDir())
		write(t, s, []string{"keep"}, `{"kind":"run","v":1,"id":"keep"}`)
		victim := write(t, s, nil, `{"kind":"run","v":1,"id":"victim"}`)
		path := s.segmentPath(victim.ID)
		orig, _ := os.ReadFile(path)
		os.WriteFile(path, data, 0o644)
		if !keepManifest {
			// Only the first segment stays listed: the victim is read on
			// zstd's checksums alone.
			m, _ := os.ReadFile(filepath.Join(s.Dir, ManifestFile))
			first := bytes.SplitAfter(m, []byte("\n"))[0]
			os.WriteFile(filepath.Join(s.Dir, ManifestFile), first, 0o644)
		}
		segs, problems, err := s.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) == 0 || segs[0].Entry.Labels[0] != "keep" || len(segs[0].Lines) != 1 || string(segs[0].Lines[0]) != `{"kind":"run","v":1,"id":"keep"}` {
			t.Fatalf("the intact segment changed: %+v", segs)
		}
		switch {
		case bytes.Equal(data, orig):
			if len(problems) != 0 || len(segs) != 2 {
				t.Fatalf("unchanged bytes: %v", problems)
			}
		case len(segs) == 2:
			// Only possible without the manifest's digest: the bytes are a
			// valid zstd stream of complete lines.
			if keepManifest {
				t.Fatalf("changed bytes passed the manifest digest")
			}
			if len(problems) != 0 {
				t.Fatalf("read and reported: %v", problems)
			}
		default:
			if len(problems) != 1 || problems[0].Segment != victim.ID {
				t.Fatalf("problems %v, want one naming %s", problems, victim.ID)
			}
		}
	})
}

// TestLabels: the labels of every segment, sorted, once each; no store, no
// labels, and nothing created.
func TestLabels(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, []string{"nightly", "b"}, `{"kind":"run","v":1,"id":"r1"}`)
	write(t, s, []string{"a", "nightly"}, `{"kind":"run","v":1,"id":"r2"}`)
	write(t, s, nil, `{"kind":"run","v":1,"id":"r3"}`)
	if got, err := Labels(s.Dir); err != nil || fmt.Sprint(got) != "[a b nightly]" {
		t.Errorf("Labels = %q, %v", got, err)
	}
	none := filepath.Join(t.TempDir(), "none")
	if got, err := Labels(none); err != nil || len(got) != 0 {
		t.Errorf("no store: %q, %v", got, err)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("Labels created %s", none)
	}
}
