package machine

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// RunningKernel is the facts of the kernel this process runs on: release,
// command line, clocksource, sched_ext state, HZ and uptime, in the run
// record's guest slot. The agent calls it in the guest; a bare-metal run on
// the host. sysRoot is where sysfs is mounted ("/sys").
func RunningKernel(sysRoot string) *record.GuestInfo {
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	info := &record.GuestInfo{
		KernelRelease: release,
		Cmdline:       readTrim("/proc/cmdline"),
		Clocksource:   readTrim(filepath.Join(sysRoot, "devices/system/clocksource/clocksource0/current_clocksource")),
		SchedExtState: readTrim(filepath.Join(sysRoot, "kernel/sched_ext/state")),
		HZ:            configHZ("/proc/config.gz", "/boot/config-"+release),
	}
	if f := strings.Fields(readTrim("/proc/uptime")); len(f) > 0 {
		info.UptimeS, _ = strconv.ParseFloat(f[0], 64)
	}
	return info
}

// configHZ reads CONFIG_HZ from the kernel's embedded config
// (IKCONFIG_PROC), else from the distribution's copy in /boot; 0 when
// neither says.
func configHZ(gz, plain string) int {
	var r io.Reader
	if f, err := os.Open(gz); err == nil {
		defer f.Close()
		if zr, err := gzip.NewReader(f); err == nil {
			r = zr
		}
	}
	if r == nil {
		f, err := os.Open(plain)
		if err != nil {
			return 0
		}
		defer f.Close()
		r = f
	}
	return hzFrom(r)
}

// hzFrom finds CONFIG_HZ in kernel config text.
func hzFrom(r io.Reader) int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			hz, _ := strconv.Atoi(v)
			return hz
		}
	}
	return 0
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
