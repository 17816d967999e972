#!/bin/sh
# install-deps.sh checks for the host commands and libraries ktstr needs and,
# unless --check is given, installs the missing ones with apt-get. What is
# there is found the way the tools find it: commands on $PATH (command -v),
# libraries through pkg-config, files by path; never through dpkg, so the
# check is right on any distribution and only the install needs apt.
#
# Groups (a command may need several):
#   tools     go and make: building the tools into bin/
#   vm        QEMU: booting a VM (ktstr test, gauntlet, verifier, compare, shell)
#   shell     busybox: the guest's shell and --exec commands
#   hosts     GNU parallel and ssh: ktstr gauntlet --hosts
#   kernel    the kernel build toolchain (gcc, make, flex, bison, bc, pahole,
#             cpio, tar, xz, zstd, pkg-config, libelf, libcrypto, zlib,
#             libzstd) and clang/LLVM 19 for the kernel tree's sched_ext
#             schedulers: only where a kernel is built
#   source    Debian's linux-source-6.12 (/usr/src/linux-source-6.12.tar.xz),
#             checked on Debian only: elsewhere ktstr-kernel downloads the
#             release from kernel.org
#   payloads  hackbench and cyclictest (rt-tests), stress-ng, perf: the
#             benchmarks that scenarios run as payloads
#   bpf       bpftool and libbpf: rebuilding the committed BPF objects
#             (scripts/build-fixture.sh, scripts/build-probe.sh)
#   test      what the test suite adds: chromium (the HTML report test),
#             sshd and ssh-keygen (the gauntlet --hosts test's two "hosts"),
#             gpg and gpgv (the kernel download's signature test), jq (the
#             gauntlet workflow's summary test)
#   runtime   vm shell hosts kernel source payloads: what `scripts/ktstr
#             setup` installs
#   all       every group (the default): what `make test` installs
#
# Usage: scripts/install-deps.sh [--check] [GROUP...]
#
# --check prints what is missing and the command that installs it, and
# exits 2 if anything is. Without it, what is missing is installed with
# apt-get (through sudo when not root) and checked again; without apt-get
# (not Debian or Ubuntu) it prints what to install and exits 2. It is quiet
# when nothing is missing, so `make test` runs it every time.
set -eu

check=""
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
[ $# -gt 0 ] || set -- all

# The requirements: group, kind (cmd: a command on $PATH, `a|b` either one;
# sbin: the same, also looked for in /usr/sbin and /sbin, off a non-root
# $PATH; pc: a pkg-config module; src: a file, on Debian only), what, and
# the Debian package that provides it (- for none: installed by hand).
# `a+b` in an alternative needs both: the kernel build names LLVM's tools
# all with clang's suffix or all without (lib/host/kernel clangArgs), so
# clang-19 beside an unsuffixed llvm-ar from another LLVM is not a toolchain.
reqs='tools cmd go -
tools cmd make make
vm cmd qemu-system-x86_64 qemu-system-x86
shell cmd busybox busybox-static
hosts cmd parallel parallel
hosts cmd ssh openssh-client
kernel cmd gcc build-essential
kernel cmd make make
kernel cmd flex flex
kernel cmd bison bison
kernel cmd bc bc
kernel cmd pahole dwarves
kernel cmd cpio cpio
kernel cmd tar tar
kernel cmd xz xz-utils
kernel cmd zstd zstd
kernel cmd pkg-config pkg-config
kernel pc libelf libelf-dev
kernel pc libcrypto libssl-dev
kernel pc zlib zlib1g-dev
kernel pc libzstd libzstd-dev
kernel cmd clang-19|clang clang-19
kernel cmd llvm-ar-19|clang+llvm-ar llvm-19
kernel cmd ld.lld-19|ld.lld lld-19
source src /usr/src/linux-source-6.12.tar.xz linux-source-6.12
payloads cmd hackbench rt-tests
payloads cmd cyclictest rt-tests
payloads cmd stress-ng stress-ng
payloads cmd perf linux-perf
bpf sbin bpftool bpftool
bpf pc libbpf libbpf-dev
test cmd chromium chromium
test sbin sshd openssh-server
test cmd ssh-keygen openssh-client
test cmd gpg gnupg
test cmd gpgv gpgv
test cmd jq jq'

groups=""
for g in "$@"; do
	case "$g" in
	runtime) groups="$groups vm shell hosts kernel source payloads" ;;
	all) groups="$groups tools vm shell hosts kernel source payloads bpf test" ;;
	tools | vm | shell | hosts | kernel | source | payloads | bpf | test) groups="$groups $g" ;;
	*)
		echo "install-deps: unknown group $g (tools, vm, shell, hosts, kernel, source, payloads, bpf, test, runtime, all)" >&2
		exit 2
		;;
	esac
done

debian=""
if command -v apt-get >/dev/null 2>&1; then
	debian=1
fi

# all_of KIND A+B: whether every command of one alternative is there.
all_of() {
	old_ifs2=$IFS
	IFS='+'
	for c in $2; do
		IFS=$old_ifs2
		command -v "$c" >/dev/null 2>&1 && continue
		[ "$1" = sbin ] && { [ -x "/usr/sbin/$c" ] || [ -x "/sbin/$c" ]; } && continue
		return 1
	done
	IFS=$old_ifs2
	return 0
}

# present KIND WHAT: whether the requirement is met on this host.
present() {
	case "$1" in
	cmd | sbin)
		old_ifs=$IFS
		IFS='|'
		for alt in $2; do
			IFS=$old_ifs
			all_of "$1" "$alt" && return 0
		done
		IFS=$old_ifs
		return 1
		;;
	pc) command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$2" ;;
	src) [ -z "$debian" ] || [ -e "$2" ] ;;
	esac
}

# missing sets $names (what is missing, as the tools name it), $pkgs (their
# Debian packages, each once) and $manual (what no package installs).
missing() {
	names="" pkgs="" manual=""
	while read -r group kind what pkg; do
		case " $groups " in *" $group "*) ;; *) continue ;; esac
		present "$kind" "$what" && continue
		case "$kind $what" in
		pc*) label="$what (pkg-config)" ;;
		*"|"*) label="${what%%|*} or ${what#*|}" ;;
		*) label=$what ;;
		esac
		case " $names " in *" $label "*) continue ;; esac
		names="${names:+$names, }$label"
		if [ "$pkg" = - ]; then
			manual="$manual $what"
		else
			case " $pkgs " in *" $pkg "*) ;; *) pkgs="${pkgs:+$pkgs }$pkg" ;; esac
		fi
	done <<EOF
$reqs
EOF
}

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo "

# advise prints what is missing and how to install it.
advise() {
	echo "ktstr: missing: $names" >&2
	if [ -n "$pkgs" ] && [ -n "$debian" ]; then
		echo "ktstr: install with: ${sudo}apt-get install $pkgs (or: scripts/ktstr setup)" >&2
	elif [ -n "$pkgs" ]; then
		echo "ktstr: install them with this system's package manager (Debian's packages: $pkgs)" >&2
	fi
	case " $manual " in *" go "*) echo "ktstr: go: install Go, the release go.mod names or later, and put it on \$PATH" >&2 ;; esac
}

missing
[ -n "$names" ] || exit 0
if [ -n "$check" ] || [ -z "$debian" ] || [ -z "$pkgs" ]; then
	advise
	exit 2
fi

echo "install-deps: installing $pkgs" >&2
# apt's package lists may be absent on a fresh machine; refresh once.
# shellcheck disable=SC2086
${sudo}apt-get update -qq >/dev/null
# shellcheck disable=SC2086
${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
missing
if [ -n "$names" ]; then
	echo "install-deps: still missing after apt-get install: $names" >&2
	[ -z "$manual" ] || advise
	exit 1
fi
echo "install-deps: done" >&2
