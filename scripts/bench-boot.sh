#!/bin/sh
# bench-boot.sh measures, in one run:
#   P1: ktstr-boot's wall time for a probe job (boot, report topology, power
#       off) divided by a bare qemu-system-x86_64 boot of the same kernel with
#       the same machine (ktstr-boot's own QEMU command line) and a tiny
#       busybox init that powers off at once (goal ≤ 1.05);
#   P2: ktstr-boot's host-side preparation on a warm cache, from job start
#       to QEMU exec (run record timings.prepare_ms; goal ≤ 20 ms).
# Runs alternate N times; medians are compared. No assertions: it reports.
#
# Usage: scripts/bench-boot.sh [N] [TOPOLOGY] [KERNEL]
set -eu
n=${1:-5}
topo=${2:-1,2,2,1}
kernel=${3:-6.12}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
tmp=$(mktemp -d)
# sh runs an INT/TERM trap and carries on: exit from it, so EXIT cleans up.
trap 'rm -rf "$tmp"; rm -f /dev/shm/ktstr-bench-*' EXIT
trap 'exit 130' INT TERM
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# The tiny init: busybox powering the machine off.
mkdir -p "$tmp/root/bin" "$tmp/root/proc"
cp "$(command -v busybox)" "$tmp/root/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' >"$tmp/root/init"
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/tiny.cpio.gz"

"$bin/ktstr-boot" --kernel "$kernel" --topology "$topo" >/dev/null 2>&1 # warm the initramfs cache
for i in $(seq "$n"); do
	start=$(now)
	"$bin/ktstr-boot" --kernel "$kernel" --topology "$topo" >"$tmp/run.json" 2>/dev/null
	end=$(now)
	echo "$end - $start" | bc >>"$tmp/ktstr"
	sed -n 's/.*"prepare_ms":\([0-9.]*\).*/\1/p' "$tmp/run.json" >>"$tmp/prep"
	# The same QEMU command line, with the tiny init and fresh file names.
	python3 - "$tmp" <<'PY' >"$tmp/bare.args"
import json, sys
tmp = sys.argv[1]
r = json.load(open(tmp + "/run.json"))
args = r["host"]["qemu_command"]
out = []
for a in args:
    if a.startswith("file,id=console,path="):
        a = "file,id=console,path=" + tmp + "/bare-console.log"
    elif a.startswith("file,id=results,path="):
        a = "file,id=results,path=" + tmp + "/bare-results"
    elif "mem-path=/dev/shm/ktstr-" in a:
        a = a.replace("mem-path=/dev/shm/ktstr-", "mem-path=/dev/shm/ktstr-bench-")
    out.append(a)
i = out.index("-initrd"); out[i + 1] = tmp + "/tiny.cpio.gz"
print("\n".join(out))
PY
	start=$(now)
	tr '\n' '\0' <"$tmp/bare.args" | xargs -0 sh -c '"$@" >/dev/null 2>&1' sh
	end=$(now)
	echo "$end - $start" | bc >>"$tmp/bare"
	rm -f /dev/shm/ktstr-bench-*
done
k=$(median <"$tmp/ktstr")
b=$(median <"$tmp/bare")
p=$(median <"$tmp/prep")
echo "topology $topo, kernel $kernel, $n runs each (median)"
echo "ktstr-boot probe job: ${k} s"
echo "bare qemu, tiny init:  ${b} s"
echo "P1 ratio: $(echo "scale=3; $k / $b" | bc) (goal <= 1.05)"
echo "P2 host-side preparation: ${p} ms (goal <= 20)"
