# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shell helpers for the benchmarks in scripts/bench/: sourced, not run.  The
# sourcing script runs under `set -euo pipefail` and defines log MESSAGE...
# (to stderr).  Waits are bounded polls, never fixed sleeps.

now() { date +%s.%N; }

# wait_mounted MP [SECONDS]: polls (every 0.1 s) until MP is a mount point;
# non-zero if it is not one after SECONDS (default 10).
wait_mounted()
{
	local mp=$1 i
	for i in $(seq $((${2:-10} * 10))); do
		mountpoint -q "$mp" && return 0
		[ "$i" -eq 1 ] || sleep 0.1
	done
	mountpoint -q "$mp"
}

# fuse_unmount MP: unmounts the FUSE mount at MP (if mounted) and waits, at
# most 5 s, for it to go: the daemons exit asynchronously.
fuse_unmount()
{
	local mp=$1 _
	mountpoint -q "$mp" || return 0
	fusermount3 -u "$mp" 2>/dev/null || fusermount -u "$mp" 2>/dev/null ||
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
	for _ in $(seq 50); do
		mountpoint -q "$mp" || return 0
		sleep 0.1
	done
	log "could not unmount $mp"
	return 1
}

# fuse_daemon_pid MP: prints the pid of the daemon serving the FUSE mount at
# MP (an absolute path): a process that names MP on its command line and
# holds /dev/fuse open.  Non-zero if there is none.
fuse_daemon_pid()
{
	local mp=$1 p a
	for p in $(pgrep -f -- "$mp"); do
		# The whole argument, not a prefix of another mount point.
		while IFS= read -r -d '' a; do
			[ "$a" = "$mp" ] || continue
			if find "/proc/$p/fd" -lname /dev/fuse 2>/dev/null | grep -q .; then
				echo "$p"
				return 0
			fi
		done <"/proc/$p/cmdline" 2>/dev/null
	done
	return 1
}

# vm_kib PID FIELD: FIELD (VmHWM, VmRSS) of /proc/PID/status, in KiB.
vm_kib()
{
	awk -v f="$2:" '$1 == f { print $2; found = 1 } END { exit !found }' "/proc/$1/status"
}

# hwm_reset PID: sets PID's VmHWM back to its current RSS (clear_refs 5,
# Linux 4.0+), so a later VmHWM is the peak of what came after.
hwm_reset() { echo 5 >"/proc/$1/clear_refs"; }

# stats V...: "min median max" of the numbers V (the median of an even count
# is the mean of the middle two); "- - -" if there are none.
stats()
{
	printf '%s\n' "$@" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) { print "- - -"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print v[1], m, v[NR] }'
}

# num V: V with about three significant digits (1234, 123, 12.3, 1.23).
num()
{
	awk -v v="$1" 'BEGIN { a = v < 0 ? -v : v
		printf(a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", v) }'
}
