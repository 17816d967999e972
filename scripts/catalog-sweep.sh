#!/bin/sh
# catalog-sweep.sh runs every catalog scenario on each topology REPEAT times
# (EEVDF unless SCHEDULER is set) and prints, per scenario, how many runs
# passed, were inconclusive (host starvation shown), failed or errored.
#
# Usage: scripts/catalog-sweep.sh [REPEAT] [TOPOLOGY...]
#   REPEAT defaults to 5, topologies to 1,1,2,1 1,2,2,1. Records are kept in
#   $OUT (default: a temporary directory, printed).
set -eu
repeat=${1:-5}
[ $# -gt 0 ] && shift
topos=${*:-1,1,2,1 1,2,2,1}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
out=${OUT:-$(mktemp -d)}
sched=""
[ -z "${SCHEDULER:-}" ] || sched="--scheduler=$SCHEDULER"
for i in $(seq "$repeat"); do
	# shellcheck disable=SC2086
	"$bin/ktstr-topo" $topos | "$bin/ktstr-boot" -j 2 --scenario all $sched >"$out/runs$i.ndjson" 2>"$out/boot$i.log" || true
	"$bin/ktstr-verify" -q <"$out/runs$i.ndjson" >"$out/verdicts$i.ndjson" 2>/dev/null || true
	echo "sweep $i of $repeat done: $(grep -c '"kind":"verdict"' "$out/verdicts$i.ndjson") verdicts" >&2
done
echo "records in $out"
cat "$out"/verdicts*.ndjson | python3 -c '
import json, sys, collections
by = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    v = json.loads(line)
    by[v["subject"]][v["status"]] += 1
total = collections.Counter()
for subject in sorted(by):
    c = by[subject]
    total.update(c)
    if set(c) - {"pass", "skip"}:
        print(f"{subject}: " + ", ".join(f"{k} {n}" for k, n in sorted(c.items())))
print("all: " + ", ".join(f"{k} {n}" for k, n in sorted(total.items())))
clean = sum(1 for s in by.values() if set(s) <= {"pass"})
skipped = sum(1 for s in by.values() if set(s) <= {"skip"})
print(f"{clean} of {len(by)} scenario x topology cases passed every run; {skipped} skipped (topology too small)")
'
