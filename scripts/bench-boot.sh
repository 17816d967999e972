#!/bin/sh
# bench-boot.sh measures, in one run:
#   R1: ktstr-boot's wall time for a probe job (start, report topology,
#       power off) restored from a warm snapshot, divided by a bare
#       qemu-system-x86_64 boot of the kernel's bzImage with the same machine
#       and a tiny busybox init that powers off at once (goal <= 0.25);
#   R2: the same probe job booted cold through PVH (--no-snapshot), divided
#       by the same bare bzImage boot (goal <= 0.65); both also against a
#       bare boot with ktstr-boot's firmware and kernel arguments (what its
#       own choices are worth beside PVH and snapshots); and, for reference,
#       the job booted from the bzImage (--no-snapshot --boot bzimage: the
#       harness before PVH and snapshots);
#   P2: ktstr-boot's host-side preparation on a warm cache, from job start
#       to QEMU exec (run record timings.prepare_ms; goal <= 20 ms);
#   G:  unless GAUNTLET=0, a gauntlet of the scenario catalog (or $SCENARIOS,
#       comma-separated) on 1,1,2,1 and 1,2,2,1 (or $TOPOS) as the harness
#       ran it before fast starts ("before": --no-snapshot --boot bzimage
#       --firmware seabios, or $BEFORE) and as it runs now ("after":
#       restored from snapshots): runs per hour of each sweep, and whether
#       their verdicts agree, subject by subject.
# Each ratio is the median process wall time (what a caller waits for) over
# N alternating runs; the VM's own wall time (timings.wall_s) is printed
# beside it. No assertions: it reports.
#
# Usage: scripts/bench-boot.sh [N] [TOPOLOGY] [KERNEL]
#   GAUNTLET=0 skips the gauntlet; SCENARIOS=a,b,c runs a subset of it;
#   DURATION (default 3; "default": each scenario's own) is its scenario
#   duration; TOPOS (default "1,1,2,1 1,2,2,1") its topologies. The catalog
#   sweep of make test (TestCatalogSweep) is
#   PROBES=0 TOPOS=1,2,2,1 DURATION=default. PROBES=0 skips the probe
#   jobs. BASELINE=1 runs the "after" sweep like "before": how often two
#   such sweeps disagree on this host (timing verdicts under host noise).
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
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
ratio() { echo "scale=3; $1 / $2" | bc; }

# The tiny init: busybox powering the machine off.
mkdir -p "$tmp/root/bin" "$tmp/root/proc"
cp "$(command -v busybox)" "$tmp/root/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' >"$tmp/root/init"
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/tiny.cpio.gz"

# The bare machine: ktstr-boot's own QEMU command line for a bzImage boot,
# with the tiny init and fresh file names, and QEMU's defaults where
# ktstr-boot chooses for speed (its firmware, -bios; q35 without SATA and
# SMBus; the kernel arguments that skip legacy ptys and the RAPL PMU): the
# reference is a plain QEMU boot of the kernel. bare-tuned keeps those
# choices: how much of a ratio comes from them rather than from PVH and the
# harness.
"$bin/ktstr-boot" --kernel "$kernel" --topology "$topo" --no-snapshot --boot bzimage >"$tmp/bz.json" 2>/dev/null
for variant in bare bare-tuned; do
python3 - "$tmp" "$variant" <<'PY' >"$tmp/$variant.args"
import json, sys
tmp, variant = sys.argv[1], sys.argv[2]
r = json.load(open(tmp + "/bz.json"))
tuned = {"pty.legacy_count=0", "initcall_blacklist=rapl_pmu_init"}
out = []
args = r["host"]["qemu_command"]
skip = False
for i, a in enumerate(args):
    if skip:
        skip = False
        continue
    if a == "-bios" and variant == "bare":
        skip = True
        continue
    if a.startswith("file,id=console,path="):
        a = "file,id=console,path=" + tmp + "/bare-console.log"
    elif a.startswith("file,id=results,path="):
        a = "file,id=results,path=" + tmp + "/bare-results"
    elif "mem-path=/dev/shm/ktstr-" in a:
        a = a.replace("mem-path=/dev/shm/ktstr-", "mem-path=/dev/shm/ktstr-bench-")
    elif i > 0 and args[i - 1] == "-append" and variant == "bare":
        a = " ".join(w for w in a.split() if w not in tuned)
    elif i > 0 and args[i - 1] == "-machine" and variant == "bare":
        a = a.split(",")[0]  # QEMU's q35 with its default devices
    out.append(a)
i = out.index("-initrd"); out[i + 1] = tmp + "/tiny.cpio.gz"
print("\n".join(out))
PY
done

if [ "${PROBES:-1}" = 0 ]; then
	skip_probes=1
fi
if [ -z "${skip_probes:-}" ]; then
	# Warm the caches: the initramfs, and the snapshot of this machine.
	"$bin/ktstr-boot" --kernel "$kernel" --topology "$topo" >"$tmp/warm.json" 2>"$tmp/warm.err"
	start=$(field "$tmp/warm.json" 'r["host"].get("start", "")')
	case "$start" in
	"restored "*) ;;
	*) echo "bench-boot: the warm-up run was not restored from a snapshot: $start $(field "$tmp/warm.json" 'r["host"].get("start_reason", "")')" >&2 ;;
	esac

	# probe MODE ARGS...: one probe job; process wall to $tmp/MODE, VM wall to
	# $tmp/MODE.vm, preparation to $tmp/MODE.prep.
	probe() {
		mode=$1
		shift
		t0=$(now)
		"$bin/ktstr-boot" --kernel "$kernel" --topology "$topo" "$@" >"$tmp/run.json" 2>/dev/null
		t1=$(now)
		echo "$t1 - $t0" | bc >>"$tmp/$mode"
		field "$tmp/run.json" 'r["timings"]["wall_s"]' >>"$tmp/$mode.vm"
		field "$tmp/run.json" 'r["timings"]["prepare_ms"]' >>"$tmp/$mode.prep"
		field "$tmp/run.json" 'r["outcome"] + " " + r["host"].get("start", "") + " " + r["host"].get("boot", "")' >>"$tmp/$mode.how"
	}
	for i in $(seq "$n"); do
		for variant in bare bare-tuned; do
			t0=$(now)
			tr '\n' '\0' <"$tmp/$variant.args" | xargs -0 sh -c '"$@" >/dev/null 2>&1' sh
			t1=$(now)
			echo "$t1 - $t0" | bc >>"$tmp/$variant"
			rm -f /dev/shm/ktstr-bench-*
		done
		probe warm
		probe pvh --no-snapshot
		probe bzimage --no-snapshot --boot bzimage
	done
	b=$(median <"$tmp/bare")
	echo "topology $topo, kernel $kernel, $n runs each (median), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	bt=$(median <"$tmp/bare-tuned")
	echo "bare qemu, bzImage, tiny init:         ${b} s (QEMU's default firmware, ktstr's kernel command line less its speed arguments)"
	echo "  the same with ktstr's firmware and arguments: ${bt} s ($(grep -A1 -x -- -bios "$tmp/bare-tuned.args" | tail -1 | xargs -r basename || true))"
	for m in warm pvh bzimage; do
		printf '%-38s %s s (VM %s s; %s)\n' "ktstr-boot probe job, $m:" "$(median <"$tmp/$m")" "$(median <"$tmp/$m.vm")" "$(sort "$tmp/$m.how" | uniq -c | sed 's/^ *//' | tr '\n' ';' | sed 's/;$//')"
	done
	echo "R1 warm snapshot / bare bzImage: $(ratio "$(median <"$tmp/warm")" "$b") (goal <= 0.25; VM wall alone $(ratio "$(median <"$tmp/warm.vm")" "$b"))"
	echo "R2 cold PVH / bare bzImage:      $(ratio "$(median <"$tmp/pvh")" "$b") (goal <= 0.65; VM wall alone $(ratio "$(median <"$tmp/pvh.vm")" "$b"))"
	echo "   booted bzImage / bare bzImage: $(ratio "$(median <"$tmp/bzimage")" "$b")"
	echo "   against the bare boot with ktstr's firmware and arguments: warm $(ratio "$(median <"$tmp/warm")" "$bt"), cold PVH $(ratio "$(median <"$tmp/pvh")" "$bt")"
	echo "P2 host-side preparation (warm snapshot): $(median <"$tmp/warm.prep") ms, booted: $(median <"$tmp/pvh.prep") ms (goal <= 20)"
fi

[ "${GAUNTLET:-1}" != 0 ] || exit 0

# The gauntlet, booted then restored: ktstr-topo | ktstr-boot | ktstr-verify
# on the same jobs.
scenarios=${SCENARIOS:-all}
duration="--duration ${DURATION:-3}"
[ "${DURATION:-}" != default ] || duration=
sweep() {
	name=$1
	shift
	t0=$(now)
	# shellcheck disable=SC2086 # TOPOS is a list
	"$bin/ktstr-topo" ${TOPOS:-1,1,2,1 1,2,2,1} |
		"$bin/ktstr-boot" --kernel "$kernel" --scenario "$scenarios" $duration "$@" 2>"$tmp/$name.err" |
		tee "$tmp/$name.runs" | "$bin/ktstr-verify" >"$tmp/$name.verdicts" 2>/dev/null || true
	t1=$(now)
	echo "$t1 - $t0" | bc >"$tmp/$name.wall"
}
# "before" is the harness before fast starts: every VM booted, from the
# bzImage, under QEMU's default firmware (BEFORE overrides, e.g.
# BEFORE=--no-snapshot for snapshots alone).
before=${BEFORE:---no-snapshot --boot bzimage --firmware seabios}
echo "G  before: ktstr-boot $before; after: ktstr-boot$( [ "${BASELINE:-0}" = 1 ] && echo " $before")"
# shellcheck disable=SC2086 # flags
sweep before $before
if [ "${BASELINE:-0}" = 1 ]; then
	# shellcheck disable=SC2086
	sweep after $before
else
	sweep after
fi
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
def load(name):
    runs, verdicts = [], {}
    for l in open(f"{tmp}/{name}.runs"):
        r = json.loads(l)
        if r.get("kind") == "run":
            runs.append(r)
    for l in open(f"{tmp}/{name}.verdicts"):
        v = json.loads(l)
        if v.get("kind") == "verdict":
            verdicts[v.get("subject") or v.get("run_id")] = v
    wall = float(open(f"{tmp}/{name}.wall").read())
    return runs, verdicts, wall
def subject(v):
    return v.get("subject", "")
b_runs, b_v, b_wall = load("before")
a_runs, a_v, a_wall = load("after")
for name, runs, wall in (("before", b_runs, b_wall), ("after", a_runs, a_wall)):
    starts = {}
    for r in runs:
        s = r["host"].get("start", "?").split(" ")[0]
        starts[s] = starts.get(s, 0) + 1
    vm = sum(r["timings"]["wall_s"] for r in runs)
    print(f"G  {name}: {len(runs)} runs in {wall:.0f} s = {len(runs) * 3600 / wall:.0f} runs/hour (VM time {vm:.0f} s; start: {starts})")
print(f"G  speed-up: {b_wall / a_wall:.2f}x")
def statuses(vs):
    return {k: v["status"] for k, v in vs.items()}
bs, as_ = statuses(b_v), statuses(a_v)
agree = [k for k in bs if as_.get(k) == bs[k]]
differ = sorted(k for k in set(bs) | set(as_) if bs.get(k) != as_.get(k))
count = lambda s: {st: list(s.values()).count(st) for st in sorted(set(s.values()))}
print(f"G  verdicts before: {count(bs)}; after: {count(as_)}; agree on {len(agree)} of {len(set(bs) | set(as_))}")
for k in differ:
    def why(vs):
        v = vs.get(k)
        if v is None:
            return "missing"
        bad = [c["name"] + ": " + c.get("detail", "")[:120] for c in v.get("checks", []) if c.get("status") not in ("pass", "skip")]
        return v["status"] + (" (" + "; ".join(bad) + ")" if bad else "")
    print(f"G  differ: {k}: before {why(b_v)}; after {why(a_v)}")
PY
