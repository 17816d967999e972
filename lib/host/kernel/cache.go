package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/fileutil"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// MetadataSchema is the version of metadata.json this package writes.
const MetadataSchema = 1

// Metadata is an entry's metadata.json. It is written last, so an entry
// without it is an interrupted install and reported corrupt.
type Metadata struct {
	Schema       int                 `json:"schema"`
	Key          string              `json:"key"`
	Version      string              `json:"version"`
	Profile      string              `json:"profile"`
	Arch         string              `json:"arch"`
	Source       record.KernelSource `json:"source"`
	FragmentHash string              `json:"fragment_hash"`
	// Extra, ExtraHash and ExtraFile are the extra fragment's name, hash
	// and copy in the entry (ktstr-kernel build --fragment); empty for none.
	Extra      string `json:"extra,omitempty"`
	ExtraHash  string `json:"extra_hash,omitempty"`
	ExtraFile  string `json:"extra_file,omitempty"`
	ConfigHash string `json:"config_hash"`
	BuiltAt    string `json:"built_at"`
	// Image, Vmlinux and Config are file names inside the entry.
	Image   string `json:"image"`
	Vmlinux string `json:"vmlinux"`
	Config  string `json:"config"`
	// Schedulers maps scheduler names to paths inside the entry.
	Schedulers          map[string]string `json:"schedulers"`
	SchedExt            bool              `json:"sched_ext"`
	RuntimeCodePatching bool              `json:"runtime_code_patching"`
	Tools               map[string]string `json:"tools"`
	Sizes               map[string]int64  `json:"sizes"`
	BuildSeconds        float64           `json:"build_seconds"`
	// Objects is how many objects the build compiled; it feeds the progress
	// estimate of later builds.
	Objects int `json:"objects"`
}

// Entry status values.
const (
	StatusOK      = "ok"
	StatusStale   = "stale"   // built from another fragment: rebuilt on demand
	StatusCorrupt = "corrupt" // missing or broken files: never used
)

// Entry is one cache entry as found on disk.
type Entry struct {
	Key    string `json:"key"`
	Dir    string `json:"dir"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Label is the kernel's label (Label), when its metadata is readable.
	Label string    `json:"label,omitempty"`
	Meta  *Metadata `json:"metadata,omitempty"`
}

// Record returns the kernel record for an OK entry.
func (e *Entry) Record(cache string) *record.Kernel {
	m := e.Meta
	patching := m.RuntimeCodePatching
	r := &record.Kernel{
		Key: e.Key, Version: m.Version, Image: filepath.Join(e.Dir, m.Image), Vmlinux: filepath.Join(e.Dir, m.Vmlinux),
		Config: filepath.Join(e.Dir, m.Config), Profile: m.Profile, Arch: m.Arch, SchedExt: m.SchedExt,
		RuntimeCodePatching: &patching, Source: m.Source, Cache: cache, Dir: e.Dir, BuiltAt: m.BuiltAt,
		FragmentHash: m.FragmentHash, Fragment: m.Extra,
	}
	r.Label = Label(r)
	if len(m.Schedulers) > 0 {
		r.Schedulers = map[string]string{}
		for name, rel := range m.Schedulers {
			r.Schedulers[name] = filepath.Join(e.Dir, rel)
		}
	}
	return r
}

// Cache is the on-disk kernel cache:
//
//	ROOT/KEY/                 an entry: bzImage, vmlinux, config, sched/, build.log, metadata.json
//	ROOT/.locks/KEY.lock      per-key build lock (flock)
//	ROOT/.tmp-KEY-PID/        an entry being assembled; renamed into place
//	ROOT/.build/KEY-PID/      a source tree being built
//	ROOT/.logs/               build logs, kept for failed builds too
//	ROOT/.hashes/             tarball sha256 memo keyed by path, size, mtime
type Cache struct {
	Root string
}

// DefaultRoot is the kernels directory of the ktstr cache root:
// $KTSTR_CACHE_DIR/kernels, else $XDG_CACHE_HOME/ktstr/kernels, else
// ~/.cache/ktstr/kernels.
func DefaultRoot() (string, error) {
	return cachedir.Sub("kernels")
}

// OpenCache opens (creating) the cache at root and sweeps leftovers of
// builders that died without cleaning up.
func OpenCache(root string) (*Cache, error) {
	for _, d := range []string{root, filepath.Join(root, ".locks"), filepath.Join(root, ".logs"), filepath.Join(root, ".build"), filepath.Join(root, ".hashes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("kernel cache: %w", err)
		}
	}
	c := &Cache{Root: root}
	c.sweepOrphans()
	return c, nil
}

// sweepOrphans removes staging and build directories whose owner process is
// gone. Names end in -PID.
func (c *Cache) sweepOrphans() {
	candidates, _ := filepath.Glob(filepath.Join(c.Root, ".tmp-*"))
	builds, _ := filepath.Glob(filepath.Join(c.Root, ".build", "*"))
	for _, dir := range append(candidates, builds...) {
		i := strings.LastIndexByte(dir, '-')
		pid, err := strconv.Atoi(dir[i+1:])
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Lock takes the build lock of key, waiting while another process holds it.
// waiting is called once, with the holder's pid, if the lock is busy. The
// returned function releases the lock.
func (c *Cache) Lock(ctx context.Context, key string, waiting func(holder int)) (unlock func(), err error) {
	path := filepath.Join(c.Root, ".locks", key+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	told := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", key, err)
		}
		if !told && waiting != nil {
			b := make([]byte, 16)
			n, _ := f.ReadAt(b, 0)
			holder, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			waiting(holder)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		f.Truncate(0)
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// Get returns the entry of key, checked.
func (c *Cache) Get(key string) Entry {
	return c.check(key)
}

// List returns every entry, newest first, each checked: corrupt entries carry
// the reason.
func (c *Cache) List() ([]Entry, error) {
	ents, err := os.ReadDir(c.Root)
	if err != nil {
		return nil, fmt.Errorf("list kernel cache: %w", err)
	}
	var out []Entry
	for _, de := range ents {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		out = append(out, c.check(de.Name()))
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return strings.Compare(builtAt(b), builtAt(a))
	})
	return out, nil
}

func builtAt(e Entry) string {
	if e.Meta == nil {
		return ""
	}
	return e.Meta.BuiltAt
}

// check loads and verifies one entry.
func (c *Cache) check(key string) Entry {
	e := Entry{Key: key, Dir: filepath.Join(c.Root, key), Status: StatusCorrupt}
	b, err := os.ReadFile(filepath.Join(e.Dir, "metadata.json"))
	if err != nil {
		e.Reason = "metadata.json missing (interrupted install?)"
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(e.Dir); serr != nil {
				e.Reason = "no such entry"
			}
		}
		return e
	}
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		e.Reason = "metadata.json unparseable: " + err.Error()
		return e
	}
	e.Meta = &m
	e.Label = e.Record("").Label
	switch {
	case m.Schema != MetadataSchema:
		e.Reason = fmt.Sprintf("metadata schema %d, this tool reads %d", m.Schema, MetadataSchema)
		return e
	case m.Key != key:
		e.Reason = fmt.Sprintf("metadata names key %q", m.Key)
		return e
	}
	files := map[string]string{"image": m.Image, "vmlinux": m.Vmlinux, "config": m.Config}
	for name, rel := range m.Schedulers {
		files["scheduler "+name] = rel
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, what := range names {
		rel := files[what]
		st, err := os.Stat(filepath.Join(e.Dir, rel))
		if rel == "" || err != nil {
			e.Reason = fmt.Sprintf("%s missing (%s)", what, rel)
			return e
		}
		if st.Size() == 0 {
			e.Reason = fmt.Sprintf("%s is empty (%s)", what, rel)
			return e
		}
	}
	if cur, err := FragmentHash(m.Profile); err != nil || cur != m.FragmentHash {
		e.Status, e.Reason = StatusStale, "built from another version of the "+m.Profile+" fragment"
		return e
	}
	e.Status = StatusOK
	return e
}

// Staging creates the directory an entry of key is assembled in.
func (c *Cache) Staging(key string) (string, error) {
	dir := filepath.Join(c.Root, fmt.Sprintf(".tmp-%s-%d", key, os.Getpid()))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kernel cache staging: %w", err)
	}
	return dir, nil
}

// Install moves a completed staging directory into place as key, replacing
// an older entry. Readers see either the old entry or the new, never a mix.
func (c *Cache) Install(staging, key string) error {
	final := filepath.Join(c.Root, key)
	old := filepath.Join(c.Root, fmt.Sprintf(".tmp-old-%s-%d", key, os.Getpid()))
	if _, err := os.Stat(final); err == nil {
		if err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE); err == nil {
			return os.RemoveAll(staging) // now holds the old entry
		}
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("install %s: %w", key, err)
		}
	}
	if err := os.Rename(staging, final); err != nil {
		return fmt.Errorf("install %s: %w", key, err)
	}
	return os.RemoveAll(old)
}

// RemoveTrees deletes the build trees kept for later builds (KeepTree).
func (c *Cache) RemoveTrees() error {
	return os.RemoveAll(filepath.Join(c.Root, ".trees"))
}

// Remove deletes an entry.
func (c *Cache) Remove(key string) error {
	if key == "" || strings.ContainsAny(key, "/") || strings.HasPrefix(key, ".") {
		return fmt.Errorf("remove: bad key %q", key)
	}
	return os.RemoveAll(filepath.Join(c.Root, key))
}

// SourceSHA256 returns the sha256 of a file, memoised by path, size and
// modification time so that resolving a cached tarball stays fast.
func (c *Cache) SourceSHA256(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	id := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())))
	memo := filepath.Join(c.Root, ".hashes", hex.EncodeToString(id[:12]))
	if b, err := os.ReadFile(memo); err == nil && len(b) == 64 {
		return string(b), nil
	}
	sum, err := fileutil.SHA256(path)
	if err != nil {
		return "", err
	}
	writeFileAtomic(memo, []byte(sum))
	return sum, nil
}

// writeFileAtomic writes via a temporary file and rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
