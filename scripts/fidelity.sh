#!/bin/sh
# shellcheck disable=SC2086 # $two, $eight, $fixture, $kernel: argument lists, split on purpose
# fidelity.sh is the checks' gate: it runs the healthy set, the fixture's
# gross faults and ladders of faults near each limit N times each, prints a
# confusion table and the smallest fault each check catches, and fails
# (exit 1) when a healthy case fails (unless the failure shows the trace
# of one of its scheduler's documented bugs: lib/judge/knownbug) or is
# inconclusive in more than 5 % of its runs, a gross fault is not caught
# (failed) by its own check every time, a check flags no rung of its
# near-limit ladder every time (flagged:
# failed or inconclusive, so the verdict is never green), or any expected
# verdict did not arrive.
#
#   healthy: EEVDF, scx_simple, scx_qmap, scx_central, scx_flatcg and the
#            fixture without knobs, on 1,1,2,1 and 1,2,2,1
#   gross:   the fixture's starve (starvation), long-slice 50x (fair_share),
#            one-cpu (work_conservation: 50 % busy against 60), hold-cgroup
#            one dispatch in 20 (cgroup_fairness), park forever
#            (starvation), park-all (stall) on 1,1,2,1
#   ladders: slice 3x 6x 10x 20x (fair_share), hold one in 3 4 6
#            (cgroup_fairness), park 1.5 s 2.5 s 4 s 6 s (gap)
# Every case runs two equal cgroups of 4 CPU-bound workers for 6 s (more
# workers than CPUs: unfairness needs contention); the slice faults run one
# cgroup of 8, since their fault is within a cgroup.
#
# Usage: scripts/fidelity.sh [N] [OUTDIR]     (default N=10; needs jq)
#        HOGS=K    K spinning processes beside (a loaded host; the load
#                  average is sampled every 10 s and reported)
#        KTSTR_KERNEL=SPEC to choose the kernel (default: the newest cached)
#        REPORT=1  only print the tables and the gate of OUTDIR's verdicts
#        REJUDGE=1 judge OUTDIR's recorded runs again with this ktstr-verify
#                  (its verdicts.ndjson is rewritten; the old one is kept as
#                  verdicts.ndjson.old), then report
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
eight="--scenario $one --workers 8 --duration 6"
fixture="--topology 1,1,2,1 --scheduler ktstr-fixture"

# verdict_summary is what the gate keeps of a verdict: its status, the
# checks that did not pass, as "name:status" (the name before any [), and
# the documented scheduler bug whose trace a failed run shows, if any.
verdict_summary='select(.kind == "verdict") | {status, known_bug, fired: [.checks[] | select(.status != "pass" and .status != "skip") | (.name | sub("\\[.*"; "")) + ":" + .status]}'

# run LABEL KIND OWN SIZE ARGS...: KIND is healthy, gross or ladder; OWN
# the check that must catch a fault (its name before any [); SIZE orders a
# ladder's rungs, mildest first.
run() {
	label=$1 kind=$2 own=$3 size=$4
	shift 4
	ktstr-boot $kernel "$@" 2>>"$out/boot.log" | tee -a "$out/runs.ndjson" | ktstr-verify --json --allow-inconclusive 2>/dev/null |
		jq -c --arg case "$label" --arg kind "$kind" --arg own "$own" --argjson size "$size" \
			"{case: \$case, kind: \$kind, own: \$own, size: \$size} + ($verdict_summary)" >>"$out/verdicts.ndjson" || true
}

# shellcheck source=scripts/hogs.sh
. "$(dirname "$0")/hogs.sh"
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM

# rejudge: ktstr-verify's verdicts on stdin → one summary line per run,
# labelled by the lines of file $1 (case, kind, own, size), in run order.
rejudge() {
	jq -c "$verdict_summary" |
		jq -cs --slurpfile labels "$1" 'if length != ($labels | length) then error("\(length) verdicts for \($labels | length) recorded runs") else
			[$labels, .] | transpose[] | .[0] + .[1] end'
}

if [ -n "${REJUDGE:-}" ]; then
	if [ ! -s "$out/runs.ndjson" ] || [ ! -s "$out/verdicts.ndjson" ]; then
		echo "fidelity: REJUDGE needs $out/runs.ndjson and $out/verdicts.ndjson" >&2
		exit 2
	fi
	mv "$out/verdicts.ndjson" "$out/verdicts.ndjson.old"
	# A slice fault's own check was spread before fair_share existed.
	jq -c '{case, kind, own: (if (.case | test("slice")) then "fair_share" else .own end), size}' "$out/verdicts.ndjson.old" >"$out/labels.ndjson"
	jq -c 'select(.kind == "run")' "$out/runs.ndjson" | ktstr-verify --json --allow-inconclusive 2>/dev/null | rejudge "$out/labels.ndjson" >"$out/verdicts.ndjson"
	rm -f "$out/labels.ndjson"
elif [ -z "${REPORT:-}" ]; then
	start_hogs "${HOGS:-0}" "$out/load"
	i=1
	while [ "$i" -le "$n" ]; do
		echo "fidelity: round $i of $n" >&2
		for topo in 1,1,2,1 1,2,2,1; do
			run "eevdf $topo" healthy - 0 --topology $topo $two
			for s in scx_simple scx_qmap scx_central scx_flatcg ktstr-fixture; do
				run "$s $topo" healthy - 0 --topology $topo --scheduler $s $two
			done
		done
		run "starve" gross starvation 0 $fixture --flags starve $two
		run "long-slice 50x" gross fair_share 0 $fixture --flags long-slice $eight
		run "one-cpu" gross work_conservation 0 $fixture --flags one-cpu $two
		run "hold 1 in 20" gross cgroup_fairness 0 $fixture --flags hold-cgroup $two
		run "park forever" gross starvation 0 $fixture --flags park $two
		run "park-all" gross stall 0 $fixture --flags park-all $two
		for f in 3 6 10 20; do
			run "slice ${f}x" ladder fair_share $f $fixture --scheduler-args="--long-slice --slice-factor=$f" $eight
		done
		for h in 3 4 6; do
			run "hold 1 in $h" ladder cgroup_fairness $h $fixture --scheduler-args="--hold-cgroup=cg_1 --hold-every=$h" $two
		done
		for p in 1500 2500 4000 6000; do
			run "park ${p}ms" ladder gap $p $fixture --scheduler-args="--park-delay=1s --park-for=${p}ms" $two
		done
		i=$((i + 1))
	done
	stop_hogs
fi

v=$out/verdicts.ndjson
[ -s "$v" ] || { echo "fidelity: no verdicts in $v" >&2; exit 1; }
echo
printf '%-22s %-7s %5s %5s %5s %5s %6s  %s\n' CASE KIND PASS FAIL INCON ERROR CAUGHT "CHECKS FIRED (times)"
jq -rs 'group_by(.case)[] | [.[0].case, .[0].kind,
	(map(select(.status == "pass")) | length), (map(select(.status == "fail")) | length),
	(map(select(.status == "inconclusive")) | length), (map(select(.status == "error")) | length),
	(if .[0].own == "-" then "-" else "\(map(select(.own as $o | .fired | index($o + ":fail"))) | length)/\(length)" end),
	([.[].fired[]] | group_by(.) | map("\(.[0])×\(length)") | join(" "))] | @tsv' "$v" |
	while IFS="$(printf '\t')" read -r c k p f in e caught fired; do
		printf '%-22s %-7s %5s %5s %5s %5s %6s  %s\n' "$c" "$k" "$p" "$f" "$in" "$e" "$caught" "$fired"
	done
if [ -s "$out/load" ]; then
	echo
	load_summary "$out/load"
fi

# Per ladder, the smallest rung its check caught (failed) every time and
# the smallest it flagged (failed or inconclusive: ktstr-verify exits
# non-zero, the rung never lands green) every time; rungs are in run
# order, smallest first.
echo
echo "smallest fault each check catches / flags every time (of the ladder; gross faults above):"
jq -rs '[.[] | select(.kind == "ladder")] | group_by(.own)[] | .[0].own as $o |
	[group_by(.size)[] | {case: .[0].case, n: length,
		caught: (map(select(.fired | index($o + ":fail"))) | length),
		flagged: (map(select((.fired | index($o + ":fail")) or (.fired | index($o + ":inconclusive")))) | length)}] as $rungs |
	"  \($o): caught from " + ([$rungs[] | select(.caught == .n)][0].case // "none") +
	", flagged from " + ([$rungs[] | select(.flagged == .n)][0].case // "none") +
	"  (caught/flagged/runs: " + ([$rungs[] | "\(.case) \(.caught)/\(.flagged)/\(.n)"] | join(", ")) + ")"' "$v"

# A healthy scheduler's failure that shows the trace of one of its
# documented bugs (lib/judge/knownbug) is a bug found, not a false alarm of
# the checks: reported here, not counted against them.
jq -rs '[.[] | select(.kind == "healthy" and .known_bug != null)] | select(length > 0) |
	"\nknown scheduler bugs found (real bugs, failed, not counted as false alarms): " +
	(group_by(.known_bug) | map("\(.[0].known_bug) ×\(length) (\(map(.case) | unique | join(", ")))") | join("; "))' "$v"

# The gate.
bad=0
expected=$n
{
	jq -rs --argjson n "$expected" 'group_by(.case)[] | select(length != $n) | "\(.[0].case): \(length) of \($n) verdicts arrived"' "$v"
	jq -rs '[.[] | select(.kind == "healthy")] | . as $h | ($h | length) as $t |
		($h | map(select((.status == "fail" and .known_bug == null) or .status == "error")) | length) as $f |
		($h | map(select(.status == "inconclusive")) | length) as $i |
		(if $f > 0 then "healthy: \($f) of \($t) runs failed or errored" else empty end),
		(if $i * 20 > $t then "healthy: \($i) of \($t) runs inconclusive, more than 5 %" else empty end)' "$v"
	jq -rs 'group_by(.case)[] | select(.[0].kind == "gross") | .[0].own as $o |
		select(any(.[]; (.fired | index($o + ":fail")) | not)) |
		"\(.[0].case): its own check \($o) failed \(map(select(.fired | index($o + ":fail"))) | length) of \(length) times"' "$v"
	jq -rs '[.[] | select(.kind == "ladder")] | group_by(.own)[] | .[0].own as $o |
		select([group_by(.case)[] | all(.[]; (.fired | index($o + ":fail")) or (.fired | index($o + ":inconclusive")))] | any | not) |
		"\($o): no rung of its near-limit ladder flagged every time (each landed green at least once)"' "$v"
} >"$out/gate"
echo
if [ -s "$out/gate" ]; then
	echo "fidelity: FAIL"
	sed 's/^/  /' "$out/gate"
	bad=1
else
	echo "fidelity: PASS (healthy: no fail, ≤ 5 % inconclusive; every gross fault caught by its own check; every ladder flagged near its limit)"
fi
echo "records: $out/runs.ndjson (runs), $v (verdict summaries)" >&2
exit $bad
