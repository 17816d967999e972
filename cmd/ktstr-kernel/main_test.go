package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/cli/ptytest"
	"github.com/ktstr-go/ktstr/lib/host/kernel"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// cacheOf makes a kernel cache with one usable entry (6.12.117, label
// kernel_6_12_117) and one whose image is gone, as ktstr-kernel build
// leaves them (a test fixture: the files are not a kernel).
func cacheOf(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range []struct {
		key, version string
		age          time.Duration
	}{{"good", "6.12.117", 0}, {"broken", "6.12.1", time.Hour}} {
		dir := filepath.Join(root, e.key)
		os.MkdirAll(filepath.Join(dir, "sched"), 0o755)
		for _, f := range []string{"bzImage", "vmlinux", "config", "sched/scx_simple"} {
			os.WriteFile(filepath.Join(dir, f), []byte("data"), 0o644)
		}
		fh, _ := kernel.FragmentHash("minimal")
		b, _ := json.Marshal(kernel.Metadata{Schema: kernel.MetadataSchema, Key: e.key, Version: e.version, Profile: "minimal", Arch: kernel.Arch,
			FragmentHash: fh, BuiltAt: time.Now().Add(-e.age).UTC().Format(time.RFC3339), Image: "bzImage", Vmlinux: "vmlinux", Config: "config",
			Schedulers: map[string]string{"scx_simple": "sched/scx_simple"}, SchedExt: true})
		os.WriteFile(filepath.Join(dir, "metadata.json"), b, 0o644)
	}
	os.Remove(filepath.Join(root, "broken", "bzImage"))
	return root
}

func runKernel(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), strings.NewReader(""), &out, &errb, args)
	return code, out.String(), errb.String()
}

// runOnTTY runs the tool with stdout and stderr on a real pseudo-terminal
// and returns what a person saw.
func runOnTTY(t *testing.T, args ...string) (int, string) {
	return ptytest.Run(t, 200, run, "", args...)
}

// TestListOutputSwitch (issue 25, item 3): list is a table on a terminal;
// piped or with --json, a kernel record per usable entry (what ktstr-boot
// takes on stdin) and a skip record, with the reason, per unusable one.
func TestListOutputSwitch(t *testing.T) {
	root := cacheOf(t)
	code, out := runOnTTY(t, "list", "--cache-dir", root)
	if code != 0 || !strings.Contains(out, "KEY") || !strings.Contains(out, "kernel_6_12_117") || !strings.Contains(out, "corrupt (image missing (bzImage))") || strings.Contains(out, `"kind":`) {
		t.Errorf("terminal: exit %d:\n%s", code, out)
	}
	_, piped, _ := runKernel(t, "list", "--cache-dir", root)
	_, forced := runOnTTY(t, "list", "--cache-dir", root, "--json")
	for what, out := range map[string]string{"piped": piped, "--json": forced} {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var k record.Kernel
		var s record.Skip
		if len(lines) != 2 || record.Unmarshal([]byte(lines[0]), &k) != nil || record.Unmarshal([]byte(lines[1]), &s) != nil {
			t.Fatalf("%s: %d lines:\n%s", what, len(lines), out)
		}
		if k.Label != "kernel_6_12_117" || k.Image != filepath.Join(root, "good", "bzImage") || k.Cache != "hit" {
			t.Errorf("%s: kernel record %+v", what, k)
		}
		if s.Subject != "broken" || s.Reason != "kernel_corrupt" || s.Detail != "image missing (bzImage)" {
			t.Errorf("%s: skip record %+v", what, s)
		}
	}
}

// TestResolveOutputSwitch: resolve (and build, the same code) says which
// kernel in a line on a terminal, and writes its record piped or with
// --json.
func TestResolveOutputSwitch(t *testing.T) {
	root := cacheOf(t)
	code, out := runOnTTY(t, "resolve", "--cache-dir", root, "kernel_6_12_117")
	want := "kernel_6_12_117: 6.12.117 (minimal, hit), " + filepath.Join(root, "good", "bzImage")
	if code != 0 || !strings.Contains(out, want+"\n") || strings.Contains(out, `"kind":`) {
		t.Errorf("terminal: exit %d:\n%s\nwant a line %q", code, out, want)
	}
	for _, out := range []string{func() string { _, o, _ := runKernel(t, "resolve", "--cache-dir", root, "kernel_6_12_117"); return o }(),
		func() string {
			_, o := runOnTTY(t, "build", "--cache-dir", root, "kernel_6_12_117", "--json")
			return o
		}()} {
		if !strings.Contains(out, `{"kind":"kernel"`) || !strings.Contains(out, `"label":"kernel_6_12_117"`) {
			t.Errorf("not a kernel record: %s", out)
		}
	}
}
