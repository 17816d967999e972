#!/bin/sh
# bench-gauntlet.sh [ROUNDS]: runs per hour of one small gauntlet matrix (6
# jobs: topologies 1,1,1,1 and 1,1,2,1 × cgroup_steady, sched_batch,
# sched_idle under EEVDF, 3 s each), planned once and run three ways:
#
#   serial       ktstr-boot -j 1: one VM at a time
#   j2-oc2       ktstr-boot -j 2 --overcommit 2: two VMs at once whatever
#                their vCPUs add up to (what -j 2 did before vCPU packing)
#   capacity     ktstr-boot -j 4 (default --overcommit 1): as many VMs as
#                fit the host's CPUs by vCPUs, biggest first
#
# and judged by ktstr-verify. Every job is a healthy scheduler on a healthy
# scenario, so a fail verdict is a false fail; inconclusive means the
# measured host noise explained a violation. The modes take turns ROUNDS
# times (default 1) so a change in the host's load falls on all of them.
# Prints one table row per mode: jobs, wall time, runs per hour, verdicts,
# and the highest vCPU overcommit a run record reports.
set -eu
rounds=${1:-1}
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here/../bin:$PATH"
export PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ktstr-bench-gauntlet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT TERM

ktstr-kernel build 6.12 >/dev/null 2>&1
ktstr-topo 1,1,1,1 1,1,2,1 |
	ktstr-boot --plan --kernel 6.12 --scenario cgroup_steady,sched_batch,sched_idle --duration 3 >"$tmp/plan.ndjson"
jobs=$(grep -c '"kind":"job"' "$tmp/plan.ndjson")
echo "bench-gauntlet: $jobs jobs, $(nproc) host CPUs, $rounds round(s)" >&2

for mode in serial j2-oc2 capacity; do
	echo 0 >"$tmp/$mode.wall"
	: >"$tmp/$mode.runs"
done
r=1
while [ "$r" -le "$rounds" ]; do
	for mode in serial j2-oc2 capacity; do
		case $mode in
		serial) flags="-j 1" ;;
		j2-oc2) flags="-j 2 --overcommit 2" ;;
		capacity) flags="-j 4" ;;
		esac
		echo "bench-gauntlet: round $r: $mode (ktstr-boot $flags)" >&2
		start=$(date +%s.%N)
		# shellcheck disable=SC2086
		ktstr-boot $flags <"$tmp/plan.ndjson" >>"$tmp/$mode.runs" 2>>"$tmp/$mode.log" || true
		end=$(date +%s.%N)
		awk -v a="$start" -v b="$end" '{ printf "%.3f\n", $1 + b - a }' "$tmp/$mode.wall" >"$tmp/$mode.wall.new"
		mv "$tmp/$mode.wall.new" "$tmp/$mode.wall"
	done
	r=$((r + 1))
done

printf '%-10s %5s %8s %9s %5s %5s %13s %6s %14s\n' mode runs wall_s runs/hour pass fail inconclusive error max_overcommit
for mode in serial j2-oc2 capacity; do
	ktstr-verify <"$tmp/$mode.runs" >"$tmp/$mode.verdicts" 2>/dev/null || true
	count() { grep -c "^{\"kind\":\"verdict\".*\"subject\":\"[^\"]*\",\"status\":\"$1\"" "$tmp/$mode.verdicts" || true; }
	n=$(grep -c '"kind":"run"' "$tmp/$mode.runs" || true)
	wall=$(cat "$tmp/$mode.wall")
	oc=$(grep -o '"vcpu_overcommit":[0-9.]*' "$tmp/$mode.runs" | cut -d: -f2 | sort -g | tail -n 1)
	printf '%-10s %5d %8.1f %9.0f %5d %5d %13d %6d %14s\n' "$mode" "$n" "$wall" "$(echo "$n $wall" | awk '{ print $1 * 3600 / $2 }')" \
		"$(count pass)" "$(count fail)" "$(count inconclusive)" "$(count error)" "${oc:-?}"
done
