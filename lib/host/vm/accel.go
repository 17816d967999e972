package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/lib/model/machine"
)

// AccelChoice is the accelerator picked for a run, and why.
type AccelChoice struct {
	Accel  string `json:"accel"`
	Reason string `json:"reason"`
}

// ProbeFunc boots a short guest with KVM and reports whether it worked.
type ProbeFunc func(ctx context.Context) error

// accelCache is the memo of a KVM boot probe.
type accelCache struct {
	Key     string    `json:"key"`
	Works   bool      `json:"works"`
	Detail  string    `json:"detail"`
	Checked time.Time `json:"checked"`
}

// ChooseAccel resolves "auto", "kvm" or "tcg". auto takes KVM only if the CPU
// has hardware virtualisation (vmx/svm), /dev/kvm opens, and a boot probe
// works; the probe's answer is cached in cacheFile, keyed by host kernel,
// CPU and QEMU. Anything else is TCG. An explicit "kvm" that cannot work is
// an error, not a silent fallback.
func ChooseAccel(ctx context.Context, want, cacheFile, qemuVersion string, probe ProbeFunc) (AccelChoice, error) {
	switch want {
	case AccelTCG:
		return AccelChoice{AccelTCG, "requested"}, nil
	case AccelKVM:
		if err := kvmCheck(); err != nil {
			return AccelChoice{}, fmt.Errorf("--accel kvm: %w", err)
		}
		return AccelChoice{AccelKVM, "requested"}, nil
	case "", "auto":
	default:
		return AccelChoice{}, fmt.Errorf("unknown accelerator %q (auto, kvm, tcg)", want)
	}
	if err := kvmCheck(); err != nil {
		return AccelChoice{AccelTCG, err.Error()}, nil
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	key := fmt.Sprintf("%s|%s|%s", unix.ByteSliceToString(uts.Release[:]), machine.CPUVendor(), qemuVersion)
	var memo accelCache
	if b, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(b, &memo) == nil && memo.Key == key {
		if memo.Works {
			return AccelChoice{AccelKVM, "KVM boot probe passed (cached)"}, nil
		}
		return AccelChoice{AccelTCG, "KVM boot probe failed (cached): " + memo.Detail}, nil
	}
	if probe == nil {
		return AccelChoice{AccelTCG, "no KVM boot probe available"}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	perr := probe(pctx)
	memo = accelCache{Key: key, Works: perr == nil, Checked: time.Now()}
	if perr != nil {
		memo.Detail = perr.Error()
	}
	if b, err := json.Marshal(memo); err == nil {
		os.MkdirAll(filepath.Dir(cacheFile), 0o755)
		os.WriteFile(cacheFile, b, 0o644)
	}
	if perr != nil {
		return AccelChoice{AccelTCG, "KVM boot probe failed: " + perr.Error()}, nil
	}
	return AccelChoice{AccelKVM, "KVM boot probe passed"}, nil
}

// kvmCheck is kvmUsable; tests stand in for the host's CPU and /dev/kvm.
var kvmCheck = kvmUsable

// kvmUsable checks hardware virtualisation and /dev/kvm access.
func kvmUsable() error {
	if !machine.HardwareVirt() {
		return fmt.Errorf("the CPU has no hardware virtualisation (vmx/svm); /dev/kvm, if present, cannot run guests at speed")
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("/dev/kvm: %w", err)
	}
	f.Close()
	return nil
}
