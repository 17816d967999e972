package kernel

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// fakeKernelMakefile stands in for kbuild: tinyconfig writes a base
// .config, olddefconfig keeps what the fragment merge appended, bzImage
// "compiles" (a line in calls.log per call, so a test sees what ran in
// which tree) and writes the release with CONFIG_LOCALVERSION, an image
// and an ELF vmlinux.
const fakeKernelMakefile = `VERSION = 1
PATCHLEVEL = 2
SUBLEVEL = 3
EXTRAVERSION =
tinyconfig:
	printf 'CONFIG_BASE=y\n' > .config
	echo tinyconfig >> calls.log
olddefconfig:
	echo olddefconfig >> calls.log
bzImage:
	mkdir -p arch/x86/boot include/config
	lv=$$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$$/\1/p' .config | tail -n 1); echo "1.2.3$$lv" > include/config/kernel.release
	echo bzImage >> calls.log
	cp /bin/true vmlinux
	echo image > arch/x86/boot/bzImage
`

// fakeKernelTarball is a tarball ktstr-kernel takes for a kernel source.
func fakeKernelTarball(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "linux-1.2.3")
	for _, d := range []string{"arch/x86", "kernel/sched"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "Makefile"), []byte(fakeKernelMakefile), 0o644)
	os.WriteFile(filepath.Join(src, "Kconfig"), []byte("# fake\n"), 0o644)
	tarball := filepath.Join(dir, "linux-1.2.3.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", dir, "linux-1.2.3").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	return tarball
}

// TestKeptTreeRebuildsAVariantInPlace: a build with KeepTree keeps its
// tree; a build of the same source with an extra fragment reuses it — no
// second extraction, a fresh base config — and is an entry of its own
// (key, release, label); without a kept tree and KeepTree a build's tree
// is removed; clean --all's RemoveTrees removes kept trees.
func TestKeptTreeRebuildsAVariantInPlace(t *testing.T) {
	for _, tool := range []string{"make", "tar", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("needs " + tool)
		}
	}
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tarball := fakeKernelTarball(t)
	sum, err := c.SourceSHA256(tarball)
	if err != nil {
		t.Fatal(err)
	}
	src := Source{Tarball: tarball, Record: record.KernelSource{Type: "tarball", Path: tarball, SHA256: sum}}
	ctx := context.Background()
	var progress bytes.Buffer
	opts := BuildOptions{Jobs: 1, NoSchedulers: true, KeepTree: true, Progress: &progress}

	base, err := c.Build(ctx, src, opts)
	if err != nil {
		t.Fatalf("base build: %v\n%s", err, progress.String())
	}
	trees, _ := filepath.Glob(filepath.Join(c.Root, ".trees", "*"))
	if len(trees) != 1 || !strings.Contains(progress.String(), "keeping the build tree") {
		t.Fatalf("kept trees %v after a KeepTree build:\n%s", trees, progress.String())
	}
	tree := trees[0]
	os.WriteFile(filepath.Join(tree, "left-by-the-first-build"), []byte("x"), 0o644)

	extra := filepath.Join(t.TempDir(), "variant.config")
	os.WriteFile(extra, []byte("CONFIG_LOCALVERSION=\"-variant\"\n"), 0o644)
	x, err := LoadExtra(extra)
	if err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	opts.KeepTree, opts.Extra = false, x // a kept tree is reused all the same
	variant, err := c.Build(ctx, src, opts)
	if err != nil {
		t.Fatalf("variant build: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "reusing the kept build tree") || strings.Contains(progress.String(), "extracting") {
		t.Errorf("the variant did not reuse the kept tree:\n%s", progress.String())
	}
	if _, err := os.Stat(filepath.Join(tree, "left-by-the-first-build")); err != nil {
		t.Errorf("the kept tree was replaced: %v", err)
	}
	calls, _ := os.ReadFile(filepath.Join(tree, "calls.log"))
	if got := strings.Fields(string(calls)); strings.Join(got, " ") != "tinyconfig olddefconfig bzImage tinyconfig olddefconfig bzImage" {
		t.Errorf("kbuild calls in the kept tree: %v; want a fresh base config and a build for each", got)
	}
	if base.Key == variant.Key || base.Version != "1.2.3" || variant.Version != "1.2.3-variant" ||
		base.Label != "kernel_1_2_3" || variant.Label != "kernel_1_2_3_variant" || variant.Fragment != "variant" {
		t.Errorf("base %s %s %s, variant %s %s %s: want two entries told apart", base.Key, base.Version, base.Label, variant.Key, variant.Version, variant.Label)
	}
	if e := c.Get(variant.Key); e.Status != StatusOK || e.Meta.Objects != 0 || e.Meta.ExtraHash != x.Hash() {
		t.Errorf("variant entry: %s %s, objects %d (a rebuild in place is no estimate of a full build)", e.Status, e.Reason, e.Meta.Objects)
	}
	if b, err := os.ReadFile(filepath.Join(variant.Dir, "extra.config")); err != nil || string(b) != x.Text {
		t.Errorf("the entry keeps its fragment: %q %v", b, err)
	}

	// No kept tree and no KeepTree: a build's tree is gone afterwards.
	if err := c.RemoveTrees(); err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	opts.Force = true
	if _, err := c.Build(ctx, src, opts); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if trees, _ := filepath.Glob(filepath.Join(c.Root, ".trees", "*")); len(trees) != 0 {
		t.Errorf("a tree was kept without KeepTree: %v", trees)
	}
	if builds, _ := filepath.Glob(filepath.Join(c.Root, ".build", "*")); len(builds) != 0 {
		t.Errorf("a build tree was left behind: %v", builds)
	}
}
