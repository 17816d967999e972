package vm

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// holdTerminal saves the terminal's mode and foreground process group and
// returns the function that restores them: QEMU puts the terminal in raw
// mode and takes the foreground, and a QEMU killed on a timeout or SIGINT
// cannot give either back. SIGTTOU is ignored meanwhile, since this process
// restores them from the background.
func holdTerminal(t *os.File) func() {
	fd := int(t.Fd())
	signal.Ignore(syscall.SIGTTOU)
	mode, modeErr := unix.IoctlGetTermios(fd, unix.TCGETS)
	return func() {
		if modeErr == nil {
			unix.IoctlSetTermios(fd, unix.TCSETS, mode)
		}
		unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp())
		signal.Reset(syscall.SIGTTOU)
	}
}
