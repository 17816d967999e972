#!/bin/sh
# bench-icount.sh: does QEMU's -icount make the guest's view of time
# independent of host load? It runs the same cases under multi-threaded TCG
# and under icount (single-threaded, guest clock = executed instructions,
# sleep=off), each with the host as it is and with the host kept busy by
# two spinning processes, N times, and prints per mode × load × case the
# verdicts, the spread and work-conservation values (mean and standard
# deviation) and the wall time; then, per mode, the ratio of the spread's
# standard deviation busy ÷ quiet (≈ 1: load-independent).
#
# Cases: EEVDF and the fixture's long-slice knob, two equal cgroups of 4
# CpuSpin workers each on 1,1,2,1, 6 s.
#
# Usage: scripts/bench-icount.sh [N] [OUTDIR]      (default N=3; needs jq)
set -eu
n=${1:-3}
out=${2:-$(mktemp -d /tmp/ktstr-icount.XXXXXX)}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
PATH=$bin:$PATH
mkdir -p "$out"
command -v jq >/dev/null || { echo "bench-icount: needs jq (apt-get install jq)" >&2; exit 2; }
base="--topology 1,1,2,1 --scenario cgroup_steady --workers 4 --duration 6"
# shellcheck source=scripts/hogs.sh
. "$(dirname "$0")/hogs.sh"
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM

run() { # mode load case args...
	mode=$1 load=$2 case=$3
	shift 3
	# shellcheck disable=SC2086
	ktstr-boot --tcg-threads "$mode" $base "$@" 2>>"$out/boot.log" | ktstr-verify --allow-inconclusive 2>/dev/null |
		jq -c --arg mode "$mode" --arg load "$load" --arg case "$case" 'select(.kind == "verdict") |
			{mode: $mode, load: $load, case: $case, status,
			 spread: ([.checks[] | select(.name | startswith("spread")) | .value] | max),
			 busy: ([.checks[] | select(.name | startswith("work_conservation")) | .value] | min)}' >>"$out/results.ndjson" || true
}

for load in quiet busy; do
	[ "$load" = quiet ] || start_hogs 2
	i=1
	while [ "$i" -le "$n" ]; do
		echo "bench-icount: $load round $i of $n" >&2
		for mode in multi icount; do
			start=$(date +%s)
			run "$mode" "$load" eevdf
			run "$mode" "$load" long-slice --scheduler ktstr-fixture --flags long-slice
			echo "{\"mode\":\"$mode\",\"load\":\"$load\",\"wall\":$(($(date +%s) - start))}" >>"$out/walls.ndjson"
		done
		i=$((i + 1))
	done
	stop_hogs
done

printf '%-7s %-6s %-11s %-22s %-16s %-16s\n' MODE LOAD CASE VERDICTS SPREAD_MEAN±SD BUSY_MEAN±SD
jq -rs 'def sd: (if length > 1 then (add / length) as $m | (map(. - $m | . * .) | add / (length - 1) | sqrt) else 0 end);
	group_by([.mode, .load, .case])[] | [.[0].mode, .[0].load, .[0].case,
	(group_by(.status) | map("\(.[0].status)×\(length)") | join(",")),
	([.[].spread | select(. != null)] | "\(if length > 0 then add / length | . * 10 | round / 10 else "-" end)±\(sd | . * 10 | round / 10)"),
	([.[].busy | select(. != null)] | "\(if length > 0 then add / length | . * 10 | round / 10 else "-" end)±\(sd | . * 10 | round / 10)")] | @tsv' "$out/results.ndjson" |
	while IFS="$(printf '\t')" read -r m l c v s b; do printf '%-7s %-6s %-11s %-22s %-16s %-16s\n' "$m" "$l" "$c" "$v" "$s" "$b"; done
echo
jq -rs 'def sd: (if length > 1 then (add / length) as $m | (map(. - $m | . * .) | add / (length - 1) | sqrt) else 0 end);
	group_by(.mode)[] | .[0].mode as $m |
	([.[] | select(.load == "quiet" and .case == "eevdf") | .spread | select(. != null)] | sd) as $q |
	([.[] | select(.load == "busy" and .case == "eevdf") | .spread | select(. != null)] | sd) as $b |
	"\($m): EEVDF spread SD busy ÷ quiet = \(if $q > 0 then ($b / $q * 100 | round / 100) else "n/a (quiet SD 0)" end)"' "$out/results.ndjson"
jq -rs 'group_by([.mode, .load])[] | "\(.[0].mode) \(.[0].load): \(map(.wall) | add / length) s per round of 2 runs"' "$out/walls.ndjson"
echo "records: $out" >&2
