#!/bin/sh
# bench-telemetry.sh measures the cost of a worker's per-unit bookkeeping:
# CpuSpin units per second with it and without it, in one run, and prints
# the overhead (goal: ≤ 1 %). Each benchmark runs COUNT times; the medians
# are compared.
set -eu
count=${COUNT:-5}
cd "$(dirname "$0")/.."
# Interleaved measurement: bare and instrumented chunks alternate.
go test -run '^$' -bench 'TelemetryOverhead' -benchtime 100x -count "$count" ./lib/guest/worker/ | grep '^Benchmark' |
	awk '{ for (i = 1; i <= NF; i++) if ($i == "overhead-%") { print; v[n++] = $(i - 1) } }
	END { for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	      printf "interleaved telemetry overhead, median of %d: %.2f%% (goal <= 1%%)\n", n, (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
# Separate runs, for comparison (noisier: drift between runs).
out=$(go test -run '^$' -bench 'CpuSpinUnit' -benchtime 2s -count "$count" ./lib/guest/worker/)
echo "$out" | grep '^Benchmark'
echo "$out" | awk '
/CpuSpinUnitBare/          { bare[nb++] = $3 }
/CpuSpinUnitWithTelemetry/ { tel[nt++] = $3 }
function median(a, n,   i, j, t) {
	for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
}
END {
	b = median(bare, nb); t = median(tel, nt)
	printf "median ns/unit: bare %.1f, with telemetry %.1f\n", b, t
	printf "units/s: bare %.0f, with telemetry %.0f\n", 1e9 / b, 1e9 / t
	printf "telemetry overhead: %.2f%% (goal <= 1%%)\n", (t / b - 1) * 100
}'
