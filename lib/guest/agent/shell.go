package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// shellDevice is the device of the kernel command line's ShellArg=DEVICE
// (ktstr-boot --shell), "" when there is none.
func shellDevice(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, proto.ShellArg+"="); ok && v != "" && !strings.Contains(v, "/") {
			return v
		}
	}
	return ""
}

// runShell gives the terminal on /dev/dev an interactive busybox shell, as
// its session leader with the port as controlling terminal (so Ctrl-C and
// job control work), and waits for it to exit. The scheduler, if any, keeps
// being watched meanwhile; the result is recorded as an exec whose output
// went to the terminal.
func (a *Agent) runShell(dev string) *record.ExecResult {
	start := time.Now()
	res := &record.ExecResult{Command: "interactive shell on /dev/" + dev}
	tty, err := os.OpenFile(filepath.Join("/dev", dev), os.O_RDWR, 0)
	if err != nil {
		res.ExitCode, res.Stderr = 127, err.Error()
		return res
	}
	defer tty.Close()
	fmt.Fprintf(tty, "\r\nktstr shell: busybox sh, included files in %s; `exit` powers the guest off.\r\n", proto.IncludeDir)
	c := exec.Command("/bin/sh", "-i")
	c.Env = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin:" + proto.IncludeDir, "HOME=/tmp", "TERM=linux", "KTSTR_GUEST=1", `PS1=ktstr:\w# `}
	c.Dir = "/tmp"
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	a.logf("shell on /dev/%s", dev)
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.ExitCode = ee.ExitCode()
		} else {
			res.ExitCode, res.Stderr = 127, err.Error()
		}
	}
	res.DurationS = time.Since(start).Seconds()
	a.logf("shell exited (%d) after %.1fs", res.ExitCode, res.DurationS)
	return res
}
