// Package store is ktstr's run store: an append-only directory of
// zstd-compressed NDJSON segments and a manifest that indexes them.
//
// Layout of a store directory:
//
//	manifest.ndjson            one JSON line per segment (Entry), appended under the lock
//	segments/ID.ndjson.zst     one segment per writer session, immutable once renamed
//	.lock                      flock(2) taken to append to (or rewrite) the manifest
//
// A writer session creates its own segment under a temporary name and renames
// it into place when it closes, so concurrent writers never share a file and
// a reader never sees half a segment. Segment IDs sort by creation time and
// are never reused; nothing is deleted but by Prune, which is explicit.
//
// Stores merge by concatenation: copy the segments of one store into
// another's segments/ and append its manifest to the other's. A segment the
// manifest does not list is still read (its zstd checksums guard it); one
// whose bytes do not match its manifest entry, or that does not decompress,
// is reported and skipped, and everything else stays readable.
package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Names inside a store directory.
const (
	ManifestFile = "manifest.ndjson"
	SegmentsDir  = "segments"
	LockFile     = ".lock"
	segmentExt   = ".ndjson.zst"
	partialExt   = ".part"
)

// Entry is one manifest line: a segment and what it holds.
type Entry struct {
	// ID names the segment: a UTC timestamp, the writer's pid and a random
	// suffix, so IDs sort by creation time and never collide.
	ID       string    `json:"id"`
	StoredAt time.Time `json:"stored_at"`
	// Labels are the writer's --label values.
	Labels  []string `json:"labels,omitempty"`
	Records int      `json:"records"`
	Bytes   int64    `json:"bytes"`
	// SHA256 is the segment file's digest: a segment that no longer
	// matches it is corrupt.
	SHA256 string `json:"sha256"`
}

// Store is an opened store directory.
type Store struct {
	Dir string
}

// Open returns the store at dir, creating its directories if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: no directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, SegmentsDir), 0o755); err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	return &Store{Dir: dir}, nil
}

// DefaultDir is $XDG_DATA_HOME/ktstr/runs, else ~/.local/share/ktstr/runs.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ktstr", "runs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: no $XDG_DATA_HOME and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "ktstr", "runs"), nil
}

func (s *Store) segmentPath(id string) string {
	return filepath.Join(s.Dir, SegmentsDir, id+segmentExt)
}

// newID returns a fresh segment ID.
func newID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", now.UTC().Format("20060102T150405.000000Z"), os.Getpid(), hex.EncodeToString(b[:]))
}

// Writer appends records to one new segment.
type Writer struct {
	s       *Store
	entry   Entry
	f       *os.File
	enc     *zstd.Encoder
	closed  bool
	partial string
}

// Create starts a segment stored under labels. Nothing is visible to
// readers until Close.
func (s *Store) Create(labels []string) (*Writer, error) {
	now := time.Now()
	id := newID(now)
	partial := s.segmentPath(id) + partialExt
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create segment: %w", err)
	}
	enc, err := zstd.NewWriter(f, zstd.WithEncoderCRC(true))
	if err != nil {
		f.Close()
		os.Remove(partial)
		return nil, fmt.Errorf("store: zstd: %w", err)
	}
	return &Writer{s: s, f: f, enc: enc, partial: partial,
		entry: Entry{ID: id, StoredAt: now.UTC(), Labels: labels}}, nil
}

// ID is the segment's ID.
func (w *Writer) ID() string { return w.entry.ID }

// StoredAt is the segment's creation time.
func (w *Writer) StoredAt() time.Time { return w.entry.StoredAt }

// Append writes one record line (without its newline).
func (w *Writer) Append(line []byte) error {
	if bytes.IndexByte(line, '\n') >= 0 {
		return errors.New("store: a record line contains a newline")
	}
	if _, err := w.enc.Write(append(line[:len(line):len(line)], '\n')); err != nil {
		return fmt.Errorf("store: segment %s: %w", w.entry.ID, err)
	}
	w.entry.Records++
	return nil
}

// Close finishes the segment, moves it into place and appends its manifest
// entry. A segment without records is removed instead: it would say nothing.
func (w *Writer) Close() (Entry, error) {
	if w.closed {
		return w.entry, nil
	}
	w.closed = true
	err := w.enc.Close()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || w.entry.Records == 0 {
		os.Remove(w.partial)
		if err != nil {
			return w.entry, fmt.Errorf("store: segment %s: %w", w.entry.ID, err)
		}
		return w.entry, nil
	}
	sum, n, err := digest(w.partial)
	if err != nil {
		os.Remove(w.partial)
		return w.entry, err
	}
	w.entry.SHA256, w.entry.Bytes = sum, n
	if err := os.Rename(w.partial, w.s.segmentPath(w.entry.ID)); err != nil {
		os.Remove(w.partial)
		return w.entry, fmt.Errorf("store: segment %s: %w", w.entry.ID, err)
	}
	line, err := json.Marshal(w.entry)
	if err != nil {
		return w.entry, err
	}
	return w.entry, w.s.locked(func() error {
		f, err := os.OpenFile(filepath.Join(w.s.Dir, ManifestFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("store: manifest: %w", err)
		}
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store: manifest: %w", err)
		}
		return nil
	})
}

// Abort discards an unfinished segment.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.enc.Close()
	w.f.Close()
	os.Remove(w.partial)
}

func digest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("store: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// locked runs fn holding the store's exclusive lock.
func (s *Store) locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("store: lock: %w", err)
	}
	defer f.Close()
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("store: lock %s: %w", f.Name(), err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// Problem is something wrong found while reading the store: a bad
// manifest line or a corrupt segment. Readers turn it into an error record.
type Problem struct {
	// Segment is the segment's ID, or "" for a manifest line.
	Segment string
	// Line is the manifest line, when Segment is "".
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Segment == "" {
		return fmt.Sprintf("%s line %d: %s", ManifestFile, p.Line, p.Message)
	}
	return fmt.Sprintf("segment %s: %s", p.Segment, p.Message)
}

// Segment is one readable segment: its manifest entry (ID only, when the
// manifest does not list it) and its record lines.
type Segment struct {
	Entry Entry
	// Listed is false for a segment the manifest does not list (a merged
	// store whose manifests were not concatenated).
	Listed bool
	Lines  [][]byte
}

// Manifest reads the manifest; malformed lines are returned as problems.
// When a segment is listed twice (a manifest concatenated twice) the first
// entry wins.
func (s *Store) Manifest() ([]Entry, []Problem, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: manifest: %w", err)
	}
	var entries []Entry
	var problems []Problem
	seen := map[string]bool{}
	for i, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(l, &e); err != nil || !validID(e.ID) {
			msg := "no valid segment id"
			if err != nil {
				msg = err.Error()
			}
			problems = append(problems, Problem{Line: i + 1, Message: "malformed manifest line: " + msg})
			continue
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		entries = append(entries, e)
	}
	return entries, problems, nil
}

// validID accepts IDs that name a file inside segments/ and nothing else.
func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/\\\x00") && id != "." && id != ".."
}

// maxSegment bounds one decompressed segment, so a corrupt or hostile
// file cannot exhaust memory.
const maxSegment = 4 << 30

// Read returns every readable segment in ID order and the problems met:
// malformed manifest lines, missing or corrupt segments. A corrupt segment
// is skipped whole, because nothing in it can be trusted; the others are
// returned intact.
func (s *Store) Read() ([]Segment, []Problem, error) {
	entries, problems, err := s.Manifest()
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	names, err := filepath.Glob(filepath.Join(s.Dir, SegmentsDir, "*"+segmentExt))
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	onDisk := map[string]bool{}
	var ids []string
	for _, n := range names {
		id := strings.TrimSuffix(filepath.Base(n), segmentExt)
		onDisk[id] = true
		ids = append(ids, id)
	}
	for _, e := range entries {
		if !onDisk[e.ID] {
			problems = append(problems, Problem{Segment: e.ID, Message: "listed in the manifest but missing from " + SegmentsDir})
		}
	}
	sort.Strings(ids)
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxSegment), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, nil, fmt.Errorf("store: zstd: %w", err)
	}
	defer dec.Close()
	var segs []Segment
	for _, id := range ids {
		e, listed := byID[id]
		if !listed {
			e = Entry{ID: id}
		}
		lines, err := readSegment(dec, s.segmentPath(id), e, listed)
		if err != nil {
			problems = append(problems, Problem{Segment: id, Message: err.Error()})
			continue
		}
		segs = append(segs, Segment{Entry: e, Listed: listed, Lines: lines})
	}
	return segs, problems, nil
}

func readSegment(dec *zstd.Decoder, path string, e Entry, listed bool) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if listed {
		sum := sha256.Sum256(raw)
		if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
			return nil, fmt.Errorf("corrupt: %d bytes with sha256 %s, the manifest says %d bytes with %s", len(raw), got[:12], e.Bytes, short(e.SHA256))
		}
	}
	if err := dec.Reset(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("corrupt: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(dec, maxSegment+1))
	if err != nil {
		return nil, fmt.Errorf("corrupt or truncated: %w", err)
	}
	if len(data) > maxSegment {
		return nil, fmt.Errorf("larger than %d bytes decompressed", maxSegment)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, errors.New("truncated: the last record has no newline")
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxSegment)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if listed && len(lines) != e.Records {
		return nil, fmt.Errorf("corrupt: %d records, the manifest says %d", len(lines), e.Records)
	}
	return lines, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Prune removes the segments the manifest lists as stored before the given
// time and returns their entries (a zero time removes nothing). It rewrites the manifest atomically under the lock; it is the only way
// anything leaves a store.
func (s *Store) Prune(before time.Time) ([]Entry, error) {
	var removed []Entry
	err := s.locked(func() error {
		entries, _, err := s.Manifest()
		if err != nil {
			return err
		}
		var keep []Entry
		for _, e := range entries {
			if e.StoredAt.Before(before) {
				removed = append(removed, e)
			} else {
				keep = append(keep, e)
			}
		}
		if len(removed) == 0 {
			return nil
		}
		var b bytes.Buffer
		for _, e := range keep {
			l, _ := json.Marshal(e)
			b.Write(append(l, '\n'))
		}
		tmp := filepath.Join(s.Dir, ManifestFile+".tmp")
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("store: prune: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(s.Dir, ManifestFile)); err != nil {
			return fmt.Errorf("store: prune: %w", err)
		}
		for _, e := range removed {
			if err := os.Remove(s.segmentPath(e.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("store: prune: %w", err)
			}
		}
		return nil
	})
	return removed, err
}

// Labels are the --label values of the store at dir's segments, sorted,
// each once; none when there is no store there. It only reads the manifest:
// shell completion runs it on every Tab (ktstr-stats store --label,
// compare --a label=).
func Labels(dir string) ([]string, error) {
	entries, _, err := (&Store{Dir: dir}).Manifest()
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, e := range entries {
		labels = append(labels, e.Labels...)
	}
	slices.Sort(labels)
	return slices.Compact(labels), nil
}
