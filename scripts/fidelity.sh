#!/bin/sh
# fidelity.sh runs the healthy set and the fixture's live-misbehaviour knobs
# N times each and prints a confusion table: per case, how often the verdict
# was pass / fail / inconclusive / error, and which checks fired. The goal:
# every fault caught N of N times by its own check; the healthy set never
# failing and inconclusive in at most 5 % of runs.
#
#   healthy: EEVDF, scx_simple, scx_qmap, scx_central, scx_flatcg and the
#            fixture without knobs, on 1,1,2,1 and 1,2,2,1
#   faults:  the fixture's starve, long-slice, one-cpu, hold-cgroup, park,
#            park-all (every worker stalls, the agent runs) on 1,1,2,1
# Every case runs two equal cgroups of 4 CPU-bound workers for 6 s (more
# workers than CPUs: unfairness needs contention); long-slice runs one
# cgroup of 8, since its fault is within a cgroup.
#
# Usage: scripts/fidelity.sh [N] [OUTDIR]     (default N=10; needs jq)
#        KTSTR_KERNEL=SPEC to choose the kernel (default: the newest cached)
set -eu
n=${1:-10}
out=${2:-$(mktemp -d /tmp/ktstr-fidelity.XXXXXX)}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
PATH=$bin:$PATH
mkdir -p "$out"
command -v jq >/dev/null || { echo "fidelity: needs jq (apt-get install jq)" >&2; exit 2; }
kernel=""
[ -n "${KTSTR_KERNEL:-}" ] && kernel="--kernel $KTSTR_KERNEL"

one=$out/one_cgroup.json
echo '{"name": "one_cgroup_contended", "steps": [{"cgroups": [{"name": "cg_0"}]}]}' >"$one"
two="--scenario cgroup_steady --workers 4 --duration 6"

run() { # label, then ktstr-boot arguments
	label=$1
	shift
	# shellcheck disable=SC2086
	ktstr-boot $kernel "$@" 2>>"$out/boot.log" | tee -a "$out/runs.ndjson" | ktstr-verify --allow-inconclusive 2>/dev/null |
		jq -c --arg case "$label" 'select(.kind == "verdict") | {case: $case, status,
			fired: [.checks[] | select(.status != "pass" and .status != "skip") | (.name | sub("\\[.*"; "")) + ":" + .status]}' >>"$out/verdicts.ndjson" || true
}

i=1
while [ "$i" -le "$n" ]; do
	echo "fidelity: round $i of $n" >&2
	for topo in 1,1,2,1 1,2,2,1; do
		run "eevdf $topo" --topology $topo $two
		for s in scx_simple scx_qmap scx_central scx_flatcg ktstr-fixture; do
			run "$s $topo" --topology $topo --scheduler $s $two
		done
	done
	for k in starve one-cpu hold-cgroup park park-all; do
		run "fault $k" --topology 1,1,2,1 --scheduler ktstr-fixture --flags $k $two
	done
	run "fault long-slice" --topology 1,1,2,1 --scheduler ktstr-fixture --flags long-slice --scenario "$one" --workers 8 --duration 6
	i=$((i + 1))
done

echo
printf '%-26s %5s %5s %5s %5s  %s\n' CASE PASS FAIL INCON ERROR "CHECKS FIRED (times)"
jq -rs 'group_by(.case)[] | [.[0].case,
	(map(select(.status == "pass")) | length), (map(select(.status == "fail")) | length),
	(map(select(.status == "inconclusive")) | length), (map(select(.status == "error")) | length),
	([.[].fired[]] | group_by(.) | map("\(.[0])×\(length)") | join(" "))] | @tsv' "$out/verdicts.ndjson" |
	while IFS="$(printf '\t')" read -r c p f in e fired; do
		printf '%-26s %5s %5s %5s %5s  %s\n' "$c" "$p" "$f" "$in" "$e" "$fired"
	done
echo "records: $out/runs.ndjson (runs), $out/verdicts.ndjson (verdict summaries)" >&2
