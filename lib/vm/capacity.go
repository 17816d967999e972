package vm

import (
	"fmt"

	"github.com/ktstr-go/ktstr/lib/topology"
)

// DefaultOvercommit is how many vCPUs per host CPU a guest may have and still
// count as runnable here. Guests boot and run correctly far beyond the host's
// CPU count; timing-judged checks are made honest separately (host-side vCPU
// accounting), so this bound only keeps boots from crawling.
const DefaultOvercommit = 8

// Capacity is what a host offers to guests.
type Capacity struct {
	CPUs       int // host CPUs QEMU may use
	MemoryMB   int // memory available for guests
	Overcommit int // vCPUs allowed per host CPU
}

// CheckFits returns nil if a guest of topology s can run on c, else an error
// saying which resource is short and by how much.
func (c Capacity) CheckFits(s topology.Spec) error {
	over := c.Overcommit
	if over <= 0 {
		over = DefaultOvercommit
	}
	if limit := c.CPUs * over; s.CPUs() > limit {
		return fmt.Errorf("%d vCPUs exceed %d host CPUs × overcommit %d = %d", s.CPUs(), c.CPUs, over, limit)
	}
	if need := GuestMemoryMB(s); c.MemoryMB > 0 && need > c.MemoryMB {
		return fmt.Errorf("guest needs %d MB, host has %d MB available", need, c.MemoryMB)
	}
	return nil
}
