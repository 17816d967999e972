package topology

import (
	"fmt"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Guest memory sizing. The guest has no disk: the initramfs unpacks into
// RAM next to the workload, so the floor covers both. Memory is backed by
// files on /dev/shm that are only populated as the guest touches pages, so a
// generous size costs little on the host.
const (
	minGuestMB    = 512
	perCPUGuestMB = 64
	workloadMB    = 256
)

// GuestMemoryMB is the memory a guest of topology s gets unless the job says
// otherwise: max(512, 64 per CPU) plus 256 for the workload, rounded up so
// every NUMA node gets the same whole number of MiB.
func GuestMemoryMB(s Spec) int {
	mb := max(minGuestMB, perCPUGuestMB*s.CPUs()) + workloadMB
	if r := mb % s.NUMANodes; r != 0 {
		mb += s.NUMANodes - r
	}
	return mb
}

// DefaultFitOvercommit is how many vCPUs per host CPU a guest may have and
// still count as runnable here. Guests boot and run correctly far beyond the
// host's CPU count; timing-judged checks are kept honest separately (host-side
// vCPU accounting, and ktstr-boot packing concurrent VMs within the host's
// CPUs), so this bound only keeps boots from crawling.
const DefaultFitOvercommit = 8

// Capacity is what a host offers to guests.
type Capacity struct {
	CPUs       int // host CPUs QEMU may use
	MemoryMB   int // memory available for guests
	Overcommit int // vCPUs allowed per host CPU; 0 means DefaultFitOvercommit
}

// SkipHostCapacity is the skip reason of a topology this host cannot run.
const SkipHostCapacity = "host_capacity"

// CheckFits returns nil if a guest of topology s can run on c, else a
// *record.SkipError (reason SkipHostCapacity) saying which resource is
// short and by how much.
func (c Capacity) CheckFits(s Spec) error {
	over := c.Overcommit
	if over <= 0 {
		over = DefaultFitOvercommit
	}
	if limit := c.CPUs * over; s.CPUs() > limit {
		return &record.SkipError{Reason: SkipHostCapacity, Detail: fmt.Sprintf("%d vCPUs exceed %d host CPUs × overcommit %d = %d", s.CPUs(), c.CPUs, over, limit)}
	}
	if need := GuestMemoryMB(s); c.MemoryMB > 0 && need > c.MemoryMB {
		return &record.SkipError{Reason: SkipHostCapacity, Detail: fmt.Sprintf("guest needs %d MB, host has %d MB available", need, c.MemoryMB)}
	}
	return nil
}
