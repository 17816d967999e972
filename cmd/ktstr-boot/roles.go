package main

import (
	"github.com/ktstr-go/ktstr/lib/fixture"
	"github.com/ktstr-go/ktstr/lib/guest"
	"github.com/ktstr-go/ktstr/lib/probe"
	"github.com/ktstr-go/ktstr/lib/role"
	"github.com/ktstr-go/ktstr/lib/workload/worker"
)

// roles are what this binary is besides the tool (lib/role): the guest's
// /init, and the processes the agent and bare metal start from it. Each
// entry is its package's Main, so that the guest side's imports can be
// checked from this table (TestRolesLinkNoHostTools).
var roles = role.Table{
	role.Init:    guest.Main,   // PID 1 in the guest: the agent
	role.Worker:  worker.Main,  // a scenario's worker process
	role.Fixture: fixture.Main, // the fixture scheduler
	role.Probe:   probe.Main,   // the auto-repro probe loader
}
