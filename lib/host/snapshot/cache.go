// Package snapshot is the on-disk cache of booted guests: QEMU migration
// streams of a machine whose agent waits for its job (see proto.Start),
// keyed by everything the saved machine depends on. Restoring one replaces
// a boot.
//
// Layout of the cache directory:
//
//	DIR/KEY/               a snapshot: the files its saver wrote (a migration
//	                       stream, guest-RAM files), sparse where they have holes
//	DIR/KEY.json           its metadata (Meta): each file's size and CRC-32C;
//	                       written last, so a snapshot without it is incomplete
//	DIR/.locks/KEY.lock    per-key lock (flock): exclusive to create or
//	                       remove the snapshot, shared while one is in use
//	DIR/.tmp-KEY-PID/      a snapshot being written; renamed into place
//
// A snapshot whose files do not match its metadata, or that QEMU refuses,
// is corrupt: the caller reports it, removes it and creates it anew. It is
// never restored.
package snapshot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Format names the layout of saved machines and the host-guest handover;
// a change to either changes every key.
const Format = "ktstr-snapshot-v1"

// Inputs are what a saved machine depends on. Two runs with equal Inputs
// can restore each other's snapshot.
type Inputs struct {
	// QEMU is the emulator's version and binary.
	QEMU       string `json:"qemu"`
	QEMUBinary FileID `json:"qemu_binary"`
	// Args is QEMU's command line without per-run names and paths
	// (vm.Machine.SnapshotArgs): machine, accelerator and TCG threading,
	// CPU model, topology, memory, devices, kernel entry, initramfs and
	// kernel command line.
	Args []string `json:"args"`
	// Kernel and Initrd identify the booted files (Args names their paths;
	// a rebuilt file at the same path has another size or mtime).
	Kernel FileID `json:"kernel"`
	Initrd FileID `json:"initrd"`
	// Agent is the SHA-256 of the guest agent binary.
	Agent string `json:"agent"`
}

// FileID identifies a file's version by path, size and modification time.
type FileID struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	ModNS int64  `json:"mod_ns"`
}

// IdentifyFile returns path's FileID.
func IdentifyFile(path string) (FileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileID{}, fmt.Errorf("snapshot key: %w", err)
	}
	return FileID{Path: path, Size: st.Size(), ModNS: st.ModTime().UnixNano()}, nil
}

// HashFile is the hex SHA-256 of a file's contents.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("snapshot key: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("snapshot key: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashFileMemo is HashFile with its answer kept in memoDir, keyed by the
// file's path, size and modification time: the agent binary is hashed
// once per build, not once per process.
func HashFileMemo(path, memoDir string) (string, error) {
	id, err := IdentifyFile(path)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(id)
	name := sha256.Sum256(b)
	memo := filepath.Join(memoDir, hex.EncodeToString(name[:12]))
	if h, err := os.ReadFile(memo); err == nil && len(h) == 64 {
		return string(h), nil
	}
	h, err := HashFile(path)
	if err != nil {
		return "", err
	}
	if os.MkdirAll(memoDir, 0o755) == nil {
		writeAtomic(memo, []byte(h))
	}
	return h, nil
}

// Key is the cache key of in: 24 hex digits of a SHA-256 over Format and
// the inputs.
func Key(in Inputs) string {
	b, _ := json.Marshal(in) // plain strings and numbers: cannot fail
	h := sha256.New()
	h.Write([]byte(Format + "\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// Meta is a snapshot's metadata.
type Meta struct {
	Key     string    `json:"key"`
	Files   []FileSum `json:"files"`
	Created time.Time `json:"created"`
	// SaveS is how long booting and saving the machine took.
	SaveS  float64 `json:"save_s"`
	Inputs Inputs  `json:"inputs"`
}

// FileSum is one file of a snapshot. CRC32C covers the file's data
// extents and their offsets (holes are not read: a guest-RAM file is
// mostly hole).
type FileSum struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Data is how many bytes its data extents hold.
	Data   int64  `json:"data"`
	CRC32C uint32 `json:"crc32c"`
}

// DataBytes is how many bytes of data the snapshot's files hold.
func (m *Meta) DataBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Data
	}
	return n
}

// Cache is a snapshot directory. Its methods are safe for concurrent use.
type Cache struct {
	Dir string
	// Keep is how many snapshots survive a new one (default DefaultKeep).
	Keep int
	// MaxBytes bounds the data the kept snapshots hold together (default
	// DefaultMaxBytes): the newest one is kept whatever its size.
	MaxBytes int64

	// checked remembers the snapshots this process has checksummed, by
	// the size and modification time of their files: a gauntlet restores
	// one snapshot many times and reads it whole once.
	mu      sync.Mutex
	checked map[string]string
}

// DefaultKeep bounds the snapshots kept, the least recently used going
// first: one per machine in use (a gauntlet's topologies and schedulers'
// include sets), each tens of MB of data.
const DefaultKeep = 16

// DefaultMaxBytes bounds the data of the kept snapshots: a 1,2,2,1 machine
// saves about 62 MB, a larger one's RAM more (its sparse file holds only
// the pages the boot touched).
const DefaultMaxBytes = 2 << 30

// ErrMissing is Get's error when key has no snapshot.
var ErrMissing = errors.New("no snapshot")

// CorruptError is a snapshot that must not be restored.
type CorruptError struct {
	Key    string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("snapshot %s is corrupt: %s", e.Key, e.Reason)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Path is the directory of key's snapshot.
func (c *Cache) Path(key string) string { return filepath.Join(c.Dir, key) }

func (c *Cache) metaPath(key string) string { return filepath.Join(c.Dir, key+".json") }

// Get returns the checked snapshot directory of key: ErrMissing when there
// is none, a *CorruptError when its metadata is unreadable or a file's
// size or checksum does not match.
func (c *Cache) Get(key string) (string, *Meta, error) {
	mp, err := c.readMeta(key)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, ErrMissing
	}
	if err != nil {
		return "", nil, &CorruptError{key, err.Error()}
	}
	m := *mp
	if m.Key != key || len(m.Files) == 0 {
		return "", nil, &CorruptError{key, errUnreadableMeta.Error()}
	}
	dir := c.Path(key)
	// Its directory's time is its last use: prune keeps the recently used.
	now := time.Now()
	os.Chtimes(dir, now, now)
	stamp := c.stamp(key, &m)
	c.mu.Lock()
	known := stamp != "" && c.checked[key] == stamp
	c.mu.Unlock()
	if known {
		return dir, &m, nil
	}
	for _, f := range m.Files {
		got, err := sum(filepath.Join(dir, filepath.Base(f.Name)))
		switch {
		case err != nil:
			return "", nil, &CorruptError{key, err.Error()}
		case got.Size != f.Size:
			return "", nil, &CorruptError{key, fmt.Sprintf("%s: %d bytes, metadata says %d", f.Name, got.Size, f.Size)}
		case got.CRC32C != f.CRC32C || got.Data != f.Data:
			return "", nil, &CorruptError{key, fmt.Sprintf("%s: CRC-32C %08x of %d data bytes, metadata says %08x of %d", f.Name, got.CRC32C, got.Data, f.CRC32C, f.Data)}
		}
	}
	if stamp != "" {
		c.mu.Lock()
		if c.checked == nil {
			c.checked = map[string]string{}
		}
		c.checked[key] = stamp
		c.mu.Unlock()
	}
	return dir, &m, nil
}

// stamp is the size and modification time of key's metadata and files
// ("" if one cannot be read).
func (c *Cache) stamp(key string, m *Meta) string {
	var b strings.Builder
	for _, p := range append([]string{c.metaPath(key)}, filesOf(c.Path(key), m)...) {
		st, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
	}
	return b.String()
}

func filesOf(dir string, m *Meta) []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = filepath.Join(dir, filepath.Base(f.Name))
	}
	return out
}

// sum is the FileSum of path: a CRC-32C over each data extent's offset and
// bytes, found with SEEK_DATA and SEEK_HOLE.
func sum(path string) (FileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSum{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileSum{}, err
	}
	out := FileSum{Name: filepath.Base(path), Size: st.Size()}
	h := crc32.New(castagnoli)
	fd := int(f.Fd())
	var hdr [8]byte
	for off := int64(0); off < st.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return FileSum{}, err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return FileSum{}, err
		}
		binary.LittleEndian.PutUint64(hdr[:], uint64(data))
		h.Write(hdr[:])
		n, err := io.Copy(h, io.NewSectionReader(f, data, hole-data))
		if err != nil {
			return FileSum{}, err
		}
		out.Data += n
		off = hole
	}
	out.CRC32C = h.Sum32()
	return out, nil
}

// Acquire returns key's checked snapshot (see Get) held for use: until
// release is called, Remove and pruning leave it in place (a restore
// copies its RAM files and QEMU reads its stream after Acquire returned).
// It waits while the snapshot is being created. On error nothing is held.
func (c *Cache) Acquire(ctx context.Context, key string) (dir string, m *Meta, release func(), err error) {
	unlock, err := c.lock(ctx, key, unix.LOCK_SH)
	if err != nil {
		return "", nil, nil, err
	}
	dir, m, err = c.Get(key)
	if err != nil {
		unlock()
		return "", nil, nil, err
	}
	return dir, m, unlock, nil
}

// Remove deletes key's snapshot (a corrupt or refused one) unless it is
// in use (Acquire) or being created; removed says whether it was deleted.
// A snapshot in use stays: its other users need its files, and if it is
// bad they find out too.
func (c *Cache) Remove(key string) (removed bool) {
	unlock, ok := c.tryLock(key)
	if !ok {
		return false
	}
	defer unlock()
	c.remove(key)
	return true
}

// remove deletes key's snapshot; the caller holds its lock.
func (c *Cache) remove(key string) {
	c.mu.Lock()
	delete(c.checked, key)
	c.mu.Unlock()
	os.Remove(c.metaPath(key))
	os.RemoveAll(c.Path(key))
}

// Create returns key's snapshot directory, making it with save when it is
// missing or corrupt. Concurrent callers (in this process or others) wait
// on a per-key lock, and all but the first find the snapshot made. save
// writes the snapshot's files into the empty directory it is given;
// Create checksums them, moves the directory into place and writes the
// metadata last. corrupt, if set, is told about a corrupt snapshot before
// it is replaced. created says whether this call made it.
func (c *Cache) Create(ctx context.Context, key string, in Inputs, save func(ctx context.Context, dir string) error, corrupt func(error)) (path string, m *Meta, created bool, err error) {
	unlock, err := c.lock(ctx, key, unix.LOCK_EX)
	if err != nil {
		return "", nil, false, err
	}
	defer unlock()
	p, m, err := c.Get(key)
	if err == nil {
		return p, m, false, nil
	}
	var ce *CorruptError
	if errors.As(err, &ce) && corrupt != nil {
		corrupt(err)
	}
	c.remove(key) // a corrupt one, or the files of an incomplete one
	tmp := filepath.Join(c.Dir, fmt.Sprintf(".tmp-%s-%d", key, os.Getpid()))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", nil, false, fmt.Errorf("snapshot %s: %w", key, err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := save(ctx, tmp); err != nil {
		return "", nil, false, err
	}
	m = &Meta{Key: key, Created: time.Now().UTC(), SaveS: time.Since(start).Seconds(), Inputs: in}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return "", nil, false, fmt.Errorf("snapshot %s: %w", key, err)
	}
	for _, e := range ents {
		fs, err := sum(filepath.Join(tmp, e.Name()))
		if err != nil {
			return "", nil, false, fmt.Errorf("snapshot %s: %w", key, err)
		}
		m.Files = append(m.Files, fs)
	}
	if m.DataBytes() == 0 {
		return "", nil, false, fmt.Errorf("snapshot %s: the saver wrote nothing", key)
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := os.Rename(tmp, c.Path(key)); err != nil {
		return "", nil, false, fmt.Errorf("snapshot %s: %w", key, err)
	}
	if err := writeAtomic(c.metaPath(key), append(mb, '\n')); err != nil {
		os.RemoveAll(c.Path(key))
		return "", nil, false, fmt.Errorf("snapshot %s: %w", key, err)
	}
	c.prune(key)
	return c.Path(key), m, true, nil
}

func writeAtomic(path string, b []byte) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// lockFile opens key's lock file.
func (c *Cache) lockFile(key string) (*os.File, error) {
	dir := filepath.Join(c.Dir, ".locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot cache: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, key+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("snapshot lock: %w", err)
	}
	return f, nil
}

// lock takes key's lock, waiting while it is held in conflict: how is
// unix.LOCK_EX to create or remove the snapshot, unix.LOCK_SH to use it.
// flock locks belong to the open file, so holders in one process exclude
// each other as holders in different processes do.
func (c *Cache) lock(ctx context.Context, key string, how int) (func(), error) {
	f, err := c.lockFile(key)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("snapshot lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// tryLock takes key's lock exclusively if no one holds it.
func (c *Cache) tryLock(key string) (func(), bool) {
	f, err := c.lockFile(key)
	if err != nil {
		return nil, false
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, true
}

// Sweep removes what creators that died left: temporary snapshot
// directories of processes that are gone.
func (c *Cache) Sweep() {
	tmps, _ := filepath.Glob(filepath.Join(c.Dir, ".tmp-*"))
	for _, t := range tmps {
		i := strings.LastIndexByte(t, '-')
		if pid, err := strconv.Atoi(t[i+1:]); err == nil && pid != os.Getpid() && errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			os.RemoveAll(t)
		}
	}
}

// prune keeps the most recently used snapshots, at most Keep of them
// holding at most MaxBytes of data (and always keep), removes the rest
// with their metadata, and sweeps (Sweep).
func (c *Cache) prune(keep string) {
	n := c.Keep
	if n <= 0 {
		n = DefaultKeep
	}
	maxBytes := c.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	type snap struct {
		key   string
		mod   int64
		bytes int64
	}
	var snaps []snap
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		key, ok := strings.CutSuffix(name, ".json")
		if !ok {
			// A directory without metadata: its creator died between
			// moving it into place and writing the metadata (or is
			// there now: Remove leaves one whose lock is held).
			if _, err := os.Stat(c.metaPath(name)); errors.Is(err, fs.ErrNotExist) && e.IsDir() {
				c.Remove(name)
			}
			continue
		}
		used := int64(0) // a snapshot without its directory goes first
		if info, err := os.Stat(c.Path(key)); err == nil {
			used = info.ModTime().UnixNano()
		}
		snaps = append(snaps, snap{key, used, c.dataBytes(key)})
	}
	c.Sweep()
	// keep, just made or used, is among the first.
	slices.SortFunc(snaps, func(a, b snap) int { return cmp.Compare(b.mod, a.mod) })
	kept, bytes := 0, int64(0)
	for _, s := range snaps {
		if s.key == keep || (kept < n && bytes+s.bytes <= maxBytes) {
			kept++
			bytes += s.bytes
			continue
		}
		// Its lock file stays: another process may be waiting on it. One
		// in use or being made stays too (Remove).
		c.Remove(s.key)
	}
}

// dataBytes is what key's metadata says its files hold; 0 when unreadable
// (Get reports that one as corrupt).
func (c *Cache) dataBytes(key string) int64 {
	m, err := c.readMeta(key)
	if err != nil {
		return 0
	}
	return m.DataBytes()
}

var errUnreadableMeta = errors.New("unreadable metadata")

// readMeta parses key's metadata file: the file's read error, or
// errUnreadableMeta when it is not metadata.
func (c *Cache) readMeta(key string) (*Meta, error) {
	b, err := os.ReadFile(c.metaPath(key))
	if err != nil {
		return nil, err
	}
	var m Meta
	if json.Unmarshal(b, &m) != nil {
		return nil, errUnreadableMeta
	}
	return &m, nil
}
