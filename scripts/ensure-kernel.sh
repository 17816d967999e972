#!/bin/sh
# ensure-kernel.sh builds (or finds in the cache) the kernel the end-to-end
# tests boot, with four concurrent builders: it checks that they build at
# most once and all get the same record, which is the cache's per-key lock
# doing its job. On a fresh machine one of them builds (~7 min on 2 cores);
# afterwards all four are cache hits.
#
# Usage: scripts/ensure-kernel.sh [SPEC]      (default 6.12)
set -eu
spec=${1:-6.12}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

for i in 1 2 3 4; do
	("$bin/ktstr-kernel" build "$spec" >"$tmp/out$i" 2>"$tmp/err$i"; echo $? >"$tmp/rc$i") &
done
wait
# Builder 1's progress is what the user wants to see.
for i in 1 2 3 4; do
	sed "s/^/[builder $i] /" "$tmp/err$i" >&2
done
for i in 1 2 3 4; do
	if [ "$(cat "$tmp/rc$i")" != 0 ]; then
		echo "ensure-kernel: builder $i failed" >&2
		exit 1
	fi
done
built=$(cat "$tmp"/out* | grep -c '"cache":"built"' || true)
# Records must be identical apart from whether this builder built or hit.
distinct=$(sed 's/"cache":"[a-z]*",//' "$tmp"/out* | sort -u | wc -l)
if [ "$built" -gt 1 ] || [ "$distinct" -ne 1 ]; then
	echo "ensure-kernel: $built builds and $distinct distinct records from 4 concurrent builders; want at most 1 and 1" >&2
	exit 1
fi
echo "ensure-kernel: 4 concurrent builders: $built built, $((4 - built)) cache hits, 1 distinct record" >&2
