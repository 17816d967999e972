package runner

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/lib/host/vm"
)

// auto picks qboot where QEMU ships it; qboot without it is an error that
// says where it looked and what to install; seabios is QEMU's default (no
// image); anything else is refused.
func TestChooseFirmware(t *testing.T) {
	qemu := "/opt/qemu/bin/qemu-system-x86_64"
	rom := "/opt/qemu/share/qemu/qboot.rom"
	installed := func(string) string { return rom }
	missing := func(string) string { return "" }
	for _, want := range []string{"", "auto", "qboot"} {
		if name, image, err := chooseFirmware(want, qemu, installed); err != nil || name != vm.FirmwareQBoot || image != rom {
			t.Errorf("%q: %s %s %v", want, name, image, err)
		}
	}
	if name, image, err := chooseFirmware("seabios", qemu, installed); err != nil || name != vm.FirmwareSeaBIOS || image != "" {
		t.Errorf("seabios: %s %s %v", name, image, err)
	}
	if _, _, err := chooseFirmware("ovmf", qemu, installed); err == nil || !strings.Contains(err.Error(), "auto, qboot or seabios") {
		t.Errorf("unknown firmware: %v", err)
	}
	if _, _, err := chooseFirmware("qboot", qemu, missing); err == nil || !strings.Contains(err.Error(), "qboot.rom") {
		t.Errorf("qboot without the image: %v", err)
	}
	if name, image, err := chooseFirmware("auto", qemu, missing); err != nil || name != vm.FirmwareSeaBIOS || image != "" {
		t.Errorf("auto without qboot: %s %s %v", name, image, err)
	}
}
