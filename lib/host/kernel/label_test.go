package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestLabel(t *testing.T) {
	for _, c := range []struct {
		k    record.Kernel
		want string
	}{
		{record.Kernel{Version: "6.12.117"}, "kernel_6_12_117"},
		{record.Kernel{Version: "6.15-rc3"}, "kernel_6_15_rc3"},
		{record.Kernel{Version: "6.12.117-variant", Fragment: "variant"}, "kernel_6_12_117_variant"},
		{record.Kernel{Version: "6.12.117", Fragment: "Preempt.Full"}, "kernel_6_12_117_preempt_full"},
		{record.Kernel{Version: "6.1.0-18-amd64", Source: record.KernelSource{Type: "image", Path: "/boot/vmlinuz"}}, "kernel_6_1_0_18_amd64"},
		{record.Kernel{Version: "6.13.0", Source: record.KernelSource{Type: "tree", Path: "/src/linux", GitHead: "1a2b3c4d5e"}}, "kernel_local_1a2b3c"},
		{record.Kernel{Version: "6.13.0", Source: record.KernelSource{Type: "tree", Path: "/src/linux", GitHead: "1a2b3c4d5e", Dirty: true}}, "kernel_path_linux_" + crc6("/src/linux") + "_dirty"},
		{record.Kernel{}, "kernel_local_unknown"},
		{record.Kernel{Version: "..."}, "kernel_local_unknown"},
	} {
		if got := Label(&c.k); got != c.want {
			t.Errorf("Label(%+v) = %q, want %q", c.k, got, c.want)
		}
	}
	// Two configurations of one source, two labels.
	a := Label(&record.Kernel{Version: "6.12.117"})
	b := Label(&record.Kernel{Version: "6.12.117", Fragment: "debug"})
	if a == b {
		t.Errorf("a fragment does not change the label: %s", a)
	}
}

func crc6(path string) string {
	l := Label(&record.Kernel{Source: record.KernelSource{Type: "tree", Path: path}})
	return strings.TrimPrefix(l, "kernel_path_"+filepath.Base(path)+"_")[:6]
}

// FuzzLabel: every label has the documented form, and the sanitizer is
// idempotent and keeps letters and digits in order.
func FuzzLabel(f *testing.F) {
	f.Add("6.12.117", "", "", "", false)
	f.Add("6.15-rc3", "variant", "tree", "/home/me/linux", true)
	f.Add("", "PREEMPT full", "tree", "", false)
	f.Fuzz(func(t *testing.T, version, fragment, typ, path string, dirty bool) {
		k := &record.Kernel{Version: version, Fragment: fragment, Source: record.KernelSource{Type: typ, Path: path, Dirty: dirty, GitHead: version}}
		l := Label(k)
		if !LabelRE.MatchString(l) || strings.Contains(l, "__") || strings.HasSuffix(l, "_") {
			t.Fatalf("Label(%+v) = %q: not kernel_[a-z0-9_]+ without empty parts", k, l)
		}
		s := sanitize(version)
		if sanitize(s) != s {
			t.Fatalf("sanitize not idempotent: %q → %q → %q", version, s, sanitize(s))
		}
		var alnum strings.Builder
		for _, r := range strings.ToLower(version) {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				alnum.WriteRune(r)
			}
		}
		if strings.ReplaceAll(s, "_", "") != alnum.String() {
			t.Fatalf("sanitize(%q) = %q lost or added letters", version, s)
		}
	})
}

func TestExtraFragmentKeysAndResolution(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "variant.config")
	os.WriteFile(path, []byte("# comment\nCONFIG_LOCALVERSION=\"-variant\"\n"), 0o644)
	x, err := LoadExtra(path)
	if err != nil || x.Name != "variant" || len(x.Hash()) != 8 {
		t.Fatalf("LoadExtra = %+v, %v", x, err)
	}
	empty := filepath.Join(dir, "empty.config")
	os.WriteFile(empty, []byte("# nothing\n"), 0o644)
	if _, err := LoadExtra(empty); err == nil {
		t.Error("a fragment that sets nothing was accepted")
	}
	src := Source{Record: record.KernelSource{Type: "tarball", SHA256: strings.Repeat("ab", 32)}}
	plain, _ := Key(src, "minimal", nil)
	variant, _ := Key(src, "minimal", x)
	if plain == variant || !strings.HasPrefix(variant, plain+"-x") {
		t.Errorf("keys %q and %q: want the variant's to extend the plain one's", plain, variant)
	}

	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fakeEntry(t, c, "plain", "6.12.117", "minimal", now)
	fakeEntry(t, c, "variant", "6.12.117-variant", "minimal", now.Add(time.Minute)) // newer
	meta := filepath.Join(c.Root, "variant", "metadata.json")
	b, _ := os.ReadFile(meta)
	os.WriteFile(meta, []byte(strings.Replace(string(b), `"config_hash"`, `"extra":"variant","extra_hash":"`+x.Hash()+`","config_hash"`, 1)), 0o644)

	if e := c.Get("variant"); e.Label != "kernel_6_12_117_variant" {
		t.Errorf("entry label %q", e.Label)
	}
	ctx := context.Background()
	r := &Resolver{Cache: c, SourceDir: t.TempDir()}
	// A version and the default find the entry without a fragment even
	// though the variant is newer.
	if k, err := r.Resolve(ctx, "6.12"); err != nil || k.Key != "plain" || k.Label != "kernel_6_12_117" {
		t.Errorf("resolve 6.12 = %+v, %v; want the plain entry", k, err)
	}
	if k, err := r.Newest(); err != nil || k.Key != "plain" {
		t.Errorf("Newest = %+v, %v; want the plain entry", k, err)
	}
	// By key and by label.
	if k, err := r.Resolve(ctx, "variant"); err != nil || k.Key != "variant" || k.Label != "kernel_6_12_117_variant" || k.Fragment != "variant" {
		t.Errorf("resolve by key = %+v, %v", k, err)
	}
	if k, err := r.Resolve(ctx, "kernel_6_12_117_variant"); err != nil || k.Key != "variant" {
		t.Errorf("resolve by label = %+v, %v", k, err)
	}
	var se *SpecError
	if _, err := r.Resolve(ctx, "kernel_6_13_0"); err == nil || !strings.Contains(err.Error(), "kernel_6_12_117_variant") {
		t.Errorf("an unknown label: %v; want a spec error listing the labels", err)
	} else if !errors.As(err, &se) {
		t.Errorf("an unknown label: %T, want *SpecError", err)
	}
	// A version with the fragment finds the variant.
	rx := &Resolver{Cache: c, SourceDir: t.TempDir(), BuildOptions: BuildOptions{Extra: x}}
	if k, err := rx.Resolve(ctx, "6.12"); err != nil || k.Key != "variant" {
		t.Errorf("resolve 6.12 --fragment = %+v, %v; want the variant", k, err)
	}
}
