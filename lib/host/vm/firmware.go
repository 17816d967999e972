package vm

import (
	"os"
	"path/filepath"
)

// Firmware choices (record.HostInfo.Firmware).
const (
	// FirmwareQBoot is QEMU's qboot: a minimal x86 firmware that loads
	// the kernel from fw_cfg and jumps to it, with the ACPI tables, e820
	// map and SMBIOS QEMU makes, as SeaBIOS hands them on. Under TCG it
	// reaches the kernel about 0.1 s sooner than SeaBIOS (POST, option
	// ROM scan, the PVH option ROM), measured here on 1,2,2,1.
	FirmwareQBoot = "qboot"
	// FirmwareSeaBIOS is QEMU's default firmware for q35.
	FirmwareSeaBIOS = "seabios"
	// FirmwareAuto is qboot when QEMU ships it, else SeaBIOS.
	FirmwareAuto = "auto"
)

// qbootName is the image QEMU installs in its data directory.
const qbootName = "qboot.rom"

// QBootImage finds QEMU's qboot image: in the data directory of the QEMU
// binary qemu (PREFIX/bin/qemu… → PREFIX/share/qemu), then in the
// distributions' places. "" when there is none.
func QBootImage(qemu string) string {
	dirs := []string{}
	if qemu != "" {
		dirs = append(dirs, filepath.Join(filepath.Dir(filepath.Dir(qemu)), "share", "qemu"))
	}
	dirs = append(dirs, "/usr/share/qemu", "/usr/local/share/qemu", "/usr/share/qemu-kvm")
	for _, d := range dirs {
		p := filepath.Join(d, qbootName)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
