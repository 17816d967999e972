#!/bin/sh
# ensure-kernel.sh builds (or finds in the cache) the kernels the end-to-end
# tests boot. First SPEC, with four concurrent builders: it checks that they
# build at most once and all get the same record, which is the cache's
# per-key lock doing its job. On a fresh machine one of them builds (~7 min
# on 2 cores) and keeps its build tree (--keep-tree); afterwards all four
# are cache hits. Then the second entry of the multi-kernel tests: the same
# SPEC with e2e/testdata/variant.config (another CONFIG_LOCALVERSION), built
# in the kept tree, so only what the release string touches is rebuilt
# (about a minute; a full build where the first entry was cached without a
# kept tree). The two must differ in key and label.
#
# Usage: scripts/ensure-kernel.sh [SPEC]      (default 6.12)
set -eu
spec=${1:-6.12}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

for i in 1 2 3 4; do
	# rc=$? after ||: set -e would end the subshell before it wrote rc.
	(rc=0; "$bin/ktstr-kernel" build --keep-tree "$spec" >"$tmp/out$i" 2>"$tmp/err$i" || rc=$?; echo $rc >"$tmp/rc$i") &
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

# The second entry. Its record goes to a file; its label must differ.
start=$(date +%s)
"$bin/ktstr-kernel" build --keep-tree --fragment "$top/e2e/testdata/variant.config" "$spec" >"$tmp/variant" || {
	echo "ensure-kernel: the variant build failed" >&2
	exit 1
}
label() { sed -n 's/.*"label":"\([^"]*\)".*/\1/p' "$1"; }
key() { sed -n 's/.*"key":"\([^"]*\)".*/\1/p' "$1"; }
if [ "$(label "$tmp/out1")" = "$(label "$tmp/variant")" ] || [ "$(key "$tmp/out1")" = "$(key "$tmp/variant")" ] || [ -z "$(label "$tmp/variant")" ]; then
	echo "ensure-kernel: the variant is not a kernel of its own: $(key "$tmp/out1") $(label "$tmp/out1") vs $(key "$tmp/variant") $(label "$tmp/variant")" >&2
	exit 1
fi
echo "ensure-kernel: kernels $(label "$tmp/out1") and $(label "$tmp/variant") ($(grep -o '"cache":"[a-z]*"' "$tmp/variant") in $(($(date +%s) - start)) s)" >&2
