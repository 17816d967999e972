#!/bin/sh
# bench-tcg-patching.sh shows why ktstr-boot picks the TCG threading mode
# by kernel: it toggles a static key (kernel.sched_schedstats) 300 times
# with 4 busy vCPUs, N boots per case, and counts the runs that crashed.
#
# Usage: scripts/bench-tcg-patching.sh KERNEL [N]
#   KERNEL: a bzImage with JUMP_LABEL (e.g. ktstr-kernel build 6.12 --profile defconfig)
# Cases: --tcg-threads multi (forced) and auto (single for such kernels).
set -eu
kernel=$1
n=${2:-3}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
job='for i in 1 2 3 4; do (while :; do :; done) & done
for i in $(seq 300); do echo 0 > /proc/sys/kernel/sched_schedstats; echo 1 > /proc/sys/kernel/sched_schedstats; done; echo toggled 300'
for mode in multi auto; do
	ok=0 bad=0
	for _ in $(seq "$n"); do
		out=$("$bin/ktstr-boot" --kernel "$kernel" --accel tcg --tcg-threads "$mode" --topology 1,1,4,1 --timeout 240 --exec "$job" 2>/dev/null || true)
		case "$out" in
		*'"outcome":"completed"'*) ok=$((ok + 1)) ;;
		*) bad=$((bad + 1)); echo "$mode: $(echo "$out" | sed -n 's/.*"reason":"\([^"]*\)".*/\1/p')" ;;
		esac
	done
	echo "tcg-threads=$mode: $ok of $n completed, $bad crashed or failed"
done
