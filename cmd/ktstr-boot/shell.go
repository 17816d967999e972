package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/cli"
	"github.com/ktstr-go/ktstr/lib/base/units"
	"github.com/ktstr-go/ktstr/lib/proto"
)

// shellTimeout is a shell session's timeout unless --timeout says: a
// person at the terminal decides when it ends.
const shellTimeout = units.Week

// shellTerminal checks --shell's options, adjusts them for an interactive
// session (the kernel argument that asks the agent for a shell, no
// timeout, one VM) and returns the terminal QEMU's shell port is wired to.
func shellTerminal(o *options) (*os.File, error) {
	switch {
	case o.BareMetal:
		return nil, cli.Usagef("--shell boots a VM: it does not go with --bare-metal")
	case o.Topology == "":
		return nil, cli.Usagef("--shell needs --topology (stdin is the terminal)")
	case o.Scenario != "" || o.Exec != "" || o.AllProfiles || o.Job != "default":
		return nil, cli.Usagef("--shell takes no --scenario, --exec, --all-profiles or --job")
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, cli.Usagef("--shell needs a terminal: %v", err)
	}
	if _, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil {
		tty.Close()
		return nil, cli.Usagef("--shell needs a terminal: %v", err)
	}
	o.KernelArgs = append(o.KernelArgs, fmt.Sprintf("%s=%s", proto.ShellArg, proto.ShellConsole))
	if o.Timeout == 0 {
		o.Timeout = units.Duration(shellTimeout)
	}
	o.Jobs = 1
	return tty, nil
}
