// Package rootfs builds the guest's root filesystem on the host: a cached base
// initramfs (the agent as /init, busybox, the job's include files) and the
// small per-run suffix that carries the job record where the agent reads it.
package rootfs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ktstr-go/ktstr/lib/host/initramfs"
	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// BaseArchive describes the guest's root filesystem, without the job: the
// agent binary as /init, busybox with its applets in /bin (for --exec and
// scheduler scripts), and the job's include files under proto.IncludeDir.
func BaseArchive(agent string, includes []string) (*initramfs.Archive, error) {
	a := initramfs.NewArchive()
	if err := a.AddBinary("init", agent); err != nil {
		return nil, fmt.Errorf("guest image: agent: %w", err)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "ktstr", strings.TrimPrefix(proto.IncludeDir, "/")} {
		if err := a.AddDir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		if err := addBusybox(a, bb); err != nil {
			return nil, err
		}
	}
	for _, inc := range includes {
		if err := addInclude(a, inc); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// addBusybox installs busybox as /bin/busybox with a symlink per applet.
func addBusybox(a *initramfs.Archive, path string) error {
	if err := a.AddBinary("bin/busybox", path); err != nil {
		return fmt.Errorf("guest image: busybox: %w", err)
	}
	out, err := exec.Command(path, "--list").Output()
	if err != nil {
		return fmt.Errorf("guest image: busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := a.AddSymlink("bin/"+applet, "busybox"); err != nil {
			return err
		}
	}
	return nil
}

// ResolveInclude finds an --include argument: a path, or a bare name looked
// up in the current directory and then $PATH.
func ResolveInclude(name string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("include %s: %w", name, err)
		}
		return filepath.Abs(name)
	}
	if _, err := os.Stat(name); err == nil {
		return filepath.Abs(name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("include %s: not a file here and not on $PATH", name)
	}
	return p, nil
}

func addInclude(a *initramfs.Archive, host string) error {
	st, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("guest image: include %s: %w", host, err)
	}
	dst := filepath.Join(proto.IncludeDir, filepath.Base(host))
	if st.IsDir() {
		return a.AddTree(dst, host)
	}
	if st.Mode()&0o111 != 0 {
		return a.AddBinary(dst, host)
	}
	return a.AddFile(dst, host, st.Mode().Perm())
}

// JobSuffix is the per-run part of the initramfs: an uncompressed newc
// archive holding the job record at proto.JobPath. The kernel unpacks it after the
// (compressed, cached) base archive.
func JobSuffix(job *record.Job) ([]byte, error) {
	b, err := record.Marshal(job)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := initramfs.NewWriter(&buf)
	if err := w.File(proto.JobPath, 0o644, append(b, '\n')); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
