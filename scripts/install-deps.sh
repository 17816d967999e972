#!/bin/sh
# install-deps.sh installs, with apt, the host packages ktstr needs and that
# are missing: QEMU (the VM engine), the kernel build toolchain (flex, bison,
# bc, libelf, libssl, pahole for BTF, cpio, zstd), clang-19/llvm-19 for the
# kernel tree's sched_ext schedulers and the BPF fixture, and the Debian
# kernel source tarball linux-source-6.12 (a sched_ext-capable kernel),
# chromium, in which the ktstr-stats report test loads the HTML report, and
# GNU parallel and openssh-server: `ktstr gauntlet --hosts` hands shards to
# parallel over ssh, and its test runs two sshd "hosts" on localhost; and the
# benchmarks scenarios run as payloads (lib/payload): rt-tests (hackbench,
# cyclictest), stress-ng and linux-perf (perf bench sched).
#
# Usage: scripts/install-deps.sh          # installs what is missing
#        scripts/install-deps.sh --check  # lists what is missing, exit 1 if any
#
# It is idempotent and quiet when nothing is missing, so `make test` calls it
# every time.
set -eu

pkgs="qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev dwarves cpio zstd xz-utils
clang-19 llvm-19 lld-19 libbpf-dev libzstd-dev zlib1g-dev pkg-config linux-source-6.12 busybox-static bpftool
chromium parallel openssh-server rt-tests stress-ng linux-perf"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing packages:$missing" >&2
	exit 1
fi

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
# apt's package lists may be absent on a fresh machine; refresh once.
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done" >&2
