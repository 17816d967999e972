package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestFragmentsParseAndDiffer(t *testing.T) {
	for _, p := range Profiles {
		f, err := Fragment(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseConfig(strings.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		for _, must := range []string{"CONFIG_SCHED_CLASS_EXT", "CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_SYSCALL", "CONFIG_EVENTFD", "CONFIG_VIRTIO_CONSOLE", "CONFIG_MAGIC_SYSRQ"} {
			if cfg[must] != "y" {
				t.Errorf("%s fragment: %s=%q", p, must, cfg[must])
			}
		}
		if cfg["CONFIG_NR_CPUS"] != "512" {
			t.Errorf("%s: NR_CPUS %q", p, cfg["CONFIG_NR_CPUS"])
		}
	}
	minimal, _ := Fragment("minimal")
	cfg, _ := ParseConfig(strings.NewReader(minimal))
	if cfg["CONFIG_JUMP_LABEL"] != "n" || cfg["CONFIG_PREEMPT_DYNAMIC"] != "n" {
		t.Error("minimal profile must turn off runtime code patching")
	}
	a, _ := FragmentHash("minimal")
	b, _ := FragmentHash("defconfig")
	if a == b || len(a) != 8 {
		t.Errorf("hashes %q %q", a, b)
	}
	if _, err := Fragment("huge"); err == nil {
		t.Error("unknown profile accepted")
	}
}

func TestConfigCheck(t *testing.T) {
	cfg, _ := ParseConfig(strings.NewReader("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_S=\"text\"\nCONFIG_N=12\n# comment\nCONFIG_A=n\nCONFIG_A=y\n"))
	fragment := "CONFIG_A=y\n# CONFIG_B is not set\n# CONFIG_D is not set\nCONFIG_N=512\nCONFIG_E=y\nCONFIG_S=\"text\"\n"
	got := fmt.Sprint(cfg.Check(fragment))
	want := "[CONFIG_E=y (got unset) CONFIG_N=512 (got 12)]"
	if got != want {
		t.Errorf("Check = %s, want %s", got, want)
	}
	if !cfg.Enabled("C") || cfg.Enabled("B") {
		t.Error("Enabled")
	}
	if cfg.PatchesCodeAtRuntime() {
		t.Error("no JUMP_LABEL, no patching")
	}
	cfg["CONFIG_JUMP_LABEL"] = "y"
	if !cfg.PatchesCodeAtRuntime() {
		t.Error("JUMP_LABEL patches")
	}
	if h := missingToolHint([]Mismatch{{Option: "CONFIG_DEBUG_INFO_BTF"}}); !strings.Contains(h, "pahole") {
		t.Errorf("hint %q", h)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n")
	f.Add("CONFIG_=y\n#CONFIG_X is not set\nCONFIG_Y")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseConfig(strings.NewReader(text))
		if err != nil {
			return
		}
		for k := range cfg {
			if !strings.HasPrefix(k, "CONFIG_") || !validOption(strings.TrimPrefix(k, "CONFIG_")) {
				t.Fatalf("bad option name %q", k)
			}
		}
		// A config always satisfies a fragment made of itself.
		var b strings.Builder
		for k, v := range cfg {
			if v == "n" {
				fmt.Fprintf(&b, "# %s is not set\n", k)
			} else if !strings.ContainsAny(v, "\"\n") {
				// Quote values that need it, as kconfig does for strings.
				if strings.TrimSpace(v) != v || v == "" {
					v = `"` + v + `"`
				}
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			}
		}
		if ms := cfg.Check(b.String()); len(ms) != 0 {
			t.Fatalf("config does not satisfy itself: %v", ms)
		}
	})
}

func writeBzImage(t *testing.T, path, version string) {
	t.Helper()
	img := make([]byte, 0x400)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20E:], 0x100) // string at 0x300
	copy(img[0x300:], version+" (builder@host) #1 SMP\x00")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseSpec(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "linux")
	for _, d := range []string{"arch/x86", "kernel/sched"} {
		os.MkdirAll(filepath.Join(tree, d), 0o755)
	}
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\nEXTRAVERSION = -rc1\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "Kconfig"), nil, 0o644)
	tarball := filepath.Join(dir, "linux-6.12.tar.xz")
	os.WriteFile(tarball, []byte("x"), 0o644)
	img := filepath.Join(dir, "bzImage")
	writeBzImage(t, img, "6.12.9-ktstr")
	junk := filepath.Join(dir, "junk.bin")
	os.WriteFile(junk, []byte("nothing"), 0o644)

	good := map[string]Spec{
		"6.12":     {Type: SpecVersion, Version: "6.12"},
		"v6.12.17": {Type: SpecVersion, Version: "6.12.17"},
		tree:       {Type: SpecTree, Path: tree},
		tarball:    {Type: SpecTarball, Path: tarball},
		img:        {Type: SpecImage, Path: img},
	}
	for in, want := range good {
		got, err := ParseSpec(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	if v, _ := TreeVersion(tree); v != "6.12.3-rc1" {
		t.Errorf("tree version %q", v)
	}
	if v, _ := ImageVersion(img); v != "6.12.9-ktstr" {
		t.Errorf("image version %q", v)
	}
	bad := map[string]string{
		filepath.Join(dir, "missing"): "no such file",
		dir:                           "not a Linux source tree",
		junk:                          "not a kernel source tree, a tarball",
		"":                            "empty",
		"bogus":                       "not a path",
	}
	for in, want := range bad {
		_, err := ParseSpec(in)
		var se *SpecError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a SpecError with %q", in, err, want)
		}
		// A spec is the user's: a usage error to every tool (exit 2).
		if !errors.Is(fmt.Errorf("resolve: %w", err), cli.ErrUsage) {
			t.Errorf("%q: %v is not a usage error", in, err)
		}
	}
	// A kernel not built yet is not (ktstr-kernel resolve exits 1 for it).
	if errors.Is(&NotBuiltError{"6.12", "minimal"}, cli.ErrUsage) {
		t.Error("NotBuiltError is a usage error")
	}
}

// bzImage returns a minimal image whose setup header points at version
// (boot protocol: "HdrS" at 0x202, version offset − 0x200 at 0x20E).
func bzImage(version string, at uint16) []byte {
	img := make([]byte, max(0x210, int(at)+0x200+len(version)+1))
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20E:], at)
	copy(img[int(at)+0x200:], version+"\x00")
	return img
}

// FuzzImageVersion: a version string placed where the setup header points
// is read back exactly (up to its first space), and whatever an arbitrary
// file yields is a non-empty run of non-space bytes of that file.
func FuzzImageVersion(f *testing.F) {
	f.Add([]byte("short"), "6.12.7 (root@host) #1 SMP", uint16(0x100))
	img := make([]byte, 0x220)
	copy(img[0x202:], "HdrS")
	f.Add(img, "", uint16(0))
	f.Add(bzImage("6.1.0-rc1", 0x20), "6.12.117-ktstr", uint16(0x10))
	// One file per worker process (each runs its inputs one at a time):
	// a directory per input makes the target I/O-bound.
	p := filepath.Join(f.TempDir(), "img")
	f.Fuzz(func(t *testing.T, data []byte, version string, at uint16) {
		os.WriteFile(p, data, 0o644)
		v, err := ImageVersion(p)
		if err == nil && (v == "" || len(v) > 256 || strings.ContainsAny(v, "\x00") || len(strings.Fields(v)) != 1 || !bytes.Contains(data, []byte(v))) {
			t.Fatalf("version %q from a %d-byte file", v, len(data))
		}
		// Round trip: the header's pointer must not point into the
		// header itself, and the kernel's string fits the 256 bytes read.
		want := strings.Fields(strings.SplitN(version, "\x00", 2)[0])
		if at < 0x10 || len(version) > 200 || len(want) == 0 {
			return
		}
		os.WriteFile(p, bzImage(version, at), 0o644)
		if v, err := ImageVersion(p); err != nil || v != want[0] {
			t.Fatalf("version %q at +%#x read back as %q, %v", version, at, v, err)
		}
	})
}

// fakeEntry writes a complete cache entry for key.
func fakeEntry(t *testing.T, c *Cache, key, version, profile string, built time.Time) {
	t.Helper()
	dir := filepath.Join(c.Root, key)
	os.MkdirAll(filepath.Join(dir, "sched"), 0o755)
	for _, f := range []string{"bzImage", "vmlinux", "config", "sched/scx_simple"} {
		os.WriteFile(filepath.Join(dir, f), []byte("data"), 0o644)
	}
	fh, _ := FragmentHash(profile)
	m := Metadata{Schema: MetadataSchema, Key: key, Version: version, Profile: profile, Arch: Arch, FragmentHash: fh,
		BuiltAt: built.UTC().Format(time.RFC3339), Image: "bzImage", Vmlinux: "vmlinux", Config: "config",
		Schedulers: map[string]string{"scx_simple": "sched/scx_simple"}, SchedExt: true}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, "metadata.json"), b, 0o644)
}

func TestCacheStatesAndResolve(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fakeEntry(t, c, "old", "6.12.1", "minimal", now.Add(-time.Hour))
	fakeEntry(t, c, "new", "6.12.117", "minimal", now)
	fakeEntry(t, c, "noimage", "6.12.200", "minimal", now.Add(time.Hour))
	os.Remove(filepath.Join(c.Root, "noimage", "bzImage"))
	fakeEntry(t, c, "stale", "6.12.300", "minimal", now.Add(2*time.Hour))
	meta := filepath.Join(c.Root, "stale", "metadata.json")
	b, _ := os.ReadFile(meta)
	os.WriteFile(meta, []byte(strings.Replace(string(b), `"fragment_hash":"`, `"fragment_hash":"x`, 1)), 0o644)
	os.MkdirAll(filepath.Join(c.Root, "halfway"), 0o755)
	fakeEntry(t, c, "badjson", "6.12.1", "minimal", now)
	os.WriteFile(filepath.Join(c.Root, "badjson", "metadata.json"), []byte("{"), 0o644)

	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, e := range entries {
		status[e.Key] = e.Status + ":" + e.Reason
	}
	want := map[string]string{
		"old": "ok:", "new": "ok:",
		"noimage": "corrupt:image missing (bzImage)",
		"stale":   "stale:built from another version of the minimal fragment",
		"halfway": "corrupt:metadata.json missing (interrupted install?)",
	}
	for k, w := range want {
		if status[k] != w {
			t.Errorf("%s: %q, want %q", k, status[k], w)
		}
	}
	if !strings.HasPrefix(status["badjson"], "corrupt:metadata.json unparseable") {
		t.Errorf("badjson: %q", status["badjson"])
	}
	r := &Resolver{Cache: c, SourceDir: t.TempDir()}
	k, err := r.Resolve(context.Background(), "6.12")
	if err != nil || k.Key != "new" || k.Cache != "hit" {
		t.Fatalf("resolve 6.12 = %+v, %v; want the newest OK entry", k, err)
	}
	if k, err := r.Resolve(context.Background(), "6.12.1"); err != nil || k.Key != "old" {
		t.Errorf("resolve 6.12.1 = %+v, %v", k, err)
	}
	var nb *NotBuiltError
	if _, err := r.Resolve(context.Background(), "6.12.200"); !errors.As(err, &nb) {
		t.Errorf("a corrupt entry was resolved (or a wrong error): %v", err)
	}
	if n, err := r.Newest(); err != nil || n.Key != "new" {
		t.Errorf("Newest = %+v %v", n, err)
	}
}

func TestLockSerialisesBuilders(t *testing.T) {
	c, _ := OpenCache(t.TempDir())
	var inside, maxInside, waited atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := c.Lock(context.Background(), "k", func(int) { waited.Add(1) })
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(50 * time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || waited.Load() == 0 {
		t.Errorf("max %d holders at once, %d waited", maxInside.Load(), waited.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	unlock, _ := c.Lock(context.Background(), "k", nil)
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := c.Lock(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled waiter got %v", err)
	}
	unlock()
}

func TestInstallReplacesAtomically(t *testing.T) {
	c, _ := OpenCache(t.TempDir())
	for i := 0; i < 2; i++ {
		st, err := c.Staging("k")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(st, "v"), []byte(fmt.Sprint(i)), 0o644)
		if err := c.Install(st, "k"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(c.Root, "k", "v"))
		if string(b) != fmt.Sprint(i) {
			t.Errorf("install %d: entry holds %q", i, b)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(c.Root, ".tmp-*")); len(left) > 0 {
		t.Errorf("left over: %v", left)
	}
}

func TestSweepRemovesDeadBuildersLeftovers(t *testing.T) {
	root := t.TempDir()
	dead := filepath.Join(root, ".tmp-key-999999999")
	alive := filepath.Join(root, fmt.Sprintf(".tmp-key-%d", os.Getpid()))
	os.MkdirAll(dead, 0o755)
	os.MkdirAll(alive, 0o755)
	OpenCache(root)
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead builder's staging directory survived")
	}
	if _, err := os.Stat(alive); err != nil {
		t.Error("a live builder's staging directory was removed")
	}
}

func TestMirrorDownload(t *testing.T) {
	tarball := []byte("pretend this is linux-6.12.7.tar.xz")
	sum := sha256.Sum256(tarball)
	sums := fmt.Sprintf("-----BEGIN PGP SIGNED MESSAGE-----\n%s  linux-6.12.7.tar.xz\n%s  linux-6.12.5.tar.xz\n%s  linux-6.12.tar.xz\n%s  linux-6.1.99.tar.xz\n",
		hex.EncodeToString(sum[:]), strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64))
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/v6.x/sha256sums.asc":
			w.Write([]byte(sums))
		case "/v6.x/linux-6.12.7.tar.xz":
			w.Write(tarball)
		case "/v6.x/linux-6.12.5.tar.xz":
			w.Write([]byte("corrupted")) // sha mismatch
		case "/v6.x/linux-6.12.tar.xz":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>portal</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	d := &downloader{mirror: srv.URL, dir: t.TempDir(), client: srv.Client()}
	ctx := context.Background()
	path, got, url, err := d.fetch(ctx, "6.12") // highest patch: 6.12.7
	if err != nil || got != hex.EncodeToString(sum[:]) || !strings.HasSuffix(url, "linux-6.12.7.tar.xz") {
		t.Fatalf("fetch 6.12: %s %s %s %v", path, got, url, err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(tarball) {
		t.Errorf("downloaded %q", b)
	}
	before := hits.Load()
	if _, _, _, err := d.fetch(ctx, "6.12.7"); err != nil || hits.Load() != before+1 {
		t.Errorf("a verified download was fetched again (%d requests): %v", hits.Load()-before, err)
	}
	if _, _, _, err := d.fetch(ctx, "6.12.5"); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("checksum mismatch: %v", err)
	}
	var se *SpecError
	if _, _, _, err := d.fetch(ctx, "6.13"); !errors.As(err, &se) || !strings.Contains(err.Error(), "unknown version") {
		t.Errorf("unknown version: %v", err)
	}
	if parts, _ := filepath.Glob(filepath.Join(d.dir, "*.part*")); len(parts) > 0 {
		t.Errorf("partial downloads left: %v", parts)
	}
	l, _ := parseSums(strings.NewReader(sums))
	if n, _, ok := l.pick("6.1"); !ok || n != "linux-6.1.99.tar.xz" {
		t.Errorf("pick 6.1 = %s", n)
	}
}

func TestHTMLAnswerRejected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html>"))
	}))
	defer srv.Close()
	d := &downloader{mirror: srv.URL, dir: t.TempDir(), client: srv.Client()}
	if err := d.get(context.Background(), srv.URL+"/x.tar.xz", filepath.Join(d.dir, "x")); err == nil || !strings.Contains(err.Error(), "HTML") {
		t.Errorf("HTML answer: %v", err)
	}
}

var sumName = regexp.MustCompile(`^linux-(\d+\.\d+)(?:\.(\d+))?\.tar\.xz$`)

// FuzzParseSums: every entry comes from a line of the input, the listing
// survives a round trip through the sha256sums format, and pick returns the
// highest patch release of a series (checked against every series in the
// listing) or, for any version, an entry that the listing has.
func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("a", 64)+"  linux-6.12.7.tar.xz\n"+strings.Repeat("b", 64)+"  linux-6.12.10.tar.xz\n"+strings.Repeat("c", 64)+"  linux-6.12.tar.xz\n", "6.12")
	f.Add("garbage\n\x00", "6.1")
	f.Add("-----BEGIN PGP SIGNED MESSAGE-----\n"+strings.Repeat("0", 64)+" linux-6.1.tar.xz\n", "6.1.0")
	f.Fuzz(func(t *testing.T, text, version string) {
		l, err := parseSums(strings.NewReader(text))
		if err != nil {
			return
		}
		lines := map[string]bool{}
		for _, line := range strings.Split(text, "\n") {
			lines[strings.Join(strings.Fields(line), " ")] = true
		}
		var b strings.Builder
		for name, sum := range l {
			if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" || !sumName.MatchString(name) {
				t.Fatalf("bad entry %q %q", name, sum)
			}
			if !lines[sum+" "+name] {
				t.Fatalf("entry %s %s is on no line of the input", sum, name)
			}
			fmt.Fprintf(&b, "%s  %s\n", sum, name)
		}
		back, err := parseSums(strings.NewReader(b.String()))
		if err != nil || !maps.Equal(back, l) {
			t.Fatalf("round trip %v → %v, %v", l, back, err)
		}
		// The highest patch release of every series in the listing.
		best := map[string]int{}
		for name := range l {
			m := sumName.FindStringSubmatch(name)
			p, err := strconv.Atoi(m[2])
			if m[2] != "" && err != nil {
				continue // beyond int: pick skips it too
			}
			if cur, ok := best[m[1]]; !ok || p > cur {
				best[m[1]] = p
			}
		}
		for series, patch := range best {
			name, sum, ok := l.pick(series)
			if !ok || l[name] != sum {
				t.Fatalf("pick(%s) = %q %q %v, listing %v", series, name, sum, ok, l)
			}
			m := sumName.FindStringSubmatch(name)
			got, _ := strconv.Atoi(m[2])
			if m[1] != series || got != patch {
				t.Fatalf("pick(%s) = %s, want patch %d", series, name, patch)
			}
		}
		if name, sum, ok := l.pick(version); ok && (l[name] != sum || !strings.HasPrefix(name, "linux-"+version)) {
			t.Fatalf("pick(%q) = %q %q: not a listed release of that version", version, name, sum)
		}
	})
}

func TestKeyOfSources(t *testing.T) {
	k, _ := Key(Source{Record: record.KernelSource{Type: "tarball", SHA256: strings.Repeat("ab", 32)}}, "minimal", nil)
	if !strings.HasPrefix(k, "tarball-abababababab-minimal-x86_64-f") {
		t.Errorf("key %q", k)
	}
	if k, _ := Key(Source{Record: record.KernelSource{Type: "tree", Dirty: true, GitHead: "x"}}, "minimal", nil); k != "" {
		t.Errorf("a dirty tree got a cache key %q", k)
	}
}
