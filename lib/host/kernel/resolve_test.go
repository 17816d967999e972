package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func loadExtra(t *testing.T, name, text string) *Extra {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	os.WriteFile(path, []byte(text), 0o644)
	x, err := LoadExtra(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestFragmentRefusedForASourceTree: a tree is built in place, so an extra
// fragment merged into its .config would stay there for every later build
// of the tree: refused before anything runs, the tree untouched.
func TestFragmentRefusedForASourceTree(t *testing.T) {
	for _, tool := range []string{"make", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("needs " + tool)
		}
	}
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(t.TempDir(), "linux")
	for _, d := range []string{"arch/x86", "kernel/sched"} {
		os.MkdirAll(filepath.Join(tree, d), 0o755)
	}
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte(fakeKernelMakefile), 0o644)
	os.WriteFile(filepath.Join(tree, "Kconfig"), []byte("# fake\n"), 0o644)
	x := loadExtra(t, "variant.config", "CONFIG_LOCALVERSION=\"-variant\"\n")
	var progress bytes.Buffer
	r := &Resolver{Cache: c, Build: true, BuildOptions: BuildOptions{Jobs: 1, NoSchedulers: true, Extra: x, Progress: &progress}}
	k, err := r.Resolve(context.Background(), tree)
	var se *SpecError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "--fragment cannot build a source tree") {
		t.Errorf("--fragment with a tree: %+v, %v; want a SpecError", k, err)
	}
	if _, err := os.Stat(filepath.Join(tree, ".config")); err == nil {
		t.Error("the tree's .config was written")
	}
	if _, err := c.Build(context.Background(), treeSource(context.Background(), tree), r.BuildOptions); !errors.As(err, &se) {
		t.Errorf("Build of a tree with an extra fragment: %v", err)
	}
	// Without a fragment the tree builds (in place, uncached).
	r.Extra = nil
	if k, err := r.Resolve(context.Background(), tree); err != nil || k.Cache != "uncached" {
		t.Errorf("tree without --fragment: %+v, %v\n%s", k, err, progress.String())
	}
}

// withSource gives the fake entry key a tarball source.
func withSource(t *testing.T, c *Cache, key string, src record.KernelSource) {
	t.Helper()
	path := filepath.Join(c.Root, key, "metadata.json")
	b, _ := os.ReadFile(path)
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.Source = src
	b, _ = json.Marshal(m)
	os.WriteFile(path, b, 0o644)
}

// TestEntryNamedRefusesBuildFlags: a cache entry named by key or label is
// built already; --fragment and --force, which say how to build a source,
// are refused with the command that builds its source, not ignored.
func TestEntryNamedRefusesBuildFlags(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fakeEntry(t, c, "k1", "6.12.117", "minimal", time.Now())
	withSource(t, c, "k1", record.KernelSource{Type: "tarball", Path: "/src/linux-6.12.tar.xz", SHA256: strings.Repeat("a", 64)})
	ctx := context.Background()
	for _, spec := range []string{"k1", "kernel_6_12_117"} {
		r := &Resolver{Cache: c, SourceDir: t.TempDir()}
		if k, err := r.Resolve(ctx, spec); err != nil || k.Key != "k1" {
			t.Fatalf("%s: %+v, %v", spec, k, err)
		}
		r.Extra = loadExtra(t, "preempt.config", "CONFIG_PREEMPT=y\n")
		var se *SpecError
		if k, err := r.Resolve(ctx, spec); !errors.As(err, &se) || !strings.Contains(err.Error(), "--fragment builds a source") ||
			!strings.Contains(err.Error(), "ktstr-kernel build /src/linux-6.12.tar.xz --fragment preempt.config") {
			t.Errorf("%s --fragment: %+v, %v; want a SpecError naming the source", spec, k, err)
		}
		r.Extra, r.Force = nil, true
		if k, err := r.Resolve(ctx, spec); !errors.As(err, &se) || !strings.Contains(err.Error(), "ktstr-kernel build /src/linux-6.12.tar.xz --force") {
			t.Errorf("%s --force: %+v, %v; want a SpecError naming the source", spec, k, err)
		}
	}
}

// TestKeepTreeOnACacheHitSaysSo: --keep-tree keeps the tree of a build;
// on a cache hit nothing is built, and Progress says so with the command
// that keeps a tree — unless the source's tree is kept already.
func TestKeepTreeOnACacheHitSaysSo(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fakeEntry(t, c, "k1", "6.12.117", "minimal", time.Now())
	src := record.KernelSource{Type: "tarball", Path: "/src/linux-6.12.tar.xz", SHA256: strings.Repeat("a", 64)}
	withSource(t, c, "k1", src)
	var progress bytes.Buffer
	r := &Resolver{Cache: c, SourceDir: t.TempDir(), BuildOptions: BuildOptions{KeepTree: true, Progress: &progress}}
	if k, err := r.Resolve(context.Background(), "6.12"); err != nil || k.Cache != "hit" {
		t.Fatalf("resolve 6.12: %+v, %v", k, err)
	}
	want := "6.12 is cached without its build tree; --keep-tree keeps the tree of a new build only: ktstr-kernel build 6.12 --force --keep-tree"
	if !strings.Contains(progress.String(), want) {
		t.Errorf("progress %q; want %q", progress.String(), want)
	}
	progress.Reset()
	if _, err := r.Resolve(context.Background(), "kernel_6_12_117"); err != nil ||
		!strings.Contains(progress.String(), "ktstr-kernel build /src/linux-6.12.tar.xz --force --keep-tree") {
		t.Errorf("by label: %v; progress %q", err, progress.String())
	}
	// The tree is kept already: nothing to say.
	kept := c.keptTree(Source{Record: src}, "minimal")
	os.MkdirAll(kept, 0o755)
	os.WriteFile(filepath.Join(kept, treeMarker), nil, 0o644)
	progress.Reset()
	if _, err := r.Resolve(context.Background(), "6.12"); err != nil || progress.Len() != 0 {
		t.Errorf("with a kept tree: %v; progress %q", err, progress.String())
	}
	// Without --keep-tree: nothing to say.
	os.RemoveAll(kept)
	r.KeepTree = false
	if _, err := r.Resolve(context.Background(), "6.12"); err != nil || progress.Len() != 0 {
		t.Errorf("without --keep-tree: %v; progress %q", err, progress.String())
	}
}
