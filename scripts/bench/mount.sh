#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Mount benchmark (issues #2 and #10): sealsync against gocryptfs, securefs,
# bindfs (a bare FUSE passthrough: the cost of FUSE itself) and the plain
# directory, in one run, on the same disk.  Not part of `make test`; needs
# root (drop_caches, clear_refs, mounting) and the peers from
# `scripts/deps.sh --bench` (fio among them).
#
#   scripts/bench/mount.sh [--runs 3] [--size 512M] [--size-4k 128M]
#       [--files 21500] [--fio-runtime 10] [--bin build/sealsync]
#       [--systems plain,bindfs,gocryptfs,securefs,sealsync-local,sealsync]
#       [--workdir DIR] [--results FILE] [--prepare-only]
#
# Systems: plain (the directory itself, the reference); bindfs (-o
# big_writes); gocryptfs and securefs (their defaults, cheap KDFs);
# sealsync-local (`mount --no-sync`: the encrypted mount alone); sealsync
# (the default mount, publishing to its file:// store on the same disk).
#
# Every run mounts every system afresh, then takes the steps in order, each
# step on every system in turn (round-robin; the order of the systems turns
# by one from run to run), so a load that changes during the benchmark falls
# on every system alike.  Before every step: sync and drop_caches.  After
# every step on sealsync (publishing), `sealsync sync`, untimed, so that its
# uploads do not run into the next system's step.  Steps:
#   write      dd bs=1M conv=fsync of a --size random file (page-cached)  MB/s
#   read       dd bs=1M of that file to /dev/null, cold; then cmp         MB/s
#   dd4k       dd bs=4k conv=fsync of the file's first --size-4k          MB/s
#   randread   fio, 4 KiB random reads of the --size file, queue depth 1   IOPS
#              (psync), O_DIRECT where the file system accepts it (probed
#              per system), else buffered with caches dropped; every block
#              at most once, so it ends after --size or --fio-runtime seconds
#   randwrite  the same with random writes, the final fsync included      IOPS
#   untar      tar xf of a fixed --files subset of Debian's linux-source,
#              then sync                                                  s
#   ls-lR      ls -lR of the tree, cold                                   s
#   readall    cat of every file of the tree, cold                        s
#   rm-rf      rm -rf of the tree, then sync                              s
#   peak RSS   the FUSE daemon's VmHWM (/proc/PID/status) after the run's
#              steps, reset (clear_refs) once mounted: the work's peak,
#              without the mount-time unlock                              MiB
# Each result is min / median / max over the runs, with its median over
# gocryptfs's; for sealsync (default mount) issue #10's bars, PASS or FAIL
# from the medians.  The table goes to stdout and, as Markdown, to --results
# (default WORKDIR/results-DATE.md).  WORKDIR defaults to build-bench/.
#
# --prepare-only: build the inputs in WORKDIR/cache (the subset's tar, the
# random file), print the tar's path and exit; scripts/bench/memory.sh uses it.
# A system whose binary is missing is skipped with a note; a step that fails
# is FAIL in its cell and the run goes on (exit status 1 at the end).  If
# drop_caches is not permitted (or BENCH_NO_DROP_CACHES=1), FUSE systems are
# remounted before the cold steps instead, and the results say so.
# shellcheck disable=SC2317 # the step_* functions are called as step_$step
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
. "$repo/scripts/bench/lib.sh"

runs=3
size=512M
size4k=128M
files=21500
fio_runtime=10
bin=$repo/build/sealsync
workdir=$repo/build-bench
systems=plain,bindfs,gocryptfs,securefs,sealsync-local,sealsync
results=
prepare_only=0
step_timeout=3600
linux_tar=/usr/src/linux-source-6.1.tar.xz

usage()
{
	sed -n '3,/^set -euo pipefail/p' "$0" | sed '/^set -euo/d; /^# shellcheck/d; s/^# \{0,1\}//'
}

log() { echo "mount.sh: $*" >&2; }
die() { log "$*"; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--size-4k) size4k=${2:?}; shift 2 ;;
	--files) files=${2:?}; shift 2 ;;
	--fio-runtime) fio_runtime=${2:?}; shift 2 ;;
	--bin) bin=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--systems) systems=${2:?}; shift 2 ;;
	--results) results=${2:?}; shift 2 ;;
	--prepare-only) prepare_only=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) log "unknown option: $1"; usage >&2; exit 2 ;;
	esac
done

size_bytes=$(numfmt --from=iec "$size") || die "bad --size: $size"
size_mib=$((size_bytes / 1048576))
[ "$size_mib" -ge 1 ] || die "--size must be at least 1M"
size_bytes=$((size_mib * 1048576))
size4k_bytes=$(numfmt --from=iec "$size4k") || die "bad --size-4k: $size4k"
[ "$size4k_bytes" -le "$size_bytes" ] || size4k_bytes=$size_bytes
count4k=$((size4k_bytes / 4096))
[ "$count4k" -ge 1 ] || die "--size-4k must be at least 4K"
case $runs in '' | *[!0-9]* | 0) die "bad --runs: $runs" ;; esac
case $files in '' | *[!0-9]*) die "bad --files: $files" ;; esac
case $fio_runtime in '' | *[!0-9]* | 0) die "bad --fio-runtime: $fio_runtime" ;; esac
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd -P) # physical, as sealsync names its mount point
cache=$workdir/cache
run=$workdir/run
[ -n "$results" ] || results=$workdir/results-$(date +%Y%m%d-%H%M%S).md
IFS=, read -r -a sys_list <<<"$systems"

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

# BENCH_NO_DROP_CACHES=1 forces the remount fallback (to test it).
drop_method=drop_caches
[ -z "${BENCH_NO_DROP_CACHES:-}" ] || drop_method=remount
drop_caches()
{
	sync
	if [ "$drop_method" = drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && return 0
		drop_method=remount
		log "cannot write /proc/sys/vm/drop_caches: remounting FUSE systems instead"
	fi
	return 1
}

# ---------------------------------------------------------------- inputs
prepare_inputs()
{
	mkdir -p "$cache"
	src=$cache/random-$size_mib.bin
	if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != "$size_bytes" ]; then
		log "generating $size_mib MiB of random data in $src"
		dd if=/dev/urandom of="$src.tmp" bs=1M count="$size_mib" status=none
		mv "$src.tmp" "$src"
	fi

	subset=$cache/subset-$files.tar
	if [ -f "$subset" ]; then
		return 0
	fi
	if [ ! -f "$linux_tar" ]; then
		log "missing $linux_tar: run scripts/deps.sh --bench (package linux-source)"
		exit 1
	fi
	# A fixed subset: whole subtrees in this order, files sorted (C locale)
	# within each, cut at --files.  Same package version -> same subset.
	local trees="fs kernel mm net include arch/x86 drivers/net lib Documentation
		drivers/gpu sound tools"
	local top=linux-source-6.1 t
	if [ ! -f "$cache/linux/.extracted" ]; then
		log "extracting the chosen subtrees of $linux_tar (once)"
		rm -rf "$cache/linux"
		mkdir -p "$cache/linux"
		local members=()
		for t in $trees; do
			members+=("$top/$t")
		done
		tar xJf "$linux_tar" -C "$cache/linux" "${members[@]}"
		touch "$cache/linux/.extracted"
	fi
	(
		cd "$cache/linux/$top"
		for t in $trees; do
			find "$t" -type f | LC_ALL=C sort
		done | awk '!seen[$0]++' >"$cache/all.list"
	)
	# Not `| head`: under pipefail its SIGPIPE would fail the pipeline.
	sed -n "1,${files}p" "$cache/all.list" >"$cache/subset-$files.list"
	local n
	n=$(wc -l <"$cache/subset-$files.list")
	[ "$n" -eq "$files" ] || log "only $n files available (asked for $files)"
	log "writing $subset ($n files)"
	tar cf "$subset.tmp" -C "$cache/linux/$top" --no-recursion --sort=name \
		--owner=0 --group=0 --numeric-owner --mtime=@0 \
		-T "$cache/subset-$files.list" --transform 's,^,linux/,'
	mv "$subset.tmp" "$subset"
}

# ---------------------------------------------------------------- systems
# sys_setup SYS DIR: prepares SYS under DIR; sys_mount mounts it at DIR/mnt
# and resets its daemon's VmHWM; sys_umount unmounts it.  All return
# non-zero on failure.  Called in `if`s, where set -e is off: chain with &&.
sys_available()
{
	case $1 in
	plain) return 0 ;;
	bindfs | gocryptfs | securefs) command -v "$1" >/dev/null ;;
	sealsync | sealsync-local) [ -x "$bin" ] ;;
	*) return 1 ;;
	esac
}

sys_version()
{
	case $1 in
	plain) echo "$(findmnt -n -o FSTYPE -T "$workdir") on $(findmnt -n -o SOURCE -T "$workdir")" ;;
	bindfs) echo "$(bindfs --version 2>&1 | head -n1), -o big_writes" ;;
	gocryptfs) gocryptfs -version 2>&1 | head -n1 ;;
	securefs) echo "securefs $(dpkg-query -W -f='${Version}' securefs 2>/dev/null || echo '(version unknown)'), its default format" ;;
	sealsync) echo "$("$bin" --version 2>&1 | head -n1), publishing to a file:// store on the same disk" ;;
	sealsync-local) echo "$("$bin" --version 2>&1 | head -n1), mount --no-sync (the encrypted mount alone)" ;;
	esac
}

# sealsync_env DIR ARGS...: sealsync ARGS with DIR's home, under a timeout
# (and under the caller's `wrap` command, if it sets one).
wrap=()
sealsync_env()
{
	"${wrap[@]}" timeout "$step_timeout" \
		env SEALSYNC_HOME="$1/home" SEALSYNC_PASSPHRASE=x "$bin" "${@:2}"
}

sys_setup()
{
	local sys=$1 d=$2
	rm -rf "$d"
	mkdir -p "$d/mnt"
	case $sys in
	plain | bindfs) mkdir -p "$d/back" ;;
	# Cheap KDFs: the unlock is not what is measured.
	gocryptfs)
		mkdir -p "$d/cipher" && echo x >"$d/pass" &&
			gocryptfs -init -q -scryptn 10 -passfile "$d/pass" "$d/cipher" >/dev/null
		;;
	securefs)
		mkdir -p "$d/cipher" &&
			securefs create --pbkdf pkcs5-pbkdf2-hmac-sha256 --rounds 1000 --pass x \
				"$d/cipher" >"$d/securefs.log" 2>&1
		;;
	sealsync | sealsync-local)
		sealsync_env "$d" init --kdf interactive >/dev/null &&
			sealsync_env "$d" create bench >/dev/null
		;;
	esac
}

declare -A pid unlock_kib mount_kib hwm_kib # [SYS]

sys_mount()
{
	local sys=$1 d=$2 mp=$2/mnt
	case $sys in
	plain)
		rmdir "$mp" 2>/dev/null || true
		ln -sfn back "$mp"
		return 0
		;;
	# bindfs is built on libfuse 2: without big_writes it writes 4 KiB at a time.
	bindfs) bindfs -o big_writes "$d/back" "$mp" ;;
	# -nosyslog + a log file: the daemon's messages stay out of the table.
	gocryptfs) gocryptfs -q -nosyslog -passfile "$d/pass" "$d/cipher" "$mp" \
		>>"$d/gocryptfs.log" 2>&1 ;;
	securefs) securefs mount --background --pass x "$d/cipher" "$mp" >>"$d/securefs.log" 2>&1 ;;
	sealsync | sealsync-local)
		# GNU time, if installed, gives the `sealsync mount` process's
		# peak: the Argon2id unlock is done there, before the daemon forks.
		local opt=() wrap=()
		[ "$sys" = sealsync ] || opt=(--no-sync)
		[ ! -x /usr/bin/time ] || wrap=(/usr/bin/time -f %M -o "$d/unlock.kib")
		sealsync_env "$d" mount bench "$mp" "${opt[@]}" &&
			{ [ ! -s "$d/unlock.kib" ] || unlock_kib[$sys]+=" $(tail -n1 "$d/unlock.kib")"; }
		;;
	esac || return 1
	wait_mounted "$mp" || { log "$sys: $mp is not mounted"; return 1; }
	mounted+=("$mp")
	pid[$sys]=$(fuse_daemon_pid "$mp") || { log "$sys: no daemon found for $mp"; return 1; }
	mount_kib[$sys]+=" $(vm_kib "${pid[$sys]}" VmHWM)"
	hwm_reset "${pid[$sys]}" || log "$sys: cannot reset VmHWM: peak RSS includes the mount"
}

# hwm_take SYS: folds the daemon's VmHWM so far into this run's peak.
hwm_take()
{
	local v
	[ "$1" != plain ] || return 0
	v=$(vm_kib "${pid[$1]}" VmHWM) || return 1
	[ "${hwm_kib[$1]:-0}" -ge "$v" ] || hwm_kib[$1]=$v
}

sys_umount()
{
	local sys=$1 d=$2 rc=0 keep=() mp
	[ "$sys" = plain ] && return 0
	if [[ $sys == sealsync* ]] && mountpoint -q "$d/mnt"; then
		sealsync_env "$d" umount "$d/mnt" >/dev/null 2>&1 || rc=$?
	fi
	fuse_unmount "$d/mnt" || rc=1
	for mp in "${mounted[@]}"; do
		[ "$mp" = "$d/mnt" ] || keep+=("$mp")
	done
	mounted=("${keep[@]}")
	return "$rc"
}

# cold SYS: before a read step, caches dropped; without drop_caches, the
# system remounted instead (plain then reads warm).
cold()
{
	drop_caches && return 0
	[ "$1" != plain ] || return 0
	hwm_take "$1" && sys_umount "$1" "$run/$1" && sys_mount "$1" "$run/$1"
}

# odirect MNT: whether files in MNT are created, opened again for writing and
# for reading, and do 4 KiB I/O with O_DIRECT.
odirect()
{
	dd if=/dev/zero of="$1/.odirect" bs=4k count=1 oflag=direct status=none 2>/dev/null &&
		dd if=/dev/zero of="$1/.odirect" bs=4k count=1 oflag=direct conv=notrunc status=none 2>/dev/null &&
		dd if="$1/.odirect" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null
	local rc=$?
	rm -f "$1/.odirect"
	return "$rc"
}

# ---------------------------------------------------------------- steps
# step_STEP SYS MNT: one measurement, into val; before it, the caches are
# dropped (and the step's input read, so that it comes from memory).  They
# run in this shell, not in $(...): the remount fallback changes its state.
steps=(write read dd4k randread randwrite untar lslr readall rmrf)
declare -A direct # [SYS] = 1 or 0: fio with O_DIRECT, or buffered

# rate BYTES COMMAND...: runs COMMAND; val = BYTES / its wall time, MB/s.
rate()
{
	local b=$1 t0 t1
	shift
	t0=$(now)
	timeout "$step_timeout" "$@" || return 1
	t1=$(now)
	val=$(awk -v b="$b" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / (c - a) / 1e6 }')
}

# secs [--sync] COMMAND...: runs COMMAND (its output discarded), with
# --sync then `sync`; val = the seconds taken.
secs()
{
	local t0 t1 s=
	[ "$1" != --sync ] || { s=1; shift; }
	t0=$(now)
	timeout "$step_timeout" "$@" >/dev/null || return 1
	[ -z "$s" ] || sync
	t1=$(now)
	val=$(awk -v a="$t0" -v c="$t1" 'BEGIN { printf "%.2f", c - a }')
}

# fio_iops SYS FILE RW: fio RW (randread, randwrite) of 4 KiB blocks at
# queue depth 1 over the whole FILE (fio's random map: each block at most
# once), at most --fio-runtime s; val = IOPS.  Writes end with an fsync,
# which fio counts in the job's runtime.
fio_iops()
{
	local out=$run/fio.json efs=0
	[ "$3" = randread ] || efs=1
	timeout "$step_timeout" fio --name="$3" --filename="$2" --rw="$3" --bs=4k \
		--ioengine=psync --iodepth=1 --direct="${direct[$1]}" --size="$size_bytes" \
		--runtime="$fio_runtime" --end_fsync="$efs" \
		--output-format=json --output="$out" >&2 || return 1
	val=$(jq -er --arg k "${3#rand}" '.jobs[0] | select(.error == 0) | .[$k].iops' "$out")
}

step_write()
{
	drop_caches || true
	cat "$src" >/dev/null
	rate "$size_bytes" dd if="$src" of="$2/big" bs=1M conv=fsync status=none
}

step_read()
{
	cold "$1" || return 1
	rate "$size_bytes" dd if="$2/big" of=/dev/null bs=1M status=none || return 1
	cmp -s "$src" "$2/big" || { echo "read back differs from what was written" >&2; return 1; }
}

step_dd4k()
{
	drop_caches || true
	cat "$src" >/dev/null
	rate "$size4k_bytes" dd if="$src" of="$2/small" bs=4k count="$count4k" conv=fsync status=none &&
		{ [ "$(stat -c %s "$2/small")" = "$size4k_bytes" ] || { echo "wrote $(stat -c %s "$2/small") bytes" >&2; false; }; }
	local rc=$?
	rm -f "$2/small"
	return "$rc"
}

step_randread()
{
	cold "$1" || return 1
	fio_iops "$1" "$2/big" randread
}

step_randwrite()
{
	drop_caches || true
	fio_iops "$1" "$2/big" randwrite
	local rc=$?
	rm -f "$2/big"
	return "$rc"
}

step_untar()
{
	drop_caches || true
	cat "$subset" >/dev/null
	secs --sync tar xf "$subset" -C "$2"
}

step_lslr()
{
	cold "$1" || return 1
	secs ls -lR "$2/linux"
}

step_readall()
{
	cold "$1" || return 1
	secs find "$2/linux" -type f -exec cat {} +
}

step_rmrf()
{
	drop_caches || true
	secs --sync rm -rf "$2/linux" || return 1
	[ ! -e "$2/linux" ] || { echo "the tree is still there after rm -rf" >&2; return 1; }
}

# needs STEP: the step whose result STEP works on, if any.
needs()
{
	case $1 in
	read | randread | randwrite) echo write ;;
	lslr | readall | rmrf) echo untar ;;
	esac
}

declare -A samples fails why done_ok # [SYS,METRIC]

failed() # failed SYS METRIC REASON
{
	fails[$1,$2]=$((${fails[$1,$2]:-0} + 1))
	[ -n "${why[$1,$2]:-}" ] || why[$1,$2]=$3
	log "$1: $2 FAILED: $3"
}

# measure SYS STEP: STEP once on SYS, into samples (or fails).
measure()
{
	local sys=$1 step=$2 d=$run/$1 dep val="" t0 after=""
	dep=$(needs "$step")
	if [ -n "$dep" ] && [ -z "${done_ok[$sys,$dep]:-}" ]; then
		failed "$sys" "$step" "not run: $dep failed"
		return 0
	fi
	if ! "step_$step" "$sys" "$d/mnt" 2>"$run/stderr" || [ -z "$val" ]; then
		failed "$sys" "$step" "$(head -n1 "$run/stderr" | grep . || echo "exit status, no message")"
		sed 's/^/    /' "$run/stderr" | head -n 5 >&2
		return 0
	fi
	[ ! -s "$run/stderr" ] || sed 's/^/    /' "$run/stderr" >&2
	# Its uploads must not fall on the next system's step.
	if [ "$sys" = sealsync ]; then
		t0=$(now)
		if ! sealsync_env "$d" sync bench >/dev/null 2>"$run/stderr"; then
			failed "$sys" "$step" "sealsync sync after it: $(head -n1 "$run/stderr")"
			return 0
		fi
		after=" (then sealsync sync: $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s)"
	fi
	samples[$sys,$step]+=" $val"
	done_ok[$sys,$step]=1
	log "run $r: $sys: $step $(num "$val")$after"
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || log "not root: drop_caches will fail and FUSE mounts may too"
prepare_inputs
if [ "$prepare_only" = 1 ]; then
	trap - EXIT
	echo "$subset"
	exit 0
fi
command -v fio >/dev/null || die "fio is missing: scripts/deps.sh --bench"
command -v jq >/dev/null || die "jq is missing: scripts/deps.sh"
rm -rf "$run"
mkdir -p "$run"

declare -A note
active=()
for sys in "${sys_list[@]}"; do
	if sys_available "$sys"; then
		active+=("$sys")
		continue
	fi
	case $sys in
	sealsync | sealsync-local) note[$sys]="skipped: $bin not built (make)" ;;
	plain | bindfs | gocryptfs | securefs) note[$sys]="skipped: $sys not installed (scripts/deps.sh --bench)" ;;
	*) note[$sys]="skipped: unknown system" ;;
	esac
	log "${note[$sys]}"
done

[ ${#active[@]} -gt 0 ] || die "no system to run"
t_start=$(now)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$runs"); do
	# This run's order: the systems turned by one per run.
	k=$(((r - 1) % ${#active[@]}))
	order=("${active[@]:k}" "${active[@]:0:k}")
	log "== run $r of $runs: ${order[*]}"
	up=()
	done_ok=()
	hwm_kib=()
	for sys in "${order[@]}"; do
		if sys_setup "$sys" "$run/$sys" && sys_mount "$sys" "$run/$sys"; then
			up+=("$sys")
			if [ -z "${direct[$sys]:-}" ]; then
				direct[$sys]=0
				odirect "$run/$sys/mnt" && direct[$sys]=1
			fi
		else
			log "$sys: setup or mount failed: every cell of this run FAIL"
			sys_umount "$sys" "$run/$sys" >/dev/null 2>&1 || true
			for step in "${steps[@]}" rss; do
				failed "$sys" "$step" "setup or mount failed" 2>/dev/null
			done
		fi
	done
	for step in "${steps[@]}"; do
		for sys in "${up[@]}"; do
			measure "$sys" "$step"
		done
	done
	for sys in "${up[@]}"; do
		if [ "$sys" != plain ]; then
			if hwm_take "$sys"; then
				samples[$sys,rss]+=" $(awk -v k="${hwm_kib[$sys]}" 'BEGIN { printf "%.1f", k / 1024 }')"
			else
				failed "$sys" rss "the daemon is gone"
			fi
		fi
		sys_umount "$sys" "$run/$sys" || log "$sys: unmount failed"
		rm -rf "${run:?}/$sys"
	done
done
t_end=$(now)

# ---------------------------------------------------------------- report
nfiles=$(tar tf "$subset" | grep -vc '/$')
# Per metric: its label (unit, which is better), issue #10's bar for sealsync.
declare -A label bar
label[write]="write $size_mib MiB, dd bs=1M conv=fsync (MB/s, higher is better)"
label[read]="read $size_mib MiB cold, dd bs=1M (MB/s, higher is better)"
label[dd4k]="write $((size4k_bytes / 1048576)) MiB, dd bs=4k conv=fsync (MB/s, higher is better)"
label[randread]="fio 4 KiB random read, QD1 (IOPS, higher is better)"
label[randwrite]="fio 4 KiB random write, QD1, + fsync (IOPS, higher is better)"
label[untar]="untar $nfiles files, then sync (s, lower is better)"
label[lslr]="ls -lR, cold (s, lower is better)"
label[readall]="read all files, cold (s, lower is better)"
label[rmrf]="rm -rf, then sync (s, lower is better)"
label[rss]="daemon peak RSS after the work (MiB, lower is better)"
# ratio: sealsync's median over gocryptfs's, against the bound; abs: the value.
bar[write]="ratio >= 2"
bar[read]="ratio >= 1.2"
bar[dd4k]="ratio >= 1"
bar[randread]="ratio >= 1"
bar[randwrite]="ratio >= 1"
bar[untar]="ratio <= 1"
bar[lslr]="ratio <= 1"
bar[readall]="ratio <= 1"
bar[rmrf]="ratio <= 1"
bar[rss]="abs <= 64"

median() { stats "$@" | cut -d' ' -f2; }
short()
{
	case $1 in lslr) echo ls-lR ;; rmrf) echo rm-rf ;; rss) echo "peak RSS" ;; *) echo "$1" ;; esac
}
# mib KIB: KiB in MiB ("-" stays).
mib()
{
	if [ "$1" = - ]; then echo -; else num "$(awk -v k="$1" 'BEGIN { print k / 1024 }')"; fi
}

# bar_cell METRIC: "BAR: PASS|FAIL" for sealsync's row.
bar_cell()
{
	local m=$1 kind op bound v g want
	read -r kind op bound <<<"${bar[$m]}"
	if [ "$kind" = abs ]; then want="$op $bound MiB"; else want="$op ${bound}x gocryptfs"; fi
	# shellcheck disable=SC2086 # the samples are words
	v=$(median ${samples[sealsync,$m]:-})
	if [ "${fails[sealsync,$m]:-0}" -eq 0 ] && [ "$v" = - ]; then
		echo "$want: n/a (sealsync not run)"
		return
	fi
	if [ "${fails[sealsync,$m]:-0}" -gt 0 ]; then
		echo "$want: FAIL (step failed)"
		return
	fi
	if [ "$kind" = ratio ]; then
		# shellcheck disable=SC2086
		g=$(median ${samples[gocryptfs,$m]:-})
		[ "$g" != - ] || { echo "$want: n/a (no gocryptfs result)"; return; }
		v=$(awk -v a="$v" -v b="$g" 'BEGIN { print a / b }')
	fi
	if awk -v v="$v" -v op="$op" -v b="$bound" 'BEGIN { exit !(op == ">=" ? v >= b : v <= b) }'; then
		echo "$want: PASS"
	else
		echo "$want: FAIL"
	fi
}

# bars_summary: one line, how sealsync (default mount) fares against the bars.
bars_summary()
{
	if [ -n "${note[sealsync]:-}" ] || [[ ",$systems," != *,sealsync,* ]]; then
		echo "Issue #10 bars not checked: sealsync (default mount) ${note[sealsync]:-not in --systems}"
		return
	fi
	printf 'Issue #10 bars for sealsync (default mount): '
	for m in "${steps[@]}" rss; do
		printf '%s\t%s\n' "$(short "$m")" "$(bar_cell "$m")"
	done | awk -F'\t' '$2 ~ /: PASS$/ { p++ } $2 ~ /: FAIL/ { f++; fl = fl (fl ? ", " : "") $1 }
		$2 ~ /: n\/a/ { n++ }
		END { printf "%d PASS, %d FAIL%s, %d n/a\n", p, f, f ? " (" fl ")" : "", n }'
}

w1=0
for m in "${!label[@]}"; do
	[ "$w1" -ge "${#label[$m]}" ] || w1=${#label[$m]}
done
row() { printf "| %-${w1}s | %-14s | %9s | %9s | %9s | %7s | %-31s | %s |\n" "$@"; }

table()
{
	local m sys first s mn md mx ratio g n f notes b
	row metric system min median max "x gocfs" "issue #10 bar (sealsync)" notes
	row ":--" ":--" "--:" "--:" "--:" "--:" ":--" ":--"
	for m in "${steps[@]}" rss; do
		first=${label[$m]}
		for sys in "${active[@]}"; do
			[ "$m" != rss ] || [ "$sys" != plain ] || continue
			# shellcheck disable=SC2086 # the samples are words
			s=${samples[$sys,$m]:-}
			# shellcheck disable=SC2086
			read -r mn md mx <<<"$(stats $s)"
			n=$(wc -w <<<"$s")
			f=${fails[$sys,$m]:-0}
			notes=
			if [ "$f" -gt 0 ]; then
				notes="FAIL in $f of $runs runs: ${why[$sys,$m]}"
				[ "$n" -gt 0 ] || { mn=FAIL md=FAIL mx=FAIL; }
			fi
			case $m in randread | randwrite)
				if [ "${direct[$sys]:-}" = 1 ]; then notes="O_DIRECT${notes:+; $notes}"
				elif [ "${direct[$sys]:-}" = 0 ]; then notes="buffered (O_DIRECT refused)${notes:+; $notes}"; fi ;;
			esac
			ratio=-
			# shellcheck disable=SC2086
			g=$(median ${samples[gocryptfs,$m]:-})
			if [ "$n" -gt 0 ] && [ "$g" != - ]; then
				ratio=$(awk -v a="$md" -v b="$g" 'BEGIN { printf "%.2f", a / b }')
			fi
			b=
			[ "$sys" != sealsync ] || b=$(bar_cell "$m")
			[ "$n" -eq 0 ] || { mn=$(num "$mn") md=$(num "$md") mx=$(num "$mx"); }
			row "$first" "$sys" "$mn" "$md" "$mx" "$ratio" "$b" "$notes"
			first=
		done
	done
}

elapsed=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", (b - a) / 60 }')
{
	echo "# sealsync mount benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "- host: $(uname -srm), $(nproc) CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM;" \
		"load average at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg); runs: $runs, $elapsed min in all"
	echo "- workdir: $workdir ($(sys_version plain))"
	echo "- data: a $size_mib MiB random file; dd bs=4k: its first $((size4k_bytes / 1048576)) MiB; tree: $nfiles files" \
		"($(($(stat -c %s "$subset") / 1048576)) MiB of tar) from $(dpkg-query -W -f='${Package} ${Version}' linux-source-6.1 2>/dev/null || echo "$linux_tar")"
	echo "- fio: psync, iodepth 1, bs 4k, over the $size_mib MiB file, each block at most once, at most $fio_runtime s; O_DIRECT where the probe succeeded"
	if [ "$drop_method" = drop_caches ]; then
		echo "- caches: sync + drop_caches before every step"
	else
		echo "- caches: drop_caches not permitted; FUSE systems remounted before cold steps, plain read warm"
	fi
	for sys in "${sys_list[@]}"; do
		if [ -n "${note[$sys]:-}" ]; then
			echo "- $sys: ${note[$sys]}"
		else
			echo "- $sys: $(sys_version "$sys")"
		fi
	done
	echo "- peak RSS: VmHWM of the FUSE daemon after the run's steps, reset (clear_refs) once mounted;" \
		"VmHWM at the reset, median (MiB):$(for sys in "${active[@]}"; do
			# shellcheck disable=SC2086 # the samples are words
			[ -z "${mount_kib[$sys]:-}" ] || printf ' %s %s' "$sys" "$(mib "$(median ${mount_kib[$sys]})")"
		done)"
	if [ -n "${unlock_kib[sealsync]:-}${unlock_kib[sealsync-local]:-}" ]; then
		# shellcheck disable=SC2086
		echo "- sealsync's unlock (Argon2id, \`init --kdf interactive\`) runs in the \`sealsync mount\` process before it forks the daemon:" \
			"that process peaked at $(mib "$(median ${unlock_kib[sealsync]:-} ${unlock_kib[sealsync-local]:-})") MiB (median, GNU time); not in the daemon's VmHWM"
	fi
	echo "- MB/s: 10^6 bytes/s; x gocfs: the median over gocryptfs's median; issue #10's bars checked on sealsync's (default mount) medians"
	echo
	table
	echo
	bars_summary
} | tee "$results"
echo
echo "results written to $results"

rc=0
for sys in "${active[@]}"; do
	for m in "${steps[@]}" rss; do
		[ "${fails[$sys,$m]:-0}" -eq 0 ] || rc=1
	done
done
exit $rc
