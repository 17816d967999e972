package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Resolver turns SPECs into kernel records.
type Resolver struct {
	Cache *Cache
	// Mirror is the download base (DefaultMirror when empty).
	Mirror string
	// SourceDir holds Debian's linux-source-X.Y.tar.xz ("/usr/src").
	SourceDir string
	// Build builds on a cache miss; without it a miss is an error that says
	// how to build.
	Build bool
	BuildOptions
	HTTPClient *http.Client
	// Keyring checks the signature of the mirror's sha256sums.asc
	// (default: $KTSTR_KERNEL_KEYRING; none: not checked, and said so).
	Keyring string
}

// downloadLock serialises the processes that download one tarball: they
// resume the same .part file.
func (r *Resolver) downloadLock(ctx context.Context, name string) (func(), error) {
	return r.Cache.Lock(ctx, "download-"+name, func(holder int) {
		if r.Progress != nil {
			fmt.Fprintf(r.Progress, "ktstr-kernel: waiting for process %d, which downloads %s\n", holder, name)
		}
	})
}

// NotBuiltError is a resolvable kernel that is not built yet.
type NotBuiltError struct{ Spec, Profile string }

func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("kernel %q (%s profile) is not built yet; run: ktstr-kernel build %s", e.Spec, e.Profile, e.Spec)
}

// Resolve returns the kernel record for text: a cache entry's key or label
// (kernel_6_12_117), else one of ParseSpec's forms. A cache entry named by
// key or label is built already: Extra and Force, which say how to build a
// source, are refused with it (a *SpecError naming its source), as Extra
// is with a source tree (built in place: the fragment would stay in the
// tree's .config). KeepTree on a cache hit keeps nothing: Progress is told
// so, with the command that would.
func (r *Resolver) Resolve(ctx context.Context, text string) (*record.Kernel, error) {
	k, err := r.resolve(ctx, text)
	if err == nil && r.KeepTree && k.Cache == "hit" {
		r.noteNoTree(text, k)
	}
	return k, err
}

func (r *Resolver) resolve(ctx context.Context, text string) (*record.Kernel, error) {
	if r.Profile == "" {
		r.Profile = DefaultProfile
	}
	if _, err := Fragment(r.Profile); err != nil {
		return nil, err
	}
	e, err := r.entryNamed(text)
	if err != nil {
		return nil, err
	}
	if e != nil {
		switch {
		case r.Extra != nil:
			return nil, &SpecError{text, fmt.Sprintf("--fragment builds a source, and this names the built cache entry %s; build its source with the fragment: ktstr-kernel build %s --fragment %s",
				e.Key, sourceSpec(e, false), r.Extra.Name+".config")}
		case r.Force:
			return nil, &SpecError{text, fmt.Sprintf("--force rebuilds a source, and this names the cache entry %s; rebuild its source: ktstr-kernel build %s --force",
				e.Key, sourceSpec(e, true))}
		}
		return e.Record("hit"), nil
	}
	spec, err := ParseSpec(text)
	if err != nil {
		return nil, err
	}
	switch spec.Type {
	case SpecImage:
		return imageRecord(spec.Path)
	case SpecTree:
		if r.Extra != nil {
			return nil, &SpecError{text, errTreeFragment}
		}
		return r.fromSource(ctx, text, treeSource(ctx, spec.Path))
	case SpecTarball:
		sum, err := r.Cache.SourceSHA256(spec.Path)
		if err != nil {
			return nil, err
		}
		return r.fromSource(ctx, text, Source{Tarball: spec.Path, Record: record.KernelSource{Type: "tarball", Path: spec.Path, SHA256: sum}})
	default:
		return r.fromVersion(ctx, text, spec.Version)
	}
}

// errTreeFragment is why --fragment is refused with a source tree.
const errTreeFragment = "--fragment cannot build a source tree: a tree is built in place, so the fragment would stay in its .config " +
	"and in every later build of it; set the options in the tree's .config (make menuconfig), or build a tarball of it " +
	"with the fragment (git archive --prefix=linux/ -o linux.tar.gz HEAD)"

// entryNamed finds the cache entry text names by its key or its label (the
// newest of that label), when text is not a file here. Neither: nil, nil.
func (r *Resolver) entryNamed(text string) (*Entry, error) {
	if text == "" || strings.Contains(text, "/") {
		return nil, nil
	}
	if _, err := os.Stat(text); err == nil {
		return nil, nil
	}
	if e := r.Cache.Get(text); e.Status == StatusOK {
		return &e, nil
	}
	if !LabelRE.MatchString(text) {
		return nil, nil
	}
	entries, err := r.Cache.List()
	if err != nil {
		return nil, err
	}
	var labels []string
	for i, e := range entries {
		if e.Status != StatusOK {
			continue
		}
		k := e.Record("hit")
		if k.Label == text {
			return &entries[i], nil
		}
		labels = append(labels, k.Label)
	}
	return nil, &SpecError{text, fmt.Sprintf("no usable cache entry has this label (labels: %s; ktstr-kernel list)", strings.Join(labels, ", "))}
}

// sourceSpec is the ktstr-kernel build arguments that build e again: its
// source's path (a tree, a tarball, a download), its profile and, with
// withExtra, its extra fragment (the copy kept in the entry).
func sourceSpec(e *Entry, withExtra bool) string {
	m := e.Meta
	spec := m.Source.Path
	if spec == "" {
		spec = m.Version
	}
	if m.Profile != "" && m.Profile != DefaultProfile {
		spec += " --profile " + m.Profile
	}
	if withExtra && m.ExtraFile != "" {
		spec += " --fragment " + filepath.Join(e.Dir, m.ExtraFile)
	}
	return spec
}

// noteNoTree tells Progress that KeepTree kept nothing: k came from the
// cache, and a tree is only kept when a tarball is built. Nothing is said
// when the tree of k's source is kept already.
func (r *Resolver) noteNoTree(text string, k *record.Kernel) {
	if r.Progress == nil {
		return
	}
	if dir := r.Cache.keptTree(Source{Record: k.Source}, k.Profile); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, treeMarker)); err == nil {
			return
		}
	}
	again := text + " --force"
	if e, err := r.entryNamed(text); err == nil && e != nil {
		again = sourceSpec(e, true) + " --force"
	} else if r.Extra != nil {
		again += " --fragment " + r.Extra.Name + ".config"
	}
	fmt.Fprintf(r.Progress, "ktstr-kernel: %s is cached without its build tree; --keep-tree keeps the tree of a new build only: ktstr-kernel build %s --keep-tree\n", text, again)
}

func (r *Resolver) fromSource(ctx context.Context, text string, src Source) (*record.Kernel, error) {
	key, err := Key(src, r.Profile, r.Extra)
	if err != nil {
		return nil, err
	}
	if key != "" && !r.Force {
		if e := r.Cache.Get(key); e.Status == StatusOK {
			return e.Record("hit"), nil
		}
	}
	if !r.Build {
		return nil, &NotBuiltError{text, r.Profile}
	}
	opts := r.BuildOptions
	opts.Profile = r.Profile
	return r.Cache.Build(ctx, src, opts)
}

// fromVersion finds a version: a cache entry first, then Debian's source
// package, then the mirror.
func (r *Resolver) fromVersion(ctx context.Context, text, version string) (*record.Kernel, error) {
	if !r.Force {
		if e := r.newestEntry(version); e != nil {
			return e.Record("hit"), nil
		}
	}
	majorMinor := strings.Join(strings.SplitN(version, ".", 3)[:2], ".")
	srcDir := r.SourceDir
	if srcDir == "" {
		srcDir = "/usr/src"
	}
	debian := filepath.Join(srcDir, "linux-source-"+majorMinor+".tar.xz")
	if _, err := os.Stat(debian); err == nil {
		k, err := r.resolve(ctx, debian)
		if err != nil {
			return nil, err
		}
		if !versionMatches(k.Version, version) {
			return nil, &SpecError{text, fmt.Sprintf("%s holds %s, not %s", debian, k.Version, version)}
		}
		return k, nil
	}
	if !r.Build {
		return nil, &NotBuiltError{text, r.Profile}
	}
	client := r.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	mirror := r.Mirror
	if mirror == "" {
		mirror = DefaultMirror
	}
	keyring := r.Keyring
	if keyring == "" {
		keyring = os.Getenv(KeyringEnv)
	}
	d := &downloader{mirror: mirror, dir: filepath.Join(r.Cache.Root, ".downloads"), client: client, progress: r.Progress, tty: r.TTY,
		keyring: keyring, lock: r.downloadLock}
	path, sum, url, err := d.fetch(ctx, version)
	if err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &SpecError{text, fmt.Sprintf("unknown version: not in the cache, %s is not installed, and the mirror failed: %v", debian, err)}
	}
	return r.fromSource(ctx, text, Source{Tarball: path, Record: record.KernelSource{Type: "download", Path: path, URL: url, SHA256: sum}})
}

// newestEntry is the newest OK entry of the resolver's profile and extra
// fragment whose version is version or a patch release of it.
func (r *Resolver) newestEntry(version string) *Entry {
	entries, err := r.Cache.List()
	if err != nil {
		return nil
	}
	for i, e := range entries {
		if e.Status != StatusOK || e.Meta.Profile != r.Profile || e.Meta.ExtraHash != r.Extra.Hash() {
			continue
		}
		if versionMatches(e.Meta.Version, version) {
			return &entries[i]
		}
	}
	return nil
}

// versionMatches reports whether release have is version want, a patch
// release of it, or either with a local version (6.12.117-variant).
func versionMatches(have, want string) bool {
	return have == want || strings.HasPrefix(have, want+".") || strings.HasPrefix(have, want+"-")
}

// Newest is the newest OK sched_ext entry of the profile (and extra
// fragment: none unless set), for tools that default to "the kernel you
// built last".
func (r *Resolver) Newest() (*record.Kernel, error) {
	entries, err := r.Cache.List()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Status == StatusOK && e.Meta.SchedExt && (r.Profile == "" || e.Meta.Profile == r.Profile) && e.Meta.ExtraHash == r.Extra.Hash() {
			return e.Record("hit"), nil
		}
	}
	return nil, errors.New("no sched_ext kernel in the cache; build one with: ktstr-kernel build 6.12 (needs linux-source-6.12: scripts/install-deps.sh)")
}

// treeSource identifies a source tree: its git HEAD when clean, else dirty.
func treeSource(ctx context.Context, dir string) Source {
	src := Source{Tree: dir, Record: record.KernelSource{Type: "tree", Path: dir, Dirty: true}}
	head, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return src
	}
	status, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil || len(strings.TrimSpace(string(status))) > 0 {
		src.Record.GitHead = strings.TrimSpace(string(head))
		return src
	}
	src.Record.GitHead = strings.TrimSpace(string(head))
	src.Record.Dirty = false
	return src
}

// imageRecord describes a prebuilt bzImage. Its config is looked for next to
// it ("config", ".config"), at the top of the build tree it sits in, and in
// /boot; without one, sched_ext is reported false and runtime code patching
// unknown.
func imageRecord(path string) (*record.Kernel, error) {
	version, err := ImageVersion(path)
	if err != nil {
		return nil, &SpecError{path, err.Error()}
	}
	k := &record.Kernel{Version: version, Image: path, Arch: Arch, Cache: "uncached", Source: record.KernelSource{Type: "image", Path: path}}
	k.Label = Label(k)
	dir := filepath.Dir(path)
	for _, c := range []string{filepath.Join(dir, "config"), filepath.Join(dir, ".config"), filepath.Join(dir, "../../../.config"), "/boot/config-" + version} {
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		cfg, err := ParseConfig(f)
		f.Close()
		if err != nil {
			continue
		}
		k.Config = filepath.Clean(c)
		k.SchedExt = cfg.Enabled("SCHED_CLASS_EXT")
		patching := cfg.PatchesCodeAtRuntime()
		k.RuntimeCodePatching = &patching
		break
	}
	for _, v := range []string{filepath.Join(dir, "vmlinux"), filepath.Join(dir, "../../../vmlinux")} {
		if _, err := os.Stat(v); err == nil {
			k.Vmlinux = filepath.Clean(v)
			break
		}
	}
	return k, nil
}
