package main

import (
	"github.com/ktstr-go/ktstr/lib/guest/agent"
	"github.com/ktstr-go/ktstr/lib/guest/fixture"
	"github.com/ktstr-go/ktstr/lib/guest/probe"
	"github.com/ktstr-go/ktstr/lib/guest/worker"
	"github.com/ktstr-go/ktstr/lib/proto/role"
)

// roles are what this binary is besides the tool (lib/proto/role): the guest's
// /init, and the processes the agent and bare metal start from it. Each
// entry is its package's Main, so that the guest side's imports can be
// checked from this table (TestRolesLinkNoHostTools).
var roles = role.Table{
	role.Init:    agent.Main,   // PID 1 in the guest: the agent
	role.Worker:  worker.Main,  // a scenario's worker process
	role.Fixture: fixture.Main, // the fixture scheduler
	role.Probe:   probe.Main,   // the auto-repro probe loader
}
