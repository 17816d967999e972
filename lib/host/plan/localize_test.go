package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

func TestLocalizeKernelFindsTheKeyInThisHostsCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", cache)
	key := "tarball-0123-minimal-x86_64-abc"
	dir := filepath.Join(cache, "kernels", key)
	os.MkdirAll(filepath.Join(dir, "sched"), 0o755)
	for _, f := range []string{"bzImage", "vmlinux", "config", "sched/scx_qmap"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	fh, err := kernel.FragmentHash("minimal")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(kernel.Metadata{Schema: kernel.MetadataSchema, Key: key, Version: "6.12.1", Profile: "minimal",
		FragmentHash: fh, Image: "bzImage", Vmlinux: "vmlinux", Config: "config", SchedExt: true,
		Schedulers: map[string]string{"scx_qmap": "sched/scx_qmap"}})
	os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644)

	elsewhere := "/other/host/cache/kernels/" + key
	j := &record.Job{Kernel: &record.Kernel{Key: key, Dir: elsewhere, Image: elsewhere + "/bzImage"},
		Scheduler: &record.Scheduler{Name: "scx_qmap", Binary: elsewhere + "/sched/scx_qmap"},
		Include:   []string{elsewhere + "/sched/scx_qmap", "/usr/bin/true"}}
	localizeKernel(j)
	if j.Kernel.Image != filepath.Join(dir, "bzImage") || j.Scheduler.Binary != filepath.Join(dir, "sched/scx_qmap") ||
		j.Include[0] != filepath.Join(dir, "sched/scx_qmap") || j.Include[1] != "/usr/bin/true" {
		t.Errorf("not localized: kernel %s, scheduler %s, includes %v", j.Kernel.Image, j.Scheduler.Binary, j.Include)
	}

	other := &record.Job{Kernel: &record.Kernel{Key: "no-such-key", Dir: elsewhere, Image: elsewhere + "/bzImage"}}
	localizeKernel(other)
	if other.Kernel.Image != elsewhere+"/bzImage" {
		t.Errorf("a key this host lacks was changed to %s", other.Kernel.Image)
	}
}
