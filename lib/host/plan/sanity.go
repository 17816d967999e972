package plan

import (
	"fmt"
	"math"

	"github.com/ktstr-go/ktstr/lib/host/vm"
	"github.com/ktstr-go/ktstr/lib/model/machine"
	"github.com/ktstr-go/ktstr/lib/model/record"
)

// Oversize limits: a VM with more than WarnVCPURatio vCPUs per host CPU gets
// a warning before it boots; one with more than RefuseVCPURatio is refused
// unless Flags.Force. Under TCG every vCPU is a host thread, so a VM far
// beyond the host boots for many minutes and its timing means little.
const (
	WarnVCPURatio   = 2
	RefuseVCPURatio = 8
)

// sanity checks a job's topology against the host before it boots: it
// returns the warning to print (empty for none), or a usage error when the
// VM is too large to be useful and Force is not set.
func (p *Planner) sanity(j *record.Job) (warning string, err error) {
	hostCPUs := p.f.HostCPUs
	if hostCPUs <= 0 {
		hostCPUs = machine.CPUs()
	}
	cpus := j.Topology.CPUs
	ratio := float64(cpus) / float64(max(hostCPUs, 1))
	if ratio <= WarnVCPURatio || j.Accel == vm.AccelKVM {
		return "", nil
	}
	// The runner's own estimates, for multi-threaded TCG on an idle host
	// (the best case), before the scenario is decoded: without its
	// payloads' waits.
	best := Machine{Accel: vm.AccelTCG, TCGThreads: vm.TCGMulti, HostCPUs: hostCPUs}
	bootS := vm.BootEstimateS(best.Accel, best.TCGThreads, cpus, hostCPUs)
	what := fmt.Sprintf("topology %s: %d vCPUs on %d host CPUs (%.0f× over): under TCG each vCPU gets about 1/%.0f of a CPU, boot alone takes about %s and the timeout is %s; timing checks will mostly be inconclusive",
		j.Topology.Name, cpus, hostCPUs, ratio, math.Ceil(ratio), minutes(bootS), minutes(timeoutS(j, 0, best)))
	if ratio > RefuseVCPURatio && !p.f.Force {
		return "", inputf("%s (over %d× refused: --force runs it anyway, or pick a topology of at most %d vCPUs)", what, RefuseVCPURatio, WarnVCPURatio*hostCPUs)
	}
	return what, nil
}

func minutes(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.0f min", s/60)
}
