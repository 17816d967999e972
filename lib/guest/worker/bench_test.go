package worker

import (
	"testing"
	"time"
)

// The telemetry budget: a CpuSpin unit with its checkpoint (clock read, gap
// bookkeeping, a getcpu every 16 units) against the bare unit. Compare with
// scripts/bench-telemetry.sh, which prints the ratio.

func benchWorker() *worker {
	w := &worker{lastCPU: -1, stride: 1}
	w.start = time.Now()
	w.last, w.markT, w.markCPU = w.start, w.start, threadCPUTime()
	return w
}

func BenchmarkCpuSpinUnitBare(b *testing.B) {
	w := benchWorker()
	for i := 0; i < b.N; i++ {
		w.Spin(1024)
		w.units++
	}
}

func BenchmarkCpuSpinUnitWithTelemetry(b *testing.B) {
	w := benchWorker()
	for i := 0; i < b.N; i++ {
		w.Spin(1024)
		w.done()
	}
}

// BenchmarkTelemetryOverhead alternates bare and instrumented CpuSpin
// loops in 20 ms chunks, so frequency drift and noise from other processes
// hit both alike, and reports the overhead of the bookkeeping as
// "overhead-%". Each b.N is one pair of chunks.
func BenchmarkTelemetryOverhead(b *testing.B) {
	bare, tel := benchWorker(), benchWorker()
	var bareUnits, telUnits uint64
	var bareTime, telTime time.Duration
	const chunk = 20 * time.Millisecond
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for n := 0; ; n++ {
			bare.Spin(1024)
			bare.units++
			if n%256 == 255 && time.Since(start) >= chunk {
				break
			}
		}
		bareTime += time.Since(start)
		bareUnits = bare.units
		start = time.Now()
		for n := 0; ; n++ {
			tel.Spin(1024)
			tel.done()
			if n%256 == 255 && time.Since(start) >= chunk {
				break
			}
		}
		telTime += time.Since(start)
		telUnits = tel.units
	}
	perBare := float64(bareTime) / float64(bareUnits)
	perTel := float64(telTime) / float64(telUnits)
	b.ReportMetric((perTel/perBare-1)*100, "overhead-%")
	b.ReportMetric(perBare, "ns/unit-bare")
	b.ReportMetric(perTel, "ns/unit-telemetry")
}
