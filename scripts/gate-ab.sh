#!/bin/sh
# gate-ab.sh measures the A/B gate on real runs: N rounds of a healthy
# scheduler twice (A and A2, an A/A pair: the noise) and of a fault (C),
# taking turns so that a change in host load falls on every side, then
# ktstr-stats compare at N+N runs and at 1+1 (each round alone). It exits 1
# when an A/A comparison finds a regression, or the A/B comparison does not
# find one in a timing metric (worst_spread by default) at N+N and at every
# 1+1, and prints the tables.
#
#   A, A2: the fixture without knobs; C: its long-slice knob (50x), or
#   FAULT='--flags slice-20x' etc.; one cgroup of 8 CPU-bound workers on
#   1,1,2,1 for 6 s (the fault is within a cgroup).
#
# Usage: scripts/gate-ab.sh [N] [OUTDIR]      (default N=3; needs jq)
#        HOGS=K     K spinning processes beside (the project's normal host
#                   wait, 60–80 %, takes about 3 on 2 CPUs)
#        FAULT='ktstr-boot flags'   side C's fault (default --flags long-slice)
#        METRIC=NAME                the timing metric that must regress
#        KTSTR_KERNEL=SPEC          the kernel (default: the newest cached)
set -eu
n=${1:-3}
out=${2:-$(mktemp -d /tmp/ktstr-gate-ab.XXXXXX)}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
PATH=$bin:$PATH
fault=${FAULT:---flags long-slice}
metric=${METRIC:-worst_spread}
mkdir -p "$out"
command -v jq >/dev/null || { echo "gate-ab: needs jq (apt-get install jq)" >&2; exit 2; }
kernel=""
[ -n "${KTSTR_KERNEL:-}" ] && kernel="--kernel $KTSTR_KERNEL"
store=$out/store
one=$out/one_cgroup.json
echo '{"name": "one_cgroup_contended", "steps": [{"cgroups": [{"name": "cg_0"}]}]}' >"$one"

# shellcheck source=scripts/hogs.sh
. "$(dirname "$0")/hogs.sh"
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM
start_hogs "${HOGS:-0}" "$out/load"

# side LABEL ROUND [ktstr-boot flags...]
side() {
	label=$1 round=$2
	shift 2
	# shellcheck disable=SC2086
	ktstr-boot $kernel --topology 1,1,2,1 --scheduler ktstr-fixture --scenario "$one" --workers 8 --duration 6 "$@" 2>>"$out/boot.log" |
		ktstr-stats --store "$store" store --label "$label" --label "$label-r$round" >>"$out/runs.ndjson"
}
r=1
while [ "$r" -le "$n" ]; do
	echo "gate-ab: round $r of $n" >&2
	side a "$r"
	side a2 "$r"
	# shellcheck disable=SC2086
	side c "$r" $fault
	r=$((r + 1))
done
stop_hogs

bad=0
# compare NAME A B WANT: WANT is "none" (no regression at all) or a metric
# that must regress.
compare() {
	name=$1 a=$2 b=$3 want=$4
	echo
	echo "== $name: $a vs $b"
	s=0
	ktstr-stats --store "$store" compare --a "label=$a" --b "label=$b" --pair-on scenario,topology,scheduler --all \
		>"$out/$name.ndjson" 2>"$out/$name.txt" || s=$?
	grep -v '^ *$' "$out/$name.txt" | grep -v ' UNCHANGED \| INFO ' || true
	wait=$(jq -rs '[.[] | select(.metric == "host_wait_pct") | .a, .b] | max // 0 | floor' "$out/$name.ndjson")
	echo "host wait (largest share of a run a vCPU waited for a host CPU, the sides' means): up to $wait %"
	regressions=$(jq -rs '[.[] | select(.verdict == "regression") | .metric] | join(" ")' "$out/$name.ndjson")
	case $want in
	none)
		if [ "$s" != 0 ] || [ -n "$regressions" ]; then
			echo "gate-ab: FAIL: $name found regressions in an A/A comparison: $regressions"
			bad=1
		fi
		;;
	*)
		case " $regressions " in
		*" $want "*) ;;
		*)
			echo "gate-ab: FAIL: $name did not find $want regressed (regressions: ${regressions:-none})"
			bad=1
			;;
		esac
		;;
	esac
}
compare "A-A ${n}+${n}" a a2 none
compare "A-C ${n}+${n}" a c "$metric"
r=1
while [ "$r" -le "$n" ]; do
	compare "A-A 1+1 round $r" "a-r$r" "a2-r$r" none
	compare "A-C 1+1 round $r" "a-r$r" "c-r$r" "$metric"
	r=$((r + 1))
done
echo
load_summary "$out/load"
if [ "$bad" = 0 ]; then
	echo "gate-ab: PASS (A/A: no regression; A/B: $metric regressed at ${n}+${n} and at every 1+1)"
else
	echo "gate-ab: FAIL"
fi
echo "records: $out/runs.ndjson, store $store" >&2
exit $bad
