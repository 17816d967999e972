#!/bin/sh
# bench-kernel.sh measures, in one run on this machine:
#   1. the build time of the minimal profile against the defconfig profile
#      (both from the same source, into a scratch cache; goal: minimal ≤ 50 %)
#   2. `ktstr-kernel resolve` on a cache hit (goal ≤ 20 ms)
# and prints the numbers and ratios. It takes as long as both builds
# (about 7 + 35 minutes on 2 cores). No assertions: it reports.
#
# Usage: scripts/bench-kernel.sh [SPEC] [KEEP_DIR]
#   KEEP_DIR: keep the scratch cache there (e.g. to boot the defconfig kernel).
set -eu
spec=${1:-/usr/src/linux-source-6.12.tar.xz}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
cache=${2:-$(mktemp -d)}
now() { date +%s.%N; }

for profile in minimal defconfig; do
	start=$(now)
	"$bin/ktstr-kernel" build --cache-dir "$cache" --profile "$profile" --force "$spec" >/dev/null
	end=$(now)
	eval "t_$profile=$(echo "$end - $start" | bc)"
done
echo "build minimal:   ${t_minimal} s"
echo "build defconfig: ${t_defconfig} s"
echo "ratio minimal/defconfig: $(echo "scale=3; $t_minimal / $t_defconfig" | bc) (goal <= 0.5)"

# Resolve on a hit: best of 20, in milliseconds.
best=999999
for _ in $(seq 20); do
	start=$(now)
	"$bin/ktstr-kernel" resolve --cache-dir "$cache" "$spec" >/dev/null 2>&1
	end=$(now)
	ms=$(echo "($end - $start) * 1000" | bc)
	best=$(echo "if ($ms < $best) $ms else $best" | bc)
done
echo "resolve on a cache hit (best of 20): ${best} ms (goal <= 20)"
[ -n "${2:-}" ] || rm -rf "$cache"
