package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/lib/model/record"
)

// vcpuSampler follows QEMU's vCPU threads (named "CPU n/TCG" or "CPU n/KVM"
// thanks to -name ...,debug-threads=on) and keeps each one's last reading of
// /proc/PID/task/TID/schedstat: time on a host CPU and time spent runnable
// but waiting for one. The last reading before QEMU exits is the run's total.
type vcpuSampler struct {
	pid   int
	start time.Time
	last  map[int]record.VCPUUsage
	keep  bool
	// limit bounds the series to its newest samples (0: no bound).
	limit  int
	series []record.HostSample
}

func newVCPUSampler(pid int, start time.Time, keepSeries bool, limit int) *vcpuSampler {
	return &vcpuSampler{pid: pid, start: start, last: map[int]record.VCPUUsage{}, keep: keepSeries, limit: limit}
}

func (s *vcpuSampler) sample() {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", s.pid))
	for _, t := range tasks {
		comm, err := os.ReadFile(filepath.Join(t, "comm"))
		if err != nil {
			continue
		}
		cpu, ok := vcpuIndex(strings.TrimSpace(string(comm)))
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(t, "schedstat"))
		if err != nil {
			continue
		}
		if u, ok := parseSchedstat(string(b)); ok {
			u.CPU = cpu
			s.last[cpu] = u
		}
	}
	if s.keep && len(s.last) > 0 {
		n := 0
		for cpu := range s.last {
			n = max(n, cpu+1)
		}
		hs := record.HostSample{T: time.Since(s.start).Seconds(), WaitS: make([]float64, n), RunS: make([]float64, n)}
		for cpu, u := range s.last {
			hs.WaitS[cpu], hs.RunS[cpu] = u.RunDelayS, u.CPUS
		}
		s.series = append(s.series, hs)
		if s.limit > 0 && len(s.series) > 2*s.limit {
			s.series = slices.Clone(s.series[len(s.series)-s.limit:])
		}
	}
}

// vcpuIndex parses "CPU 3/TCG" or "CPU 3/KVM".
func vcpuIndex(comm string) (int, bool) {
	rest, ok := strings.CutPrefix(comm, "CPU ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// parseSchedstat parses "RUN_NS WAIT_NS SLICES".
func parseSchedstat(s string) (record.VCPUUsage, bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return record.VCPUUsage{}, false
	}
	run, err1 := strconv.ParseUint(f[0], 10, 64)
	wait, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return record.VCPUUsage{}, false
	}
	return record.VCPUUsage{CPUS: float64(run) / 1e9, RunDelayS: float64(wait) / 1e9}, true
}

func (s *vcpuSampler) usage() []record.VCPUUsage {
	out := make([]record.VCPUUsage, 0, len(s.last))
	for _, u := range s.last {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b record.VCPUUsage) int { return a.CPU - b.CPU })
	return out
}
