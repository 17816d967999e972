package vm

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestChooseAccel: auto takes KVM only when the host can run it and the
// boot probe passes, remembers the probe's answer per host kernel, CPU and
// QEMU, and falls back to TCG saying why; an explicit kvm that cannot work
// is an error; tcg is taken as asked.
func TestChooseAccel(t *testing.T) {
	noKVM := func() error { return errors.New("/dev/kvm: no such file or directory") }
	kvmOK := func() error { return nil }
	probes := 0
	probe := func(err error) ProbeFunc {
		return func(context.Context) error { probes++; return err }
	}
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { kvmCheck = kvmUsable })
	for _, tc := range []struct {
		name      string
		kvm       func() error
		want      string
		qemu      string
		probe     ProbeFunc
		accel     string
		reason    string
		probed    int
		wantError string
	}{
		{name: "tcg asked", kvm: kvmOK, want: "tcg", accel: AccelTCG, reason: "requested"},
		{name: "kvm asked, unusable", kvm: noKVM, want: "kvm", wantError: "--accel kvm: /dev/kvm"},
		{name: "kvm asked", kvm: kvmOK, want: "kvm", accel: AccelKVM, reason: "requested"},
		{name: "auto without KVM", kvm: noKVM, want: "auto", accel: AccelTCG, reason: "/dev/kvm: no such file"},
		{name: "auto, probe passes", kvm: kvmOK, want: "auto", qemu: "9.2", probe: probe(nil), accel: AccelKVM, reason: "KVM boot probe passed", probed: 1},
		{name: "auto, remembered", kvm: kvmOK, want: "", qemu: "9.2", probe: probe(errors.New("not asked")), accel: AccelKVM, reason: "passed (cached)"},
		{name: "auto, another QEMU probes again and fails", kvm: kvmOK, want: "auto", qemu: "10.0", probe: probe(errors.New("guest hung")), accel: AccelTCG, reason: "KVM boot probe failed: guest hung", probed: 1},
		{name: "auto, failure remembered", kvm: kvmOK, want: "auto", qemu: "10.0", probe: probe(nil), accel: AccelTCG, reason: "failed (cached): guest hung"},
		{name: "auto, no probe", kvm: kvmOK, want: "auto", qemu: "11", accel: AccelTCG, reason: "no KVM boot probe"},
		{name: "unknown", kvm: kvmOK, want: "hvf", wantError: `unknown accelerator "hvf"`},
	} {
		kvmCheck = tc.kvm
		probes = 0
		got, err := ChooseAccel(ctx, tc.want, filepath.Join(dir, "accel.json"), tc.qemu, tc.probe)
		switch {
		case tc.wantError != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("%s: %+v, %v; want error %q", tc.name, got, err, tc.wantError)
			}
		case err != nil || got.Accel != tc.accel || !strings.Contains(got.Reason, tc.reason) || probes != tc.probed:
			t.Errorf("%s: %+v, %v, %d probes; want %s (%q), %d probes", tc.name, got, err, probes, tc.accel, tc.reason, tc.probed)
		}
	}
}
