#!/bin/sh
# build-probe.sh compiles lib/guest/probe/src/probe.bpf.c into the committed
# lib/guest/probe/probe.bpf.o (clang-19, the UAPI and libbpf headers of
# linux-libc-dev and libbpf-dev; no kernel headers: every offset comes from
# BTF at load time), DWARF stripped, BTF kept.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
clang-19 -g -O2 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu \
	-c "$top/lib/guest/probe/src/probe.bpf.c" -o "$tmp/probe.bpf.o"
llvm-strip-19 -g "$tmp/probe.bpf.o" -o "$top/lib/guest/probe/probe.bpf.o"
echo "build-probe: wrote lib/guest/probe/probe.bpf.o" >&2
