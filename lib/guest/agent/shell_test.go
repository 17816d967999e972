package agent

import "testing"

func TestShellDevice(t *testing.T) {
	for cmdline, want := range map[string]string{
		"console=ttyS0 rdinit=/init ktstr.shell=ttyS1 nokaslr": "ttyS1",
		"console=ttyS0 rdinit=/init":                           "",
		"ktstr.shell=":                                         "",
		"ktstr.shell=../sda":                                   "",
		"xktstr.shell=ttyS1":                                   "",
	} {
		if got := shellDevice(cmdline); got != want {
			t.Errorf("shellDevice(%q) = %q, want %q", cmdline, got, want)
		}
	}
}
