package kernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/internal/fileutil"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Arch is the only architecture built so far.
const Arch = "x86_64"

// SchedulerNames are the kernel tree's sched_ext example schedulers.
var SchedulerNames = []string{"scx_simple", "scx_qmap", "scx_central", "scx_flatcg"}

// Source is something to build: a tarball or a tree, with its identity.
type Source struct {
	Tarball string // path of a tarball to extract, or ""
	Tree    string // path of a tree to build in place, or ""
	Record  record.KernelSource
}

// id is the source identity part of a cache key; "" means never cached.
func (s Source) id() string {
	switch {
	case s.Record.Dirty:
		return ""
	case s.Record.SHA256 != "":
		return s.Record.Type + "-" + s.Record.SHA256[:12]
	case s.Record.GitHead != "":
		return "git-" + s.Record.GitHead[:12]
	}
	return ""
}

// Key is the cache key of building src with profile and an optional extra
// fragment: source identity + profile + arch + fragment hash (+ "-x" and
// the extra fragment's hash). "" when src is not cacheable.
func Key(src Source, profile string, extra *Extra) (string, error) {
	fh, err := FragmentHash(profile)
	if err != nil {
		return "", err
	}
	id := src.id()
	if id == "" {
		return "", nil
	}
	key := fmt.Sprintf("%s-%s-%s-f%s", id, profile, Arch, fh)
	if extra != nil {
		key += "-x" + extra.Hash()
	}
	return key, nil
}

// BuildOptions control a build.
type BuildOptions struct {
	Profile string
	// Extra is a fragment merged after the profile's (nil: none).
	Extra *Extra
	// KeepTree keeps an extracted tarball's build tree (under ROOT/.trees,
	// one per source and profile) for the next build of that source, which
	// then only rebuilds what its config changes: a second entry that
	// differs by a small --fragment takes about a minute, not a full
	// build. A kept tree is reused whether or not KeepTree is set again.
	KeepTree bool
	// Jobs is make's -j; 0 means the host's CPUs.
	Jobs int
	// Force rebuilds even on a cache hit.
	Force bool
	// NoSchedulers skips tools/sched_ext.
	NoSchedulers bool
	// Progress receives human progress text; TTY makes it a live line.
	Progress io.Writer
	TTY      bool
}

// BuildError is a failed build step, with the tail of its log.
type BuildError struct {
	Step    string
	Log     string
	Tail    []string
	Err     error
	Missing []Mismatch
	Hint    string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed: %v", e.Step, e.Err)
	if len(e.Missing) > 0 {
		var names []string
		for _, m := range e.Missing {
			names = append(names, m.String())
		}
		fmt.Fprintf(&b, "; options not as required: %s", strings.Join(names, ", "))
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; hint: %s", e.Hint)
	}
	if e.Log != "" {
		fmt.Fprintf(&b, " (log: %s)", e.Log)
	}
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// builder carries one build's state.
type builder struct {
	c        *Cache
	opts     BuildOptions
	src      Source
	key      string
	log      *os.File
	logPath  string
	progress *progress
	// reused: the build ran in a kept tree, so its object count is no
	// estimate of a full build's.
	reused bool
}

// Build builds src (or returns the cached entry) and returns its record.
// Concurrent builders of one key build once: the others wait for the lock
// and get the entry. On any failure or cancellation nothing is installed and
// the staging and build directories are removed.
func (c *Cache) Build(ctx context.Context, src Source, opts BuildOptions) (*record.Kernel, error) {
	if opts.Profile == "" {
		opts.Profile = DefaultProfile
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtimeCPUs()
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	key, err := Key(src, opts.Profile, opts.Extra)
	if err != nil {
		return nil, err
	}
	if src.Tree != "" && opts.Extra != nil {
		return nil, &SpecError{src.Tree, errTreeFragment}
	}
	b := &builder{c: c, opts: opts, src: src, key: key}
	if key == "" {
		return b.buildInPlace(ctx)
	}
	unlock, err := c.Lock(ctx, key, func(holder int) {
		fmt.Fprintf(opts.Progress, "ktstr-kernel: waiting for another build of %s (pid %d)\n", key, holder)
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
	if e := c.Get(key); e.Status == StatusOK && !opts.Force {
		return e.Record("hit"), nil
	}
	return b.buildEntry(ctx)
}

func (b *builder) openLog(name string) error {
	b.logPath = filepath.Join(b.c.Root, ".logs", fmt.Sprintf("%s-%s.log", name, time.Now().Format("20060102-150405")))
	f, err := os.Create(b.logPath)
	if err != nil {
		return fmt.Errorf("build log: %w", err)
	}
	b.log = f
	return nil
}

func (b *builder) buildEntry(ctx context.Context) (*record.Kernel, error) {
	start := time.Now()
	if err := b.openLog(b.key); err != nil {
		return nil, err
	}
	defer b.log.Close()
	staging, err := b.c.Staging(b.key)
	if err != nil {
		return nil, err
	}
	installed := false
	defer func() {
		if !installed {
			os.RemoveAll(staging)
		}
	}()

	tree := b.src.Tree
	if b.src.Tarball != "" {
		var release func()
		if tree, release, err = b.tarballTree(ctx); err != nil {
			return nil, err
		}
		defer release()
	}
	meta, err := b.compile(ctx, tree)
	if err != nil {
		return nil, err
	}
	if b.reused {
		meta.Objects = 0
	}
	if err := b.collect(ctx, tree, staging, meta); err != nil {
		return nil, err
	}
	meta.Key = b.key
	meta.BuildSeconds = time.Since(start).Seconds()
	meta.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, err
	}
	// metadata.json last: its presence marks a complete entry.
	if err := os.WriteFile(filepath.Join(staging, "metadata.json"), data, 0o644); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.c.Install(staging, b.key); err != nil {
		return nil, err
	}
	installed = true
	b.say("built %s in %s", b.key, time.Since(start).Round(time.Second))
	e := b.c.Get(b.key)
	if e.Status != StatusOK {
		return nil, fmt.Errorf("installed entry %s is %s: %s", b.key, e.Status, e.Reason)
	}
	return e.Record("built"), nil
}

// buildInPlace builds a dirty or non-git tree where it is; nothing is cached.
func (b *builder) buildInPlace(ctx context.Context) (*record.Kernel, error) {
	if b.src.Tree == "" {
		return nil, errors.New("internal: uncacheable source without a tree")
	}
	if err := b.openLog("tree-" + filepath.Base(b.src.Tree)); err != nil {
		return nil, err
	}
	defer b.log.Close()
	meta, err := b.compile(ctx, b.src.Tree)
	if err != nil {
		return nil, err
	}
	patching := meta.RuntimeCodePatching
	r := &record.Kernel{
		Version: meta.Version, Image: filepath.Join(b.src.Tree, "arch/x86/boot/bzImage"),
		Vmlinux: filepath.Join(b.src.Tree, "vmlinux"), Config: filepath.Join(b.src.Tree, ".config"),
		Profile: meta.Profile, Arch: Arch, SchedExt: meta.SchedExt, RuntimeCodePatching: &patching,
		Source: b.src.Record, Cache: "uncached", FragmentHash: meta.FragmentHash, Fragment: meta.Extra,
	}
	r.Label = Label(r)
	if !b.opts.NoSchedulers {
		r.Schedulers = map[string]string{}
		for _, name := range SchedulerNames {
			r.Schedulers[name] = filepath.Join(b.src.Tree, "tools/sched_ext/build/bin", name)
		}
	}
	return r, nil
}

func (b *builder) say(format string, args ...any) {
	if b.progress != nil {
		b.progress.clear()
	}
	fmt.Fprintf(b.opts.Progress, "ktstr-kernel: "+format+"\n", args...)
}

// keptTree is where the build tree of src in profile is kept (KeepTree):
// one per source and profile, whatever the extra fragment; "" for a source
// that is never cached.
func (c *Cache) keptTree(src Source, profile string) string {
	if src.id() == "" {
		return ""
	}
	return filepath.Join(c.Root, ".trees", fmt.Sprintf("%s-%s-%s", src.id(), profile, Arch))
}

// treeMarker marks a kept tree whose extraction completed.
const treeMarker = ".ktstr-extracted"

// tarballTree is the tree a tarball is built in: the kept tree of its
// source and profile when there is one or KeepTree asks for one (held under
// a lock while this build uses it), else a fresh extraction removed after
// the build. release gives the tree back.
func (b *builder) tarballTree(ctx context.Context) (tree string, release func(), err error) {
	kept := b.c.keptTree(b.src, b.opts.Profile)
	name := filepath.Base(kept)
	_, statErr := os.Stat(filepath.Join(kept, treeMarker))
	if !b.opts.KeepTree && statErr != nil {
		tree = filepath.Join(b.c.Root, ".build", fmt.Sprintf("%s-%d", b.key, os.Getpid()))
		if err := b.extract(ctx, tree); err != nil {
			os.RemoveAll(tree)
			return "", nil, err
		}
		return tree, func() { os.RemoveAll(tree) }, nil
	}
	unlock, err := b.c.Lock(ctx, "tree-"+name, func(holder int) {
		b.say("waiting for another build in the kept tree %s (pid %d)", kept, holder)
	})
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(filepath.Join(kept, treeMarker)); err == nil {
		// A fresh .config from the profile's base: kbuild then rebuilds
		// only what the options that differ from the last build touch.
		b.say("reusing the kept build tree %s", kept)
		if err := os.Remove(filepath.Join(kept, ".config")); err != nil && !errors.Is(err, os.ErrNotExist) {
			unlock()
			return "", nil, fmt.Errorf("kept tree: %w", err)
		}
		b.reused = true
		return kept, unlock, nil
	}
	os.RemoveAll(kept) // an interrupted extraction
	if err := b.extract(ctx, kept); err != nil {
		os.RemoveAll(kept)
		unlock()
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(kept, treeMarker), nil, 0o644); err != nil {
		unlock()
		return "", nil, fmt.Errorf("kept tree: %w", err)
	}
	b.say("keeping the build tree %s for later builds of this source (ktstr-kernel clean --all removes it)", kept)
	return kept, unlock, nil
}

func (b *builder) extract(ctx context.Context, dir string) error {
	b.say("extracting %s", b.src.Tarball)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := b.run(ctx, "extract", "", nil, "tar", "-xf", b.src.Tarball, "-C", dir, "--strip-components=1"); err != nil {
		return err
	}
	if err := checkTree(dir); err != nil {
		return &SpecError{b.src.Tarball, "tarball is not a Linux kernel source: " + err.Error()}
	}
	return nil
}

// compile configures and builds tree, and the schedulers unless disabled.
func (b *builder) compile(ctx context.Context, tree string) (*Metadata, error) {
	version, err := TreeVersion(tree)
	if err != nil {
		return nil, &SpecError{tree, "not a Linux source tree: " + err.Error()}
	}
	fragment, err := Fragment(b.opts.Profile)
	if err != nil {
		return nil, err
	}
	if b.opts.Extra != nil {
		fragment += "\n# --fragment " + b.opts.Extra.Name + "\n" + b.opts.Extra.Text
	}
	fh, _ := FragmentHash(b.opts.Profile)
	cfg, err := b.configure(ctx, tree, fragment)
	if err != nil {
		return nil, err
	}
	b.say("building %s (%s profile) with make -j%d; log: %s", version, b.opts.Profile, b.opts.Jobs, b.logPath)
	b.progress = newProgress(b.opts.Progress, b.opts.TTY, b.estimateObjects(), version)
	err = b.run(ctx, "kernel build", tree, b.progress, "make", "ARCH=x86_64", fmt.Sprintf("-j%d", b.opts.Jobs), "bzImage")
	objects := b.progress.done()
	b.progress = nil
	if err != nil {
		return nil, err
	}
	if !b.opts.NoSchedulers {
		b.say("building sched_ext schedulers (%s)", strings.Join(SchedulerNames, ", "))
		args := append([]string{"-C", "tools/sched_ext", fmt.Sprintf("-j%d", b.opts.Jobs)}, clangArgs()...)
		args = append(args, SchedulerNames...)
		if err := b.run(ctx, "sched_ext schedulers build", tree, nil, "make", args...); err != nil {
			var be *BuildError
			if errors.As(err, &be) {
				be.Hint = "needs clang-19, llvm-19, libelf-dev and zlib1g-dev (scripts/install-deps.sh)"
			}
			return nil, err
		}
	}
	// The release the kernel reports (uname -r), with a fragment's
	// CONFIG_LOCALVERSION, is the version; the Makefile's if kbuild left
	// none.
	if rel, err := os.ReadFile(filepath.Join(tree, "include/config/kernel.release")); err == nil && len(bytes.TrimSpace(rel)) > 0 {
		version = string(bytes.TrimSpace(rel))
	}
	cfgText, _ := os.ReadFile(filepath.Join(tree, ".config"))
	sum := sha256.Sum256(cfgText)
	m := &Metadata{
		Schema: MetadataSchema, Version: version, Profile: b.opts.Profile, Arch: Arch, Source: b.src.Record,
		FragmentHash: fh, ConfigHash: hex.EncodeToString(sum[:8]), SchedExt: cfg.Enabled("SCHED_CLASS_EXT"),
		RuntimeCodePatching: cfg.PatchesCodeAtRuntime(), Tools: toolVersions(), Objects: objects,
	}
	if x := b.opts.Extra; x != nil {
		m.Extra, m.ExtraHash = x.Name, x.Hash()
	}
	return m, nil
}

// configure makes tree's .config satisfy fragment. A tree that already has a
// satisfying .config keeps it (a developer's own config is respected);
// otherwise the profile's base config is generated and the fragment merged.
func (b *builder) configure(ctx context.Context, tree, fragment string) (Config, error) {
	cfgPath := filepath.Join(tree, ".config")
	if cfg, err := readConfig(cfgPath); err == nil && len(cfg.Check(fragment)) == 0 {
		b.say("keeping the tree's .config: it satisfies the %s fragment", b.opts.Profile)
		return cfg, nil
	} else if err != nil {
		b.say("configuring: %s base + fragment", b.opts.Profile)
		base := [][]string{{"tinyconfig"}}
		if b.opts.Profile == "defconfig" {
			base = [][]string{{"defconfig"}, {"kvm_guest.config"}}
		}
		for _, target := range base {
			if err := b.run(ctx, "configure", tree, nil, "make", append([]string{"ARCH=x86_64"}, target...)...); err != nil {
				return nil, err
			}
		}
	} else {
		b.say("merging the %s fragment into the tree's .config", b.opts.Profile)
	}
	// Merge twice: options whose dependencies arrive in the same merge only
	// become settable on the second pass.
	var cfg Config
	for pass := 0; pass < 2; pass++ {
		if err := fileutil.WriteExisting(cfgPath, "\n"+fragment, true); err != nil {
			return nil, err
		}
		if err := b.run(ctx, "configure", tree, nil, "make", "ARCH=x86_64", "olddefconfig"); err != nil {
			return nil, err
		}
		var err error
		if cfg, err = readConfig(cfgPath); err != nil {
			return nil, err
		}
		if len(cfg.Check(fragment)) == 0 {
			return cfg, nil
		}
	}
	missing := cfg.Check(fragment)
	return nil, &BuildError{Step: "configure", Log: b.logPath, Err: fmt.Errorf("%d required option(s) could not be set", len(missing)),
		Missing: missing, Hint: missingToolHint(missing)}
}

// collect copies the build's products into the staging directory.
func (b *builder) collect(ctx context.Context, tree, staging string, m *Metadata) error {
	m.Image, m.Vmlinux, m.Config = "bzImage", "vmlinux", "config"
	m.Sizes = map[string]int64{}
	copies := map[string]string{"arch/x86/boot/bzImage": m.Image, ".config": m.Config}
	for from, to := range copies {
		if err := fileutil.Copy(filepath.Join(tree, from), filepath.Join(staging, to)); err != nil {
			return fmt.Errorf("collect %s: %w", from, err)
		}
	}
	// DWARF is most of vmlinux; symbols and .BTF are what later stages need.
	if err := b.run(ctx, "strip vmlinux", tree, nil, "objcopy", "--strip-debug", "vmlinux", filepath.Join(staging, m.Vmlinux)); err != nil {
		return err
	}
	if !b.opts.NoSchedulers {
		m.Schedulers = map[string]string{}
		if err := os.MkdirAll(filepath.Join(staging, "sched"), 0o755); err != nil {
			return err
		}
		for _, name := range SchedulerNames {
			rel := filepath.Join("sched", name)
			if err := fileutil.Copy(filepath.Join(tree, "tools/sched_ext/build/bin", name), filepath.Join(staging, rel)); err != nil {
				return fmt.Errorf("collect scheduler %s: %w", name, err)
			}
			os.Chmod(filepath.Join(staging, rel), 0o755)
			m.Schedulers[name] = rel
		}
	}
	if x := b.opts.Extra; x != nil {
		m.ExtraFile = "extra.config"
		if err := os.WriteFile(filepath.Join(staging, m.ExtraFile), []byte(x.Text), 0o644); err != nil {
			return fmt.Errorf("collect the extra fragment: %w", err)
		}
	}
	for _, rel := range []string{m.Image, m.Vmlinux, m.Config} {
		if st, err := os.Stat(filepath.Join(staging, rel)); err == nil {
			m.Sizes[rel] = st.Size()
		}
	}
	b.log.Sync()
	return fileutil.Copy(b.logPath, filepath.Join(staging, "build.log"))
}

// estimateObjects is the object count of the newest entry of the same
// profile, or a default measured on 6.12.
func (b *builder) estimateObjects() int {
	entries, _ := b.c.List()
	for _, e := range entries {
		if e.Meta != nil && e.Meta.Profile == b.opts.Profile && e.Meta.Objects > 0 {
			return e.Meta.Objects
		}
	}
	if b.opts.Profile == "defconfig" {
		return 4300
	}
	return 1900
}

// run runs a command in dir with its output going to the build log (and
// through lines, if given). Cancelling ctx kills the whole process group.
// A failure returns a BuildError with the last 40 log lines.
func (b *builder) run(ctx context.Context, step, dir string, lines lineSink, name string, args ...string) error {
	fmt.Fprintf(b.log, "\n$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out io.Writer = b.log
	var pw *io.PipeWriter
	var wg sync.WaitGroup
	if lines != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		out = io.MultiWriter(b.log, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				lines.line(sc.Text())
			}
			io.Copy(io.Discard, pr)
		}()
	}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if pw != nil {
		pw.Close()
		wg.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		b.log.Sync()
		return &BuildError{Step: step, Log: b.logPath, Tail: tailLines(b.logPath, 40), Err: err}
	}
	return nil
}

// clangArgs selects clang-19 (the version the schedulers are tested with)
// when installed with its LLVM tools, else the default clang. LLVM=-19
// names every tool with the suffix, and clang-19 alone (Debian's clang-19
// does not pull in llvm-19) fails at llvm-ar-19 while linking libbpf.
func clangArgs() []string {
	for _, tool := range []string{"clang-19", "llvm-ar-19"} {
		if _, err := exec.LookPath(tool); err != nil {
			return []string{"LLVM=1"}
		}
	}
	return []string{"LLVM=-19"}
}

func toolVersions() map[string]string {
	out := map[string]string{}
	for _, t := range [][]string{{"gcc", "--version"}, {"make", "--version"}, {"pahole", "--version"}, {"clang-19", "--version"}} {
		b, err := exec.Command(t[0], t[1:]...).Output()
		if err == nil {
			out[t[0]] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		}
	}
	return out
}

func readConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseConfig(f)
}

// tailLines returns the last n lines of a file.
func tailLines(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return slices.Clone(lines)
}
