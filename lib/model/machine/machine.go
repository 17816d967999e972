// Package machine reads facts about the machine the process runs on,
// whichever side that is: usable CPUs, available memory,
// hardware-virtualisation support, and the running kernel (RunningKernel,
// which the agent reports from inside the guest and bare metal from the
// host). The VM layer uses them to size and accelerate guests; ktstr-topo
// uses them to say which topologies this host can run.
package machine

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/meminfo"
)

// CPUs is the number of CPUs this process may run on (its affinity mask),
// which is what QEMU's threads can use.
func CPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return set.Count()
	}
	n, _ := strconv.Atoi(strings.TrimSpace(readFile("/sys/devices/system/cpu/online")))
	return max(n, 1)
}

// MemAvailableMB is MemAvailable from /proc/meminfo in MiB, 0 if unknown.
func MemAvailableMB() int {
	return meminfo.MB("/proc/meminfo", "MemAvailable")
}

// CPUFlags returns the flags of the first CPU in /proc/cpuinfo.
func CPUFlags() map[string]bool {
	return cpuFlags(readFile("/proc/cpuinfo"))
}

func cpuFlags(cpuinfo string) map[string]bool {
	flags := map[string]bool{}
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	return flags
}

// CPUVendor is "intel", "amd" or "" from /proc/cpuinfo's vendor_id.
func CPUVendor() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "vendor_id" {
			switch strings.TrimSpace(v) {
			case "GenuineIntel":
				return "intel"
			case "AuthenticAMD":
				return "amd"
			}
			return ""
		}
	}
	return ""
}

// HardwareVirt reports whether the CPU advertises hardware virtualisation
// (Intel VT-x "vmx" or AMD-V "svm"). Without it /dev/kvm, if present at all,
// is an emulation that cannot run guests at useful speed.
func HardwareVirt() bool {
	f := CPUFlags()
	return f["vmx"] || f["svm"]
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
