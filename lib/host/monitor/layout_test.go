package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
)

// cachedVmlinux is a vmlinux from ktstr's kernel cache, if one was built.
func cachedVmlinux(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KTSTR_VMLINUX"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, root := range []string{os.Getenv("KTSTR_CACHE_DIR"), filepath.Join(home, ".cache/ktstr")} {
		if root == "" {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(root, "kernels/*/vmlinux"))
		if len(m) > 0 {
			return m[0]
		}
	}
	t.Skip("no cached kernel's vmlinux (KTSTR_VMLINUX)")
	return ""
}

func TestLoadLayoutCachedKernel(t *testing.T) {
	l, err := LoadLayout(cachedVmlinux(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, off := range map[string]int{"rq.nr_running": l.RqNrRunning, "rq.clock": l.RqClock, "rq.curr": l.RqCurr, "task.pid": l.TaskPID, "task.comm": l.TaskComm} {
		if off <= 0 && name != "rq.nr_running" || off < 0 {
			t.Errorf("%s offset %d", name, off)
		}
	}
	if l.LinuxBanner == "" || l.Runqueues == 0 {
		t.Errorf("banner %q runqueues %#x", l.LinuxBanner, l.Runqueues)
	}
	t.Logf("layout %+v", *l)
}

func TestMemberOffsetAnonymous(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	inner := &btf.Struct{Name: "inner", Size: 8, Members: []btf.Member{{Name: "a", Type: u32}, {Name: "nr", Type: u32, Offset: 32}}}
	anon := &btf.Union{Size: 8, Members: []btf.Member{{Name: "x", Type: u32}, {Name: "deep", Type: inner}}}
	outer := &btf.Struct{Name: "outer", Size: 24, Members: []btf.Member{
		{Name: "first", Type: u32},
		{Name: "", Type: anon, Offset: 64},
		{Name: "bits", Type: u32, Offset: 131, BitfieldSize: 3},
	}}
	if off, err := memberOffset(outer, "deep", "nr"); err != nil || off != 12 {
		t.Errorf("deep.nr through an anonymous union = %d, %v; want 12", off, err)
	}
	if _, err := memberOffset(outer, "missing"); err == nil {
		t.Error("missing member: no error")
	}
	if _, err := memberOffset(outer, "first", "x"); err == nil {
		t.Error("member of a non-struct: no error")
	}
	if _, err := memberOffset(outer, "bits"); err == nil {
		t.Error("bitfield: no error")
	}
}

// TestLoadLayoutNotAKernel: an ELF without the kernel's symbols is an
// error naming what is missing, and a monitor built on it stays inert with
// the reason in its record.
func TestLoadLayoutNotAKernel(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLayout(exe); err == nil || !strings.Contains(err.Error(), "symbol") {
		t.Errorf("LoadLayout(test binary) = %v", err)
	}
	m := New(Config{Vmlinux: exe, CPUs: 1})
	<-m.loaded
	m.Sample(time.Second, nil)
	if r := m.Record(false); !strings.Contains(r.Error, "symbol") || r.Samples != 0 {
		t.Errorf("record %+v", r)
	}
	if r := New(Config{CPUs: 1}).Record(true); !strings.Contains(r.Error, "no vmlinux") {
		t.Errorf("no vmlinux: %+v", r)
	}
}
