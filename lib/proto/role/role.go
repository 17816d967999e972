// Package role names the roles of ktstr's one binary and dispatches a
// process to its role's entry point. ktstr-boot is the command-line tool,
// and also the guest's /init (the agent), a scenario's worker processes,
// the fixture scheduler and the auto-repro probe loader: the agent and
// bare metal start the binary again in a role by setting Env (Environ),
// and PID 1 is the agent whatever its environment. The names live here,
// in a leaf that the packages starting roles can import; which function
// runs each role is the binary's own table (a Table in its main), since
// those functions' packages import this one.
package role

import (
	"io"
	"os"
)

// Env is the environment variable that names a process's role.
const Env = "KTSTR_ROLE"

// The roles of the binary. A process in none of them is the tool itself.
const (
	// Init is PID 1 in the guest: the agent (lib/guest/agent).
	Init = "init"
	// Worker is one worker process of a scenario (lib/guest/worker).
	Worker = "worker"
	// Fixture is the fixture scheduler (lib/guest/fixture).
	Fixture = "fixture"
	// Probe is the auto-repro probe loader (lib/guest/probe).
	Probe = "probe"
)

// Current is this process's role: Init for PID 1, else what Env says (""
// for the command-line tool).
func Current() string { return of(os.Getpid(), os.Getenv(Env)) }

func of(pid int, env string) string {
	if pid == 1 {
		return Init
	}
	return env
}

// Environ is the environment entry ("KTSTR_ROLE=NAME") that starts the
// binary in role name.
func Environ(name string) string { return Env + "=" + name }

// Main is a role's entry point: it gets the process's arguments after the
// program name and its standard output and error, and returns the exit
// status.
type Main func(args []string, stdout, stderr io.Writer) int

// Table maps roles to their entry points.
type Table map[string]Main

// Dispatch runs the entry point of this process's role and exits with its
// status. It returns only when the process has no role in t: then it is
// the tool.
func (t Table) Dispatch() {
	if m := t.lookup(Current()); m != nil {
		os.Exit(m(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// lookup is the entry point of role name, nil for none ("" is the tool's,
// never a role).
func (t Table) lookup(name string) Main {
	if name == "" {
		return nil
	}
	return t[name]
}
