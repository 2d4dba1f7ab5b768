#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Memory benchmark (issue #10): the mount daemon's peak RSS (VmHWM) while a
# tree is written into the mount and published, optionally against an older
# sealsync binary, min / median / max over several runs.  Not part of `make
# test`; needs FUSE (root or fusermount3).
#
#   scripts/bench/memory.sh [--runs 3] [--files 20000] [--empty 100000]
#                           [--bin build/sealsync] [--bin-before PATH]
#                           [--workloads untar,empty] [--modes sync,nosync]
#                           [--workdir DIR] [--results FILE]
#
# Workloads, each into a freshly created region and mount:
#   untar   tar xf of scripts/bench/mount.sh's fixed subset of Debian's
#           linux-source (--files files, from the same cache), then
#           `sealsync sync` (everything committed and uploaded)
#   empty   --empty empty files, 1000 per directory (touch through xargs),
#           then `sealsync sync`
# Modes: sync (the default mount, publishing to the embedded file:// store
# on the same disk); nosync (`mount --no-sync`: the encrypted mount alone).
# Measured: the daemon's VmHWM (peak resident set) from /proc/PID/status
# after `sync` returned, and its VmRSS at that point.  The daemon's pid is
# the first line of the region's lock file.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

runs=3
files=20000
empty=100000
bin=$repo/build/sealsync
bin_before=
workloads=untar,empty
modes=sync,nosync
workdir=$repo/build-bench
results=

usage()
{
	sed -n '8,11p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?}; shift 2 ;;
	--files) files=${2:?}; shift 2 ;;
	--empty) empty=${2:?}; shift 2 ;;
	--bin) bin=${2:?}; shift 2 ;;
	--bin-before) bin_before=${2:?}; shift 2 ;;
	--workloads) workloads=${2:?}; shift 2 ;;
	--modes) modes=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--results) results=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "memory.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
done

case $runs in '' | *[!0-9]* | 0) echo "memory.sh: bad --runs: $runs" >&2; exit 2 ;; esac
case $empty in '' | *[!0-9]* | 0) echo "memory.sh: bad --empty: $empty" >&2; exit 2 ;; esac
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ -n "$bin_before" ]; then
	case $bin_before in /*) ;; *) bin_before=$PWD/$bin_before ;; esac
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
run=$workdir/run-memory
[ -n "$results" ] || results=$workdir/memory-$(date +%Y%m%d-%H%M%S).md
IFS=, read -r -a wl_list <<<"$workloads"
IFS=, read -r -a mode_list <<<"$modes"
bins=(after)
[ -z "$bin_before" ] || bins=(before after)

log() { echo "memory.sh: $*" >&2; }

mnt=
cur_bin=
cleanup()
{
	if [ -n "$mnt" ] && mountpoint -q "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	fi
	rm -rf "$run" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

subset=
for wl in "${wl_list[@]}"; do
	[ "$wl" = untar ] || continue
	subset=$("$repo/scripts/bench/mount.sh" --size 1M --files "$files" \
		--workdir "$workdir" --prepare-only)
done

ss() { env SEALSYNC_HOME="$run/home" SEALSYNC_PASSPHRASE=x "$cur_bin" "$@"; }

# make_empty DIR N: N empty files, 1000 per directory.
make_empty()
{
	local d=$1 n=$2 i=0 k
	while [ "$i" -lt "$n" ]; do
		k=$((n - i))
		[ "$k" -le 1000 ] || k=1000
		mkdir "$d/d$i"
		(cd "$d/d$i" && seq -f 'f%.0f' 1 "$k" | xargs touch)
		i=$((i + k))
	done
}

# one_run BINNAME WORKLOAD MODE: prints "hwm_kib rss_kib seconds".
one_run()
{
	local which=$1 wl=$2 mode=$3 opt=() pid t0 t1 hwm rss
	if [ "$which" = before ]; then cur_bin=$bin_before; else cur_bin=$bin; fi
	rm -rf "$run"
	mkdir -p "$run/mnt"
	ss init --kdf interactive >/dev/null
	ss create bench >/dev/null
	[ "$mode" = sync ] || opt=(--no-sync)
	mnt=$run/mnt
	ss mount bench "$mnt" "${opt[@]}"
	pid=$(head -n1 "$run"/home/regions/*/lock)
	t0=$(date +%s.%N)
	case $wl in
	untar) tar xf "$subset" -C "$mnt" ;;
	empty) make_empty "$mnt" "$empty" ;;
	esac
	[ "$mode" = sync ] && ss sync bench >/dev/null
	t1=$(date +%s.%N)
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	ss umount "$mnt" >/dev/null 2>&1 || fusermount3 -u "$mnt"
	local _
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	mnt=
	echo "$hwm $rss $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}

# stats V...: "min / median / max" in MiB of KiB values.
stats()
{
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.0f / %.0f / %.0f", v[1] / 1024, v[int((NR + 1) / 2)] / 1024, v[NR] / 1024 }'
}

declare -A hwms rsss secs
for r in $(seq "$runs"); do
	for wl in "${wl_list[@]}"; do
		for mode in "${mode_list[@]}"; do
			for which in "${bins[@]}"; do
				one_run "$which" "$wl" "$mode" >"$workdir/memory-run.out"
				read -r h s t <"$workdir/memory-run.out"
				log "run $r $wl $mode $which: VmHWM $((h / 1024)) MiB, VmRSS $((s / 1024)) MiB, $t s"
				hwms[$wl,$mode,$which]+=" $h"
				rsss[$wl,$mode,$which]+=" $s"
				secs[$wl,$mode,$which]+=" $t"
			done
		done
	done
done

nfiles() { case $1 in untar) echo "$files (linux-source subset)" ;; empty) echo "$empty empty" ;; esac; }
{
	echo "# sealsync daemon memory, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# host: $(uname -srm), $(nproc) CPU, $(free -g | awk '/Mem:/ { print $2 }') GiB RAM; $runs runs"
	echo "# after: $bin ($("$bin" --version 2>&1 | head -n1))"
	[ -z "$bin_before" ] || echo "# before: $bin_before ($("$bin_before" --version 2>&1 | head -n1))"
	echo "# MiB, min / median / max; peak = VmHWM after the workload and \`sealsync sync\`"
	echo
	echo "| workload | files | mode | binary | peak RSS (MiB) | RSS at end (MiB) | seconds |"
	echo "|---|--:|---|---|--:|--:|--:|"
	for wl in "${wl_list[@]}"; do
		for mode in "${mode_list[@]}"; do
			for which in "${bins[@]}"; do
				# shellcheck disable=SC2086 # the lists are words
				echo "| $wl | $(nfiles "$wl") | $mode | $which | $(stats ${hwms[$wl,$mode,$which]}) |" \
					"$(stats ${rsss[$wl,$mode,$which]}) |" \
					"$(printf '%s\n' ${secs[$wl,$mode,$which]} | sort -n | awk '{ v[NR] = $1 } END { printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }') |"
			done
		done
	done
} | tee "$results"
echo
echo "results written to $results"
