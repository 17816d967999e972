# hogs.sh is sourced by the measuring scripts (fidelity.sh, gate-ab.sh,
# bench-icount.sh) to load the host: start_hogs K starts K spinning
# processes, optionally with a load-average sampler writing to $1's file
# every 10 s; stop_hogs kills them, and is safe to call twice. The caller
# sets its traps: trap stop_hogs EXIT; trap 'stop_hogs; exit 130' INT TERM.
# shellcheck shell=sh

hogs=""

# start_hogs K [LOADFILE]
start_hogs() {
	_k=0
	while [ "$_k" -lt "$1" ]; do
		sh -c 'while :; do :; done' &
		hogs="$hogs $!"
		_k=$((_k + 1))
	done
	if [ -n "${2:-}" ]; then
		(while :; do cut -d' ' -f1 /proc/loadavg >>"$2"; sleep 10; done) &
		hogs="$hogs $!"
	fi
}

stop_hogs() {
	# shellcheck disable=SC2086 # a list of pids
	[ -z "$hogs" ] || kill $hogs 2>/dev/null || true
	hogs=""
}

# load_summary LOADFILE prints the sampled load averages' range.
load_summary() {
	[ -s "$1" ] || return 0
	sort -n "$1" | awk '{a[NR]=$1} END {printf "load average (1 min, every 10 s): min %s, median %s, max %s\n", a[1], a[int((NR+1)/2)], a[NR]}'
}
