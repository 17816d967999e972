package workload

import (
	"testing"
	"time"
)

// The telemetry budget: a CpuSpin unit with its checkpoint (clock read, gap
// bookkeeping, a getcpu every 16 units) against the bare unit. Compare with
// scripts/bench-telemetry.sh, which prints the ratio.

func benchWorker() *worker {
	w := &worker{cpus: map[int]bool{}, lastCPU: -1}
	w.start = time.Now()
	w.last = w.start
	return w
}

func BenchmarkCpuSpinUnitBare(b *testing.B) {
	w := benchWorker()
	for i := 0; i < b.N; i++ {
		w.spin(1024)
		w.units++
	}
}

func BenchmarkCpuSpinUnitWithTelemetry(b *testing.B) {
	w := benchWorker()
	for i := 0; i < b.N; i++ {
		w.spin(1024)
		w.units++
		w.checkpoint()
	}
}
