#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Small-write benchmark (issue #10): 4 KiB writes into the mount, sealsync
# against gocryptfs, and optionally against an older sealsync binary, in one
# run, on the same disk.  Not part of `make test`; needs FUSE (root or
# fusermount3) and gocryptfs.
#
#   scripts/bench/smallwrite.sh [--runs 5] [--count 50000] [--bin build/sealsync]
#                               [--bin-before PATH] [--workdir DIR] [--results FILE]
#                               [--systems gocryptfs,sealsync-local,sealsync]
#
# Every system is mounted at once, then the runs go round-robin (run 1 of
# every workload on every system, then run 2, ...), so a load that changes
# during the benchmark (a shared machine) falls on every system alike.  The
# file is removed and `sync` run before each run (not timed); MB/s = bytes /
# wall time.  Beside it, the file system daemon's CPU time per run (user +
# system, from /proc/PID/stat), which a loaded machine does not inflate as
# much as wall time.  Workloads:
#   dd      dd if=/dev/zero of=MNT/f bs=4k count=COUNT conv=fsync
#   stdio   python3 writing COUNT x 4096 bytes as 1000-byte records through
#           its default buffered writer (its buffer is st_blksize, 4 KiB on
#           both file systems, so the mount sees 4 KiB writes), then fsync
# Systems: gocryptfs (defaults); sealsync-local (`mount --no-sync`: the
# encrypted mount alone); sealsync (the default mount, publishing to a
# file:// store on the same disk).  With --bin-before, the same two sealsync
# mounts with that binary too (sealsync-before-local, sealsync-before), so a
# change is measured before and after under the same load.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

runs=5
count=50000
bin=$repo/build/sealsync
bin_before=
workdir=$repo/build-bench
systems=gocryptfs,sealsync-local,sealsync
results=

usage()
{
	sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?}; shift 2 ;;
	--count) count=${2:?}; shift 2 ;;
	--bin) bin=${2:?}; shift 2 ;;
	--bin-before) bin_before=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--systems) systems=${2:?}; shift 2 ;;
	--results) results=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "smallwrite.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
done

case $runs in '' | *[!0-9]* | 0) echo "smallwrite.sh: bad --runs: $runs" >&2; exit 2 ;; esac
case $count in '' | *[!0-9]* | 0) echo "smallwrite.sh: bad --count: $count" >&2; exit 2 ;; esac
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ -n "$bin_before" ]; then
	case $bin_before in /*) ;; *) bin_before=$PWD/$bin_before ;; esac
	systems=$systems,sealsync-before-local,sealsync-before
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
run=$workdir/run-smallwrite
[ -n "$results" ] || results=$workdir/smallwrite-$(date +%Y%m%d-%H%M%S).md
IFS=, read -r -a sys_list <<<"$systems"
bytes=$((count * 4096))

log() { echo "smallwrite.sh: $*" >&2; }
# shellcheck source=scripts/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # fuse_unmount

# ---------------------------------------------------------------- cleanup
mounted=() # mount points currently mounted by us


# shellcheck disable=SC2317 # invoked through the trap
cleanup()
{
	local mp
	for mp in "${mounted[@]}"; do
		fuse_unmount "$mp" || true
	done
	mounted=()
	rm -rf "$run" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------- systems
sys_bin()
{
	case $1 in
	sealsync-before*) echo "$bin_before" ;;
	*) echo "$bin" ;;
	esac
}

sys_available()
{
	case $1 in
	gocryptfs) command -v gocryptfs >/dev/null ;;
	sealsync*) [ -x "$(sys_bin "$1")" ] ;;
	*) return 1 ;;
	esac
}

sys_version()
{
	case $1 in
	gocryptfs) gocryptfs -version 2>&1 | head -n1 ;;
	sealsync*-local) echo "$("$(sys_bin "$1")" --version 2>&1 | head -n1), mount --no-sync" ;;
	sealsync*) echo "$("$(sys_bin "$1")" --version 2>&1 | head -n1), publishing to a file:// store on the same disk" ;;
	esac
}

sealsync_env()
{
	local b=$1 d=$2
	shift 2
	env SEALSYNC_HOME="$d/home" SEALSYNC_PASSPHRASE=x "$b" "$@"
}

sys_setup()
{
	local sys=$1 d=$2
	rm -rf "$d"
	mkdir -p "$d/mnt"
	case $sys in
	gocryptfs)
		# -scryptn 10: cheap KDF for a benchmark; irrelevant to throughput.
		mkdir -p "$d/cipher" && echo x >"$d/pass" &&
			gocryptfs -init -q -scryptn 10 -passfile "$d/pass" "$d/cipher" >/dev/null
		;;
	sealsync*)
		sealsync_env "$(sys_bin "$sys")" "$d" init --kdf interactive >/dev/null &&
			sealsync_env "$(sys_bin "$sys")" "$d" create bench >/dev/null
		;;
	esac
}

sys_mount()
{
	local sys=$1 d=$2
	case $sys in
	gocryptfs) gocryptfs -q -nosyslog -passfile "$d/pass" "$d/cipher" "$d/mnt" \
		>>"$d/gocryptfs.log" 2>&1 ;;
	sealsync*-local) sealsync_env "$(sys_bin "$sys")" "$d" mount bench "$d/mnt" --no-sync ;;
	sealsync*) sealsync_env "$(sys_bin "$sys")" "$d" mount bench "$d/mnt" ;;
	esac
	mountpoint -q "$d/mnt" || return 1
	mounted+=("$d/mnt")
}

sys_umount()
{
	local sys=$1 d=$2 rc=0 keep=() mp
	if [[ $sys == sealsync* ]] && mountpoint -q "$d/mnt"; then
		sealsync_env "$(sys_bin "$sys")" "$d" umount "$d/mnt" >/dev/null 2>&1 || rc=$?
	fi
	fuse_unmount "$d/mnt" || rc=1
	for mp in "${mounted[@]}"; do
		[ "$mp" = "$d/mnt" ] || keep+=("$mp")
	done
	mounted=("${keep[@]}")
	return $rc
}

# ---------------------------------------------------------------- workloads
workloads=(dd stdio)
declare -A samples # [sys,workload] = "MB/s MB/s ..."

# shellcheck disable=SC2016 # expanded by python, not the shell
stdio_py='
import os, sys
n = int(sys.argv[2]) * 4096
rec = bytes(999) + b"\n"
with open(sys.argv[1], "wb") as f:  # buffer: st_blksize
    for _ in range(n // len(rec)):
        f.write(rec)
    f.write(bytes(n % len(rec)))
    f.flush()
    os.fsync(f.fileno())
'

# one SYS WORKLOAD FILE: runs WORKLOAD once into FILE, prints MB/s.
one()
{
	local t0 t1
	t0=$(now)
	case $2 in
	dd) dd if=/dev/zero of="$3" bs=4k count="$count" conv=fsync status=none ;;
	stdio) python3 -c "$stdio_py" "$3" "$count" ;;
	esac
	t1=$(now)
	[ "$(stat -c %s "$3")" = "$bytes" ] || { log "$1: $2 wrote $(stat -c %s "$3") bytes, not $bytes"; return 1; }
	awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / (c - a) / 1e6 }'
}

declare -A cpu # [sys,workload] = "s s ..."
declare -A dpid
hz=$(getconf CLK_TCK)

# daemon_ticks SYS: user + system clock ticks of SYS's daemon so far.
daemon_ticks()
{
	awk '{ print $14 + $15 }' "/proc/${dpid[$1]}/stat" 2>/dev/null || echo 0
}

# run_once SYS WORKLOAD I: run I of WORKLOAD on SYS (mounted), into samples.
run_once()
{
	local sys=$1 w=$2 i=$3 d=$run/$1 v c0 c
	rm -f "$d/mnt/f"
	sync
	c0=$(daemon_ticks "$sys")
	v=$(one "$sys" "$w" "$d/mnt/f") || return 1
	c=$(awk -v a="$c0" -v b="$(daemon_ticks "$sys")" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
	samples[$sys,$w]="${samples[$sys,$w]:-} $v"
	cpu[$sys,$w]="${cpu[$sys,$w]:-} $c"
	log "$sys: $w run $i: $v MB/s, daemon CPU $c s"
}

# stats "V V V": min median max.
stats()
{
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %.1f %s\n", v[1], m, v[NR] }'
}

median() { stats "$1" | awk '{ print $2 }'; }

# ---------------------------------------------------------------- main
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$run"
mkdir -p "$run"
declare -A status
for sys in "${sys_list[@]}"; do
	if ! sys_available "$sys"; then
		status[$sys]=skip
		log "$sys: skipped (not installed / not built)"
		continue
	fi
	log "== $sys ($(sys_version "$sys"))"
	if sys_setup "$sys" "$run/$sys" && sys_mount "$sys" "$run/$sys"; then
		status[$sys]=ok
		dpid[$sys]=$(pgrep -f -- " $run/$sys/mnt" | head -n1)
	else
		status[$sys]=FAIL
		log "$sys: setup or mount failed"
	fi
done
for i in $(seq "$runs"); do
	for w in "${workloads[@]}"; do
		for sys in "${sys_list[@]}"; do
			[ "${status[$sys]}" = ok ] || continue
			run_once "$sys" "$w" "$i" || status[$sys]=FAIL
		done
	done
done
for sys in "${sys_list[@]}"; do
	[ "${status[$sys]}" != skip ] || continue
	rm -f "$run/$sys/mnt/f"
	sys_umount "$sys" "$run/$sys" || log "$sys: umount failed"
done

{
	echo "# Small writes, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(nproc) CPUs, load average at the start: $load0, at the end: $(cut -d' ' -f1-3 /proc/loadavg);" \
		"disk: $(findmnt -n -o FSTYPE,SOURCE -T "$workdir" | tr -s ' ')."
	echo "$runs runs each, $((bytes / 1048576)) MiB per run ($count x 4 KiB). MB/s (10^6 bytes/s): min / median / max; daemon CPU: median."
	echo
	for sys in "${sys_list[@]}"; do
		echo "- $sys: $(sys_available "$sys" && sys_version "$sys" || echo "not available")"
	done
	echo
	echo "| system | dd bs=4k conv=fsync | stdio 4 KiB writes + fsync | dd vs gocryptfs | stdio vs gocryptfs | daemon CPU s: dd | daemon CPU s: stdio |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	for sys in "${sys_list[@]}"; do
		if [ "${status[$sys]:-}" != ok ]; then
			echo "| $sys | ${status[$sys]:-skip} | | | | | |"
			continue
		fi
		row="| $sys"
		for w in "${workloads[@]}"; do
			row="$row | $(stats "${samples[$sys,$w]}" | awk '{ printf "%s / %s / %s", $1, $2, $3 }')"
		done
		for w in "${workloads[@]}"; do
			g=${samples[gocryptfs,$w]:-}
			if [ -n "$g" ]; then
				row="$row | $(awk -v a="$(median "${samples[$sys,$w]}")" -v b="$(median "$g")" \
					'BEGIN { printf "%.2f", a / b }')"
			else
				row="$row | -"
			fi
		done
		for w in "${workloads[@]}"; do
			row="$row | $(median "${cpu[$sys,$w]:-}")"
		done
		echo "$row |"
	done
} >"$results"
cat "$results"
log "results in $results"
