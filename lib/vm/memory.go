package vm

import "github.com/ktstr-go/ktstr/lib/topology"

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
func GuestMemoryMB(s topology.Spec) int {
	mb := max(minGuestMB, perCPUGuestMB*s.CPUs()) + workloadMB
	if r := mb % s.NUMANodes; r != 0 {
		mb += s.NUMANodes - r
	}
	return mb
}
